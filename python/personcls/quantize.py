"""Post-training INT8 quantization of a model folder's OpenVINO IR (NNCF).

    personcls quantize -o Global.inference_model_dir=DIR -o Quant.calib_list=../shared/data/vww/train_list.txt

Calibration images go through the model's own preprocessing (personcls.json, the native
kernel), so the quantization ranges are those of deployment. The result is written beside
the float IR as ``inference_int8.xml/.bin`` and recorded in ``personcls.json``
(``files.openvino_int8``, with the agreement measured on held-out images; the names and the
record are :mod:`personcls.modelfolder`'s); the native engine uses it with ``RuntimeOptions(cpu_precision="int8")`` / ``-o Global.cpu_precision=int8``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from . import imageio
from .errors import BackendError, ConfigError, InputError, ModelError
from .backends import machine_info
from .modelfolder import INT8_ENTRY, INT8_XML, ModelMeta, openvino_files, recover_folder, staged_folder
from .spec import decide


def read_list(list_file: os.PathLike) -> List[str]:
    """Image paths of a PaddleClas list file (``path [label]``), relative to its folder."""
    return [p for p, _, _ in imageio.read_list_file(list_file)]



def quantize_model(model_dir: os.PathLike, images: Sequence[str], subset_size: int = 300, seed: int = 0,
                   check_images: int = 100, preset: str = "performance") -> Dict[str, float]:
    """Calibrate on ``subset_size`` of ``images``, write the INT8 IR, measure it on up to
    ``check_images`` others, and record it in the metadata. Returns the agreement figures."""
    try:
        import nncf
        import openvino as ov
    except ImportError as e:
        raise BackendError("INT8 quantization needs NNCF: pip install 'personcls[quant]'") from e
    from .preprocess import Preprocessor

    model_dir = Path(model_dir)
    recover_folder(model_dir)
    meta = ModelMeta.load(model_dir)
    try:
        xml = openvino_files(model_dir, meta, "ir").model
    except ModelError as e:
        raise ModelError(f"{model_dir} has no OpenVINO IR to quantize; export the model with personcls first ({e})") from e
    paths = list(images)
    rng = random.Random(seed)
    rng.shuffle(paths)
    calib, held = paths[:subset_size], paths[subset_size:subset_size + check_images]
    pre = Preprocessor(meta.preprocess)

    def frames(ps):
        out = []
        for p in ps:
            try:
                out.append(imageio.read_image(p))
            except InputError as e:
                print(f"personcls quantize: skipped {e}")
        return out

    calib_batches = [pre([f]) for f in frames(calib)]
    if not calib_batches:
        raise InputError("no readable calibration images")
    core = ov.Core()
    model = core.read_model(str(xml))
    # overflow_fix=ENABLE: weights use 7 of the 8 bits, so the u8 x s8 products cannot
    # saturate on CPUs without VNNI (AVX2 only). NNCF's default fixes only the first layer;
    # its IR then scored 0.10 mean / 0.49 max off fp32 on an AVX2 CPU against 0.03 / 0.13
    # with VNNI (shipped model, 100 vww images, docs/reliability.md); with the fix 0.03 / 0.13
    # on both.
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    qmodel = nncf.quantize(
        model, nncf.Dataset(calib_batches), subset_size=len(calib_batches),
        preset=nncf.QuantizationPreset.PERFORMANCE if preset == "performance" else nncf.QuantizationPreset.MIXED,
        advanced_parameters=AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE),
    )
    # Written into a copy of the folder that replaces it at the end: an interrupted run
    # leaves the previous folder (and its checksums) as they were.
    with staged_folder(model_dir, "quantize", copy_existing=True) as work:
        out_xml = work / INT8_ENTRY["xml"]
        ov.save_model(qmodel, str(out_xml), compress_to_fp16=False)

        # Agreement with the float model on images not used for calibration, on this CPU.
        check = frames(held) or frames(calib[:check_images])
        f32 = {"INFERENCE_PRECISION_HINT": "f32"}
        ref = core.compile_model(model, "CPU", f32)
        q = core.compile_model(core.read_model(str(out_xml)), "CPU", f32)
        batch = pre(check)
        a = np.asarray(ref(batch)[0])
        b = np.asarray(q(batch)[0])
        pos = meta.postprocess.positive_class
        thr = meta.postprocess.threshold
        figures = {
            "calibration_images": len(calib_batches),
            "check_images": len(check),
            "max_abs_diff": float(np.abs(a - b).max()),
            "mean_abs_diff": float(np.abs(a - b).mean()),
            "decision_agreement": float((decide(a[:, pos], thr) == decide(b[:, pos], thr)).mean()),
        }
        meta.record_int8_ir({**figures, "measured_on": machine_info(("personcls", "openvino", "nncf", "numpy",
                                                                      "opencv-python-headless"))})
        meta.save(work)
    return figures


def main_quantize(cfg: dict) -> int:
    from .inference_config import resolve

    q = cfg.get("Quant") or {}
    model_dir = resolve(cfg)["classifier"].get("model_dir")
    if not model_dir:
        raise ConfigError("set the model folder to quantize: -o Global.inference_model_dir=DIR")
    lst = q.get("calib_list")
    if not lst:
        raise ConfigError("set the calibration images: -o Quant.calib_list=path/to/list.txt")
    figs = quantize_model(model_dir, read_list(lst), subset_size=int(q.get("subset_size", 300)),
                          seed=int(q.get("seed", 0)), check_images=int(q.get("check_images", 100)))
    print(f"wrote {Path(model_dir) / INT8_XML}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                            for k, v in figs.items()))
    return 0
