"""`personcls predict` as a user runs it: the tutorial's lines, folders, bad files, overrides."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from test_sdk import LINE


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "personcls", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.fixture(scope="module")
def model(random_model):
    pytest.importorskip("paddle")
    return random_model


def test_predict_one_image_prints_the_tutorial_line(model, demo_dir):
    p = run("predict", "-o", f"Global.infer_imgs={demo_dir / 'objects365_02035329.jpg'}", "-o", "Global.use_gpu=False",
            "-o", f"Global.inference_model_dir={model}", "-o", "Global.backend=paddle")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1 and LINE.match(lines[0]), p.stdout
    assert lines[0].startswith("objects365_02035329.jpg:\t")


def test_folder_with_a_corrupt_file_still_prints_every_good_image(model, demo_dir, tmp_path):
    folder = tmp_path / "imgs"
    shutil.copytree(demo_dir, folder)
    (folder / "zz_corrupt.jpg").write_bytes((demo_dir / "owl.jpg").read_bytes()[:3000])
    (folder / "labels.txt").unlink()
    p = run("predict", "-o", f"Global.infer_imgs={folder}", "-o", f"Global.inference_model_dir={model}",
            "-o", "Global.batch_size=4", "-o", "Global.backend=paddle")
    assert p.returncode == 1
    good = sorted(x.name for x in demo_dir.glob("*.jpg"))
    lines = p.stdout.strip().splitlines()
    assert [l.split(":\t")[0] for l in lines] == good
    assert all(LINE.match(l) for l in lines)
    assert "zz_corrupt.jpg" in p.stderr and "truncated JPEG" in p.stderr
    assert "1 of 15 image(s) failed" in p.stderr


def test_unknown_key_suggests_the_closest(model):
    p = run("predict", "-o", "Global.infer_img=x.jpg")
    assert p.returncode == 2
    assert "unknown config key 'Global.infer_img'" in p.stderr
    assert "did you mean 'Global.infer_imgs'" in p.stderr


def test_a_misspelt_key_in_a_yaml_file_is_named(model, demo_dir, tmp_path):
    cfg = tmp_path / "infer.yaml"
    cfg.write_text(f"Global:\n  infer_imgs: {demo_dir / 'owl.jpg'}\n  inference_model_dir: {model}\n"
                   "  cpu_num_thread: 1\n  enable_benchmark: false\nPostProcess:\n  main_indicator: Topk\n")
    p = run("predict", "-c", str(cfg))
    assert p.returncode == 0, p.stderr
    assert "config key 'Global.cpu_num_thread' is not used; did you mean 'Global.cpu_num_threads'?" in p.stderr
    assert "config key 'Global.enable_benchmark' is not used" in p.stderr
    assert "PostProcess.main_indicator" not in p.stderr and "infer_imgs" not in p.stderr
    quiet = run("predict", "-o", f"Global.infer_imgs={demo_dir / 'owl.jpg'}", "-o", f"Global.inference_model_dir={model}")
    assert quiet.returncode == 0 and "not used" not in quiet.stderr  # the packaged config: every key is read


def test_values_are_typed_not_evaluated(model, demo_dir, tmp_path):
    marker = tmp_path / "pwned"
    p = run("predict", "-o", f"Global.infer_imgs={demo_dir / 'owl.jpg'}", "-o", f"Global.inference_model_dir={model}",
            "-o", f"Global.batch_size=__import__('os').mkdir('{marker}')")
    assert p.returncode != 0
    assert not marker.exists()


def test_missing_image_and_missing_model(model, tmp_path, demo_dir):
    p = run("predict", "-o", f"Global.infer_imgs={tmp_path / 'nope.jpg'}", "-o", f"Global.inference_model_dir={model}",
            "-o", "Global.backend=paddle")
    assert p.returncode == 1 and "nope.jpg: no such file" in p.stderr
    p = run("predict", "-o", f"Global.infer_imgs={demo_dir / 'owl.jpg'}", "-o", f"Global.inference_model_dir={tmp_path}/m")
    assert p.returncode == 2 and "does not exist" in p.stderr


def test_threshold_output_mode(model, demo_dir):
    p = run("predict", "-o", f"Global.infer_imgs={demo_dir / 'owl.jpg'}", "-o", f"Global.inference_model_dir={model}",
            "-o", "PostProcess.main_indicator=ThreshOutput", "-o", "PostProcess.ThreshOutput.threshold=0.0",
            "-o", "Global.backend=paddle")
    assert p.returncode == 0, p.stderr
    assert "class id(s): [1], score(s):" in p.stdout and "label_name(s): ['someone']" in p.stdout


# ----------------------------------------------------------------------------- issue 11: the CLI as a user meets it
# These use the shipped model on the default backend (no Paddle needed) and check formats and
# behaviour, not scores.
def test_version_has_one_source():
    from importlib.metadata import version

    import personcls

    p = run("--version")
    assert p.returncode == 0 and p.stdout.strip() == f"personcls {personcls.__version__}"
    assert version("personcls") == personcls.__version__


def test_yaml_list_of_images(demo_dir):
    p = run("predict", "-o", f"Global.infer_imgs=[{demo_dir / 'owl.jpg'}, {demo_dir / 'face.jpg'}]")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert [l.split(":\t")[0] for l in lines] == ["owl.jpg", "face.jpg"] and all(LINE.match(l) for l in lines)


def test_training_command_without_paddle_prints_an_install_hint(tmp_path):
    code = ("import sys; sys.modules['paddle'] = None\n"  # what `import paddle` meets without the extra
            "from personcls.cli import main; sys.exit(main(['train', '-c', 'PPLCNet_x1_0.yaml']))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "pip install 'personcls[train]'" in p.stderr and "Traceback" not in p.stderr


def test_json_reports_failures(demo_dir, tmp_path):
    p = run("predict", "--json", str(tmp_path / "nope.jpg"), str(demo_dir / "owl.jpg"))
    assert p.returncode == 1
    rows = [json.loads(l) for l in p.stdout.splitlines()]
    assert [r["name"] for r in rows] == ["nope.jpg", "owl.jpg"]
    assert "no such file" in rows[0]["error"] and rows[0]["someone"] is None
    assert rows[1]["error"] is None and rows[1]["someone"] in (True, False)


@pytest.mark.parametrize("args", [["info"], ["predict", "--json", "DEMO"]])
def test_closed_pipe_is_not_a_traceback(args, demo_dir):
    args = [str(demo_dir) if a == "DEMO" else a for a in args]
    p = subprocess.Popen([sys.executable, "-m", "personcls", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # `| head` that has gone away before personcls writes
    err = p.stderr.read().decode()
    p.wait(timeout=300)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert p.returncode == 141


def test_save_is_complete_when_the_reader_goes_away(demo_dir, tmp_path):
    import csv

    p = subprocess.Popen([sys.executable, "-m", "personcls", "predict", str(demo_dir), "--save", str(tmp_path / "r.csv")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=300) == 0 and "Traceback" not in err, err
    assert len(list(csv.DictReader(open(tmp_path / "r.csv")))) == len(list(demo_dir.glob("*.jpg")))


def test_sources_files_folders_globs_lists_recursion(demo_dir, tmp_path):
    root = tmp_path / "imgs"
    (root / "sub" / "deeper").mkdir(parents=True)
    shutil.copy(demo_dir / "owl.jpg", root / "a.jpg")
    shutil.copy(demo_dir / "face.jpg", root / "sub" / "b.jpg")
    shutil.copy(demo_dir / "bird.jpg", root / "sub" / "deeper" / "a.jpg")  # same file name, another folder
    (tmp_path / "list.txt").write_text("# comment\nimgs/sub/b.jpg\nimgs/a.jpg 1\n")
    names = lambda p: [l.split(":\t")[0] for l in p.stdout.strip().splitlines()]  # noqa: E731
    p = run("predict", str(root))
    assert p.returncode == 0 and names(p) == ["a.jpg"]
    assert "1 sub-folder(s) with images, not searched" in p.stderr and "--recursive" in p.stderr
    p = run("predict", str(root), "--recursive")
    assert names(p) == ["a.jpg", "sub/b.jpg", "sub/deeper/a.jpg"], p.stderr
    p = run("predict", "-o", f"Global.infer_imgs={root}", "-o", "Global.recursive=true")
    assert names(p) == ["a.jpg", "sub/b.jpg", "sub/deeper/a.jpg"], p.stderr
    p = run("predict", str(root / "**" / "*.jpg"), str(tmp_path / "list.txt"), str(root / "a.jpg"))
    assert names(p) == ["a.jpg", "sub/b.jpg", "sub/deeper/a.jpg", "imgs/sub/b.jpg", "imgs/a.jpg", "a.jpg"], p.stderr
    assert all(LINE.match(l) for l in p.stdout.strip().splitlines())
    p = run("predict", str(root / "*.png"))
    assert p.returncode == 2 and "matches no image files" in p.stderr


def test_save_csv_and_jsonl(demo_dir, tmp_path):
    import csv

    src = [str(tmp_path / "nope.jpg"), str(demo_dir / "owl.jpg"), str(demo_dir / "objects365_02035329.jpg")]
    p = run("predict", *src, "--save", str(tmp_path / "r.csv"))
    assert p.returncode == 1 and len(p.stdout.strip().splitlines()) == 2
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert [r["name"] for r in rows] == ["nope.jpg", "owl.jpg", "objects365_02035329.jpg"]
    assert set(rows[0]) == {"name", "path", "class_ids", "scores", "label_names", "someone", "person_score",
                            "threshold", "error", "decode_ms", "preprocess_ms", "infer_ms", "postprocess_ms",
                            "latency_ms", "batch_size"}
    assert "no such file" in rows[0]["error"] and rows[1]["error"] == ""
    assert json.loads(rows[1]["class_ids"]) in ([0, 1], [1, 0]) and rows[1]["someone"] in ("True", "False")
    assert float(rows[1]["infer_ms"]) > 0 and float(rows[1]["latency_ms"]) > 0 and rows[1]["path"] == src[1]
    p = run("predict", *src[1:], "--save", str(tmp_path / "r.jsonl"))
    assert p.returncode == 0
    rows = [json.loads(l) for l in open(tmp_path / "r.jsonl")]
    assert [r["name"] for r in rows] == ["owl.jpg", "objects365_02035329.jpg"]
    assert all(0 <= r["person_score"] <= 1 and r["someone"] == (r["person_score"] >= r["threshold"]) for r in rows)
    assert not list(tmp_path.glob("*.tmp"))
    p = run("predict", src[1], "--save", str(tmp_path / "r.txt"))
    assert p.returncode == 2 and ".csv or .jsonl" in p.stderr


def test_help_lists_keys_and_prints_the_default_config():
    import yaml

    from personcls.cli import DEFAULT_INFER_CONFIG

    p = run("predict", "--help")
    assert p.returncode == 0
    for key in ("Global.infer_imgs", "Global.batch_size", "Global.backend", "PostProcess.ThreshOutput.threshold"):
        assert key in p.stdout
    p = run("predict", "--print-config")
    assert p.returncode == 0 and p.stdout == DEFAULT_INFER_CONFIG.read_text()
    p = run("predict", "--print-config", "-o", "Global.batch_size=3")
    assert yaml.safe_load(p.stdout)["Global"]["batch_size"] == 3
    p = run("train", "--print-config", "-o", "Global.epochs=3")
    assert p.returncode == 0 and yaml.safe_load(p.stdout)["Global"]["epochs"] == 3


def test_eval_model_folder_and_pick_threshold(tmp_path, data_dir):
    from personcls import Classifier, default_model_dir
    from personcls.modelfolder import ModelMeta

    val = data_dir / "vww" / "val_list.txt"
    model = tmp_path / "model"
    shutil.copytree(default_model_dir(), model)
    before = ModelMeta.load(model).postprocess.threshold
    out = tmp_path / "ev"
    p = run("eval", str(model), str(val), "--out", str(out), "--json")
    assert p.returncode == 0, p.stderr
    m = json.loads(p.stdout)
    assert m["n"] == 100 and m["decision_threshold"] == pytest.approx(before)
    for k in ("acc", "precision", "recall", "f1", "tpr_at_fpr", "roc_auc", "average_precision"):
        assert 0.0 <= m[k] <= 1.0, k
    for f in ("roc.png", "pr.png"):
        assert (out / f).read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "metrics.json").read_text())["acc"] == m["acc"]
    assert len((out / "scores.csv").read_text().splitlines()) == 101
    p = run("eval", str(model), str(val), "--out", str(out), "--pick-threshold", "--json")
    assert p.returncode == 0, p.stderr
    picked = json.loads(p.stdout)
    thr = picked["picked"]["threshold"]
    assert picked["acc"] >= m["acc"]  # the acc rule maximises accuracy over every cut
    meta = ModelMeta.load(model)  # what the SDK reads
    assert meta.postprocess.threshold == pytest.approx(thr)
    assert meta.metrics["picked_threshold"]["rule"] == "acc"
    with Classifier(model) as clf:
        assert clf.postprocessor.threshold == pytest.approx(thr)
    p = run("eval", str(model))
    assert p.returncode == 2 and "MODEL_DIR LIST" in p.stderr
    (tmp_path / "nolabels.txt").write_text("a.png\n")
    p = run("eval", str(model), str(tmp_path / "nolabels.txt"), "--out", str(out))
    assert p.returncode == 2 and "has no label" in p.stderr
