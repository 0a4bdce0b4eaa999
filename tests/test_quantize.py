"""INT8 post-training quantization of a model folder and the native engine running it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from personcls import InputError, ModelError
from personcls.backends import RuntimeOptions, available_backends
from personcls.classifier import Classifier

pytest.importorskip("nncf", reason="INT8 quantization needs nncf (personcls[quant])")
pytestmark = pytest.mark.skipif("native" not in available_backends(), reason="native engine not built")


@pytest.fixture(scope="module")
def int8_model(trained_like_model, data_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("int8") / "m"
    shutil.copytree(trained_like_model, d)
    p = subprocess.run([sys.executable, "-m", "personcls", "quantize", "-o", f"Global.inference_model_dir={d}",
                        "-o", f"Quant.calib_list={data_dir / 'vww' / 'train_list.txt'}", "-o", "Quant.subset_size=48",
                        "-o", "Quant.check_images=48"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "wrote" in p.stdout and "inference_int8.xml" in p.stdout
    return d


def test_quantize_records_the_int8_ir_and_its_agreement(int8_model):
    meta = json.loads((int8_model / "personcls.json").read_text())
    q = meta["files"]["openvino_int8"]
    assert (int8_model / q["xml"]).is_file() and (int8_model / q["bin"]).is_file()
    assert q["calibration_images"] == 48 and q["check_images"] == 48
    assert 0.0 <= q["max_abs_diff"] < 0.1
    assert q["decision_agreement"] >= 0.8


def test_native_int8_is_close_to_fp32_on_real_photos(int8_model, demo_dir):
    paths = sorted(str(p) for p in demo_dir.glob("*.jpg"))
    f32 = Classifier(int8_model, backend="native").predict(paths)
    i8 = Classifier(int8_model, backend="native", options=RuntimeOptions(cpu_precision="int8")).predict(paths)
    a = np.array([r.person_score for r in f32])
    b = np.array([r.person_score for r in i8])
    # Measured on this model (ImageNet-derived features, head cut to 2 classes): max 0.075,
    # mean 0.013 over the 14 photos.
    assert np.abs(a - b).max() < 0.12, (a, b)
    assert np.abs(a - b).mean() < 0.03, (a, b)
    assert not np.array_equal(a, b)  # really a different (quantized) network


def test_int8_without_a_quantized_ir_is_a_clear_error(trained_like_model, tmp_path):
    with pytest.raises(ModelError, match="personcls quantize"):
        Classifier(trained_like_model, backend="native", options=RuntimeOptions(cpu_precision="int8"))
    from personcls.quantize import read_list

    with pytest.raises(InputError, match="does not exist"):
        read_list(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(InputError, match="holds no images"):
        read_list(tmp_path / "empty.txt")
