"""Damaged and inconsistent model folders, caller objects left alone, interrupted writes.

Each case is a copy of the shipped model folder with one thing wrong; each must be refused
with a ModelError naming what is wrong (never loaded and answered). docs/reliability.md lists
the cases and what each gets.
"""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from personcls import BackendError, ModelError
from personcls.backends import RuntimeOptions, available_backends
from personcls.classifier import Classifier
from personcls.modelfolder import META_FILE, ModelMeta, default_model_dir, file_sha256, replace_folder

BACKENDS = [b for b in ("native", "paddle") if b in available_backends()]
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no inference backend installed")


@pytest.fixture
def model(tmp_path):
    d = tmp_path / "m"
    shutil.copytree(default_model_dir(), d)
    return d


def _edit_meta(d, fn):
    p = d / META_FILE
    m = json.loads(p.read_text())
    fn(m)
    p.write_text(json.dumps(m))


def _flip_bytes(path, n=2000, seed=0):
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    for i in rng.choice(len(data), size=min(n, len(data)), replace=False):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_shipped_model_carries_checksums_of_every_file():
    meta = ModelMeta.load(default_model_dir())
    assert meta.format_version >= 2
    assert set(meta.checksums) == set(meta.model_files(default_model_dir()))
    assert {"inference.pdiparams", "inference.bin"} <= set(meta.checksums)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("victim", ["inference.bin", "inference.pdiparams", "inference_int8.bin"])
def test_flipped_bytes_in_a_model_file_are_refused(model, backend, victim):
    _flip_bytes(model / victim)
    with pytest.raises(ModelError, match=f"{victim}: checksum mismatch"):
        Classifier(model, backend=backend)


def test_missing_model_file_is_refused(model):
    (model / "inference_int8.xml").unlink()
    with pytest.raises(ModelError, match="inference_int8.xml: model file is missing"):
        Classifier(model, backend=BACKENDS[0])


def test_checksums_removed_by_hand_are_refused_and_old_folders_warned(model, caplog):
    _edit_meta(model, lambda m: m.pop("checksums"))
    with pytest.raises(ModelError, match="without 'checksums'"):
        Classifier(model, backend=BACKENDS[0])
    _edit_meta(model, lambda m: m.update(format_version=1))  # written before checksums existed
    with caplog.at_level(logging.WARNING, logger="personcls"):
        Classifier(model, backend=BACKENDS[0])
    assert "not verified" in caplog.text


def test_missing_threshold_is_not_defaulted(model):
    _edit_meta(model, lambda m: m["postprocess"].pop("threshold"))
    with pytest.raises(ModelError, match="no 'threshold'"):
        Classifier(model, backend=BACKENDS[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_metadata_input_size_must_be_the_models(model, backend):
    # both changed together, so the metadata is self-consistent but not this model's
    def to224(m):
        m["input"]["shape"] = [-1, 3, 224, 224]
        m["preprocess"].update(resize_short=256, crop_size=[224, 224])

    _edit_meta(model, to224)
    with pytest.raises(ModelError, match=r"model's input is .*metadata says \[N, 3, 224, 224\]"):
        Classifier(model, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_probability_flag_must_match_the_model_output(model, backend):
    _edit_meta(model, lambda m: m["output"].update(probability=False))
    with pytest.raises(ModelError, match="softmax would be applied twice"):
        Classifier(model, backend=backend)


@pytest.mark.parametrize("edit, match", [
    (lambda m: m["postprocess"].update(label_names=["a", "b", "c"]), "num_classes 2 disagrees"),
    (lambda m: (m["postprocess"].update(label_names=["a", "b", "c"]), m["output"].update(num_classes=3)),
     r"outputs (shape \[2\]|2 classes) per image.*metadata lists 3"),
    (lambda m: m["input"].update(shape=[-1, 1, 96, 96]), "has 1 channels"),
    (lambda m: m["output"].update(probability="yes"), "probability must be true or false"),
])
@pytest.mark.parametrize("backend", BACKENDS)
def test_metadata_against_the_model(model, edit, match, backend):
    _edit_meta(model, edit)
    with pytest.raises(ModelError, match=match):
        Classifier(model, backend=backend)


def test_classifier_does_not_write_into_the_callers_options():
    opts = RuntimeOptions()
    before = RuntimeOptions(**vars(opts))
    clf = Classifier(backend=BACKENDS[0], threads=1, options=opts)
    assert opts == before and clf.options is not opts and clf.options.cpu_threads == 1


def test_replace_folder_keeps_the_old_one_until_the_new_is_in_place(tmp_path):
    old, new = tmp_path / "m", tmp_path / ".m.new"
    old.mkdir()
    (old / "a").write_text("old")
    new.mkdir()
    (new / "a").write_text("new")
    replace_folder(new, old)
    assert (old / "a").read_text() == "new" and not new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


@pytest.mark.skipif("native" not in available_backends(), reason="quantize needs the native build")
def test_interrupted_quantize_leaves_the_previous_folder(model, demo_dir, monkeypatch):
    pytest.importorskip("nncf", reason="INT8 quantization needs nncf (personcls[quant])")
    import openvino as ov

    from personcls.quantize import quantize_model

    before = {p.name: file_sha256(p) for p in model.iterdir()}

    def killed(*a, **k):
        raise KeyboardInterrupt  # as if Ctrl-C arrived while the new IR was being written

    monkeypatch.setattr(ov, "save_model", killed)
    with pytest.raises(KeyboardInterrupt):
        quantize_model(model, [str(p) for p in sorted(demo_dir.glob("*.jpg"))][:4], subset_size=2, check_images=2)
    assert {p.name: file_sha256(p) for p in model.iterdir()} == before
    assert sorted(p.name for p in model.parent.iterdir()) == ["m"], "a temporary folder was left behind"
    Classifier(model, backend="native")  # still loads and verifies


def test_info_reports_the_machine_and_precisions(capsys):
    from personcls.cli import main

    assert main(["info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert "fp32" in info["cpu_precisions"] and info["machine"]["cpu"]
    assert "checksums" in info["model"], info["model"]
    assert info["backends"] == [b for b in info["backend_preference"]["cpu"] if b in info["backends"]]


def test_backend_error_is_not_a_model_error():
    # a refused precision is the runtime's, not the folder's
    assert not issubclass(BackendError, ModelError)


def test_folder_without_metadata_says_which_threshold_it_uses(model, caplog):
    from personcls import PreprocessSpec

    (model / META_FILE).unlink()
    pre = ModelMeta.load(default_model_dir()).preprocess
    assert isinstance(pre, PreprocessSpec)
    with caplog.at_level(logging.WARNING, logger="personcls"):
        c = Classifier(model, backend=BACKENDS[0], preprocess=pre)
    assert "has no personcls.json: deciding at P(someone) >= 0.5" in caplog.text
    assert c.postprocessor.threshold == 0.5
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="personcls"):
        assert Classifier(model, backend=BACKENDS[0], preprocess=pre, threshold=0.4).postprocessor.threshold == 0.4
    assert "deciding at" not in caplog.text


def test_interrupted_export_leaves_the_previous_folder(tmp_path, monkeypatch):
    paddle = pytest.importorskip("paddle", reason="export needs PaddlePaddle")
    from personcls.training.export import export_random_model

    out = tmp_path / "m"
    export_random_model(out, crop=32, resize_short=32, seed=0)
    before = {p.name: file_sha256(p) for p in out.iterdir()}

    def killed(*a, **k):
        raise KeyboardInterrupt  # as if Ctrl-C arrived while the new program was being written

    monkeypatch.setattr(paddle.jit, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        export_random_model(out, crop=32, resize_short=32, seed=1)
    assert {p.name: file_sha256(p) for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"], "a temporary folder was left behind"
    ModelMeta.load(out)
