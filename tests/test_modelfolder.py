"""personcls.modelfolder, the one place that finds a folder's files and writes personcls.json:
lookups by the names the metadata gives, the PIR-only and INT8 cases, the staged rewrite that
leaves the previous folder whole, and the compatibility wrapper over `personcls eval`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from personcls import Classifier, ModelError, default_model_dir
from personcls.modelfolder import (META_FILE, ModelMeta, openvino_files, paddle_files, provenance, staged_folder,
                                   store_threshold)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def shipped(tmp_path) -> Path:
    d = tmp_path / "model"
    shutil.copytree(default_model_dir(), d)
    return d


def test_default_names_and_formats(shipped):
    meta = ModelMeta.load(shipped)
    assert openvino_files(shipped, meta) == (shipped / "inference.xml", shipped / "inference.bin")
    assert openvino_files(shipped, meta, "paddle") == (shipped / "inference.pdmodel", shipped / "inference.pdiparams")
    assert paddle_files(shipped, meta) == (shipped / "inference.pdmodel", shipped / "inference.pdiparams")
    assert openvino_files(shipped, meta, int8_ir=True).model == shipped / "inference_int8.xml"
    with pytest.raises(ModelError, match="ONNX model .* is missing"):
        openvino_files(shipped, meta, "onnx")
    meta.files.pop("openvino_int8")
    with pytest.raises(ModelError, match="personcls quantize"):
        openvino_files(shipped, meta, int8_ir=True)


def test_files_named_by_the_metadata_are_the_ones_loaded(shipped):
    """A folder whose personcls.json names a differently called IR: the lookup and the native
    engine (given the resolved files) use that one, not a default name."""
    meta = ModelMeta.load(shipped)
    for ext in ("xml", "bin"):
        (shipped / f"inference.{ext}").rename(shipped / f"person.{ext}")
    meta.files["openvino"] = {"xml": "person.xml", "bin": "person.bin"}
    meta.save(shipped)
    assert openvino_files(shipped, ModelMeta.load(shipped)).model == shipped / "person.xml"
    with Classifier(shipped, backend="native") as clf:
        assert Path(clf.pipeline.engine.model_path).name == "person.xml"
        ref = Classifier(default_model_dir(), backend="native")
        frame = (ref.meta.preprocess.crop_size[1], ref.meta.preprocess.crop_size[0], 3)
        import numpy as np

        img = np.random.default_rng(0).integers(0, 255, frame, dtype=np.uint8)
        assert clf.predict(img).person_score == pytest.approx(ref.predict(img).person_score, abs=1e-6)


def test_pir_only_folder_is_named_for_openvino(tmp_path):
    d = tmp_path / "pir"
    d.mkdir()
    (d / "inference.json").write_text("{}")
    (d / "inference.pdiparams").write_bytes(b"x")
    assert paddle_files(d).model == d / "inference.json"
    with pytest.raises(ModelError, match="PIR program"):
        openvino_files(d)
    with pytest.raises(ModelError, match="does not exist"):
        openvino_files(tmp_path / "nowhere")


def test_staged_folder_keeps_the_previous_folder_on_failure(shipped):
    before = sorted(p.name for p in shipped.iterdir())
    with pytest.raises(RuntimeError):
        with staged_folder(shipped, "test", copy_existing=True) as work:
            (work / "inference.bin").write_bytes(b"damaged")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in shipped.iterdir()) == before
    assert [p.name for p in shipped.parent.iterdir()] == [shipped.name]  # no sibling left behind
    with pytest.raises(ModelError, match="checksum mismatch"):  # a staged folder must verify to replace
        with staged_folder(shipped, "test", copy_existing=True) as work:
            (work / "inference.bin").write_bytes(b"damaged")
    ModelMeta.load(shipped)  # still whole
    with staged_folder(shipped, "test", copy_existing=True) as work:
        store_threshold(work, 0.25, {"rule": "test"})
    meta = ModelMeta.load(shipped)
    assert meta.postprocess.threshold == 0.25 and meta.metrics["picked_threshold"]["rule"] == "test"


def test_rewriting_a_folder_keeps_the_users_files(shipped):
    """A fresh write (export) over an existing folder keeps what the module does not manage (a
    model card) and drops its own files that the new write did not produce."""
    (shipped / "MODEL_CARD.md").write_text("my notes")
    files = {p.name: p.read_bytes() for p in shipped.iterdir() if p.name != "MODEL_CARD.md"}
    (shipped / "inference.onnx").write_bytes(b"stale")  # a managed file the new write lacks
    with staged_folder(shipped, "test") as work:  # starts empty, as export does
        for name, data in files.items():
            (work / name).write_bytes(data)
    assert (shipped / "MODEL_CARD.md").read_text() == "my notes"
    assert not (shipped / "inference.onnx").exists()  # managed: not carried over
    ModelMeta.load(shipped)


def test_provenance_records_versions_and_keeps_given_fields():
    p = provenance("PPLCNet_x1_0", runtimes=("openvino",), extra={"source_checkpoint": "x.pdparams", "arch": "given"})
    assert p["openvino_version"] and p["personcls_version"] and p["date"]
    assert p["source_checkpoint"] == "x.pdparams" and p["arch"] == "given"


def test_finish_model_wrapper_is_personcls_eval(shipped, data_dir, tmp_path):
    """benchmarks/finish_model.py hands its arguments to `personcls eval` (the command that
    picks and stores the threshold)."""
    val = tmp_path / "val.txt"
    lines = (data_dir / "vww" / "val_list.txt").read_text().splitlines()
    val.write_text("\n".join(str((data_dir / "vww" / ln.split()[0]).resolve()) + " " + ln.split()[1]
                             for ln in lines[:8] + lines[-8:]) + "\n")
    out = tmp_path / "finish.json"
    p = subprocess.run([sys.executable, str(REPO / "benchmarks" / "finish_model.py"), str(shipped), "--val", str(val),
                        "--pick-threshold", "--json", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    rep = json.loads(out.read_text())["val"]
    assert rep["n"] == 16 and "picked" in rep
    meta = json.loads((shipped / META_FILE).read_text())
    assert meta["postprocess"]["threshold"] == pytest.approx(rep["picked"]["threshold"])
