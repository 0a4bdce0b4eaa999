"""Export a trained network as a personcls model folder.

Folder contents (see ``personcls.modelfolder``, which names the files and writes the folder)::

    inference.pdmodel / inference.pdiparams (+ .info)   legacy Paddle program, softmax appended
    inference.xml / inference.bin                        OpenVINO IR converted from that program
    personcls.json                                       ModelMeta: preprocessing, labels, provenance

Paddle 3 saves PIR programs (``inference.json``) by default; the legacy ``.pdmodel`` that
Paddle 2.6, Paddle Inference C++ and OpenVINO all read is produced inside
``paddle.pir_utils.OldIrGuard()`` (the runtime switch; ``paddle.set_flags(
{"FLAGS_enable_pir_api": False})`` after import does not change what ``jit.save`` writes).

Everything is written into a temporary sibling folder that is renamed into place at the end,
so a failed export leaves no half-written model folder behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

import numpy as np

from ..errors import ModelError
from ..modelfolder import (IR_XML, OPENVINO_ENTRY, PADDLE_ENTRY, PADDLE_PARAMS, PADDLE_PROGRAM, ModelMeta,
                           is_replaceable, provenance, recover_folder, staged_folder)
from ..spec import PostprocessSpec, PreprocessSpec


def _with_softmax(layer):
    import paddle

    class _Probabilities(paddle.nn.Layer):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return paddle.nn.functional.softmax(self.net(x), axis=-1)

    return _Probabilities(layer)


def _check_openvino(xml: Path, probs_ref: np.ndarray, x: np.ndarray, atol: float = 1e-4) -> float:
    import openvino as ov

    # f32 explicitly: on CPUs with bf16 support OpenVINO otherwise computes in bf16 (~3e-3 off)
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    out = np.asarray(compiled(x)[0])
    diff = float(np.abs(out - probs_ref).max())
    if not np.isfinite(diff) or diff > atol:
        raise ModelError(f"exported OpenVINO model disagrees with the Paddle network (max abs diff {diff:.3g})")
    return diff


def export_model(layer, out_dir: os.PathLike, meta: ModelMeta, openvino: bool = True, verify: bool = True) -> Path:
    """Save ``layer`` (logits out) + softmax as a personcls model folder at ``out_dir``.

    ``meta`` gives the architecture name, preprocessing (its crop fixes the input shape
    ``[-1, 3, h, w]``), labels/threshold and provenance; ``files`` and the version fields of
    ``provenance`` are filled in here. With ``verify`` the OpenVINO IR is run once on a random
    batch and compared with the Paddle layer. Returns the folder.
    """
    import paddle

    out = Path(out_dir).resolve()
    recover_folder(out)
    if not is_replaceable(out):
        raise ModelError(f"export target {out} exists and is not a personcls model folder; "
                         f"choose an empty or new folder")
    w, h = meta.preprocess.crop_size
    n_cls = meta.num_classes

    was_training = layer.training
    layer.eval()
    try:
        # written beside ``out`` and swapped in whole (the previous folder stays until then)
        with staged_folder(out, "export") as tmp:
            net = _with_softmax(layer)
            net.eval()
            rng = np.random.default_rng(0)
            x = rng.standard_normal((2, 3, h, w)).astype("float32")
            with paddle.no_grad():
                ref = net(paddle.to_tensor(x)).numpy()
            if ref.shape != (2, n_cls):
                raise ModelError(f"network outputs shape {list(ref.shape[1:])} per image but the metadata lists "
                                 f"{n_cls} labels {list(meta.postprocess.label_names)}")
            spec = [paddle.static.InputSpec(shape=[None, 3, h, w], dtype="float32", name=meta.input_name)]
            with paddle.pir_utils.OldIrGuard():
                static_net = paddle.jit.to_static(net, input_spec=spec, full_graph=True)
                paddle.jit.save(static_net, str(tmp / Path(PADDLE_PROGRAM).stem))
            if not (tmp / PADDLE_PROGRAM).is_file() or not (tmp / PADDLE_PARAMS).is_file():
                raise ModelError(f"paddle.jit.save did not write the legacy program ({sorted(os.listdir(tmp))}); "
                                 f"Paddle {paddle.__version__} may no longer support it")
            files: Dict[str, Dict[str, str]] = {"paddle": dict(PADDLE_ENTRY)}
            if openvino:
                import openvino as ov

                ov_model = ov.convert_model(str(tmp / PADDLE_PROGRAM))
                ov.save_model(ov_model, str(tmp / IR_XML), compress_to_fp16=False)
                files["openvino"] = dict(OPENVINO_ENTRY)
                if verify:
                    _check_openvino(tmp / IR_XML, ref, x)
            prov = provenance(meta.arch, runtimes=("paddle", "openvino") if openvino else ("paddle",),
                              extra=meta.provenance)
            final_meta = ModelMeta(arch=meta.arch, preprocess=meta.preprocess, postprocess=meta.postprocess,
                                   input_name=meta.input_name, output_is_probability=True, files=files,
                                   provenance=prov, metrics=dict(meta.metrics or {}))
            final_meta.save(tmp)
        return out
    finally:
        if was_training:
            layer.train()


def export_random_model(out_dir: os.PathLike, arch: str = "PPLCNet_x1_0", crop: int = 224,
                        resize_short: int = 256, seed: int = 0, **spec_kw) -> Path:
    """A randomly initialised (seeded, so reproducible) 2-class model folder, for tests."""
    import paddle

    from .models import build_model

    paddle.seed(int(seed))
    np.random.seed(int(seed))
    model = build_model(arch, class_num=2)
    pre = PreprocessSpec(resize_short=int(resize_short), crop_size=(int(crop), int(crop)), **spec_kw)
    meta = ModelMeta(arch=arch, preprocess=pre, postprocess=PostprocessSpec(),
                     provenance={"source": f"random initialisation (seed {seed}); not trained", "seed": int(seed)})
    return export_model(model, out_dir, meta)
