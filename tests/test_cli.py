"""`personcls predict` as a user runs it: the tutorial's lines, folders, bad files, overrides."""

from __future__ import annotations

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
