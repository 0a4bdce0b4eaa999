"""Shared fixtures: the real images in ../shared/data and small exported models."""

from __future__ import annotations

from pathlib import Path

import pytest

from personcls.shared_data import data_root as _data_root

REPO = Path(__file__).resolve().parents[1]


def benchmark_script(name: str):
    """``benchmarks/<name>.py`` loaded as a module (the benchmarks folder is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def data_root() -> Path:
    """``$PERSONCLS_DATA`` or ../shared/data beside this checkout (``personcls.shared_data``)."""
    return _data_root(REPO)


def decode_all(path, step=1):
    """Every ``step``-th frame of a video (BGR), and the number of frames read."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    out = []
    i = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        if i % step == 0:
            out.append(img)
        i += 1
    cap.release()
    return out, i


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = data_root()
    if not (d / "demo").is_dir():
        pytest.skip(f"real test images not found at {d} (set PERSONCLS_DATA to the shared data folder)")
    return d


@pytest.fixture(scope="session")
def demo_dir(data_dir) -> Path:
    return data_dir / "demo"


@pytest.fixture(scope="session")
def random_model(tmp_path_factory) -> Path:
    """*A* model for the SDK tests, not the trained one: a tiny randomly initialised conv net
    saved as a complete model folder (Paddle program, OpenVINO IR, personcls.json) by
    tests/tiny_model.py, with Paddle and OpenVINO only (no training package)."""
    pytest.importorskip("paddle", reason="building the test model needs PaddlePaddle")
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", crop=224, resize_short=256, seed=0)


@pytest.fixture(scope="session")
def trained_like_model(data_dir, tmp_path_factory):
    """PPLCNet_x1_0 with ImageNet-derived weights (head cut to 2 classes): scores that vary
    between images, unlike a random network's ~0.5 everywhere."""
    weights = data_dir / "pretrained" / "PPLCNet_x1_0_textori_init.pdparams"
    if not weights.is_file():
        pytest.skip(f"{weights} not found: agreement needs a network whose scores vary between images")
    paddle = pytest.importorskip("paddle", reason="exporting a model needs PaddlePaddle")
    from personcls.modelfolder import ModelMeta
    from personcls.spec import PostprocessSpec, PreprocessSpec
    from personcls.training.export import export_model
    from personcls.training.models import build_model

    paddle.seed(0)
    state = paddle.load(str(weights))
    state["fc.weight"] = state["fc.weight"][:, :2]
    state["fc.bias"] = state["fc.bias"][:2]
    net = build_model("PPLCNet_x1_0", class_num=2)
    net.set_state_dict(state)
    meta = ModelMeta(arch="PPLCNet_x1_0", preprocess=PreprocessSpec(), postprocess=PostprocessSpec(),
                     provenance={"weights": weights.name + " (fc cut to 2 classes), for tests"})
    out = tmp_path_factory.mktemp("agreement") / "pplcnet_textori"
    # verify=False: export's own OpenVINO check compiles with the CPU's default precision (bf16
    # on CPUs that have it) and would then disagree by ~1e-3; fp32 agreement is checked below.
    return export_model(net, out, meta, verify=False)
