"""Shared fixtures: the real images in ../shared/data and small exported models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    env = os.environ.get("PERSONCLS_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data")


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
    """A randomly initialised PPLCNet_x1_0 exported by the project's own export code."""
    pytest.importorskip("paddle", reason="exporting a model needs PaddlePaddle")
    from personcls.training.export import export_random_model

    out = tmp_path_factory.mktemp("models") / "random_pplcnet"
    export_random_model(out, arch="PPLCNet_x1_0", crop=224, resize_short=256, seed=0)
    return out
