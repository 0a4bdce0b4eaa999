"""A tiny model folder for the SDK tests that need *a* model, not the trained one.

A small conv net (two convolutions, ReLU, global average pool, linear, softmax; ~4.7k weights)
built from Paddle's own layers, saved with ``paddle.jit.save`` as the legacy program every
personcls export writes, converted to an OpenVINO IR with OpenVINO's Python API, and described
by a ``personcls.json`` that the model-folder module writes (file names, checksums,
provenance). No training package, no network definition of the project: the SDK tests depend on
the SDK, Paddle and OpenVINO only, and run real runtimes on real images.
"""

from __future__ import annotations

from pathlib import Path

from personcls.modelfolder import OPENVINO_ENTRY, PADDLE_ENTRY, ModelMeta, provenance
from personcls.spec import PostprocessSpec, PreprocessSpec

ARCH = "TinyConvNet (tests/tiny_model.py)"


def build_tiny_model(out: Path, crop: int = 224, resize_short: int = 256, seed: int = 0) -> Path:
    """Write the folder at ``out`` (seeded, so the same weights every time) and return it."""
    import openvino as ov
    import paddle
    import paddle.nn as nn

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paddle.seed(int(seed))
    net = nn.Sequential(nn.Conv2D(3, 16, 7, stride=4, padding=3), nn.ReLU(),
                        nn.Conv2D(16, 16, 3, stride=2, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2D(1), nn.Flatten(), nn.Linear(16, 2), nn.Softmax(axis=-1))
    net.eval()
    meta = ModelMeta(arch=ARCH, preprocess=PreprocessSpec(resize_short=resize_short, crop_size=(crop, crop)),
                     postprocess=PostprocessSpec(), output_is_probability=True,
                     files={"paddle": dict(PADDLE_ENTRY), "openvino": dict(OPENVINO_ENTRY)},
                     provenance=provenance(ARCH, ("paddle", "openvino"),
                                           {"source": f"random initialisation (seed {seed}); not trained"}))
    spec = [paddle.static.InputSpec(shape=[None, 3, crop, crop], dtype="float32", name=meta.input_name)]
    prefix = str(out / Path(PADDLE_ENTRY["program"]).stem)
    with paddle.pir_utils.OldIrGuard():  # the legacy .pdmodel program
        paddle.jit.save(paddle.jit.to_static(net, input_spec=spec, full_graph=True), prefix)
    ov.save_model(ov.convert_model(str(out / PADDLE_ENTRY["program"])), str(out / OPENVINO_ENTRY["xml"]),
                  compress_to_fp16=False)
    meta.save(out)
    return out
