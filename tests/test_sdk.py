"""The Classifier over a real model folder (the tiny random conv net of tests/tiny_model.py) and real photos."""

from __future__ import annotations

import json
import re
import shutil

import cv2
import numpy as np
import pytest

from personcls import InputError, ModelError
from personcls.classifier import Classifier

LINE = re.compile(r"^(?P<src>[^\t]+):\tclass id\(s\): \[(?P<ids>\d+, \d+)\], score\(s\): \[(?P<scores>\d\.\d\d, \d\.\d\d)\], "
                  r"label_name\(s\): \['(?P<n0>someone|nobody)', '(?P<n1>someone|nobody)'\]$")


@pytest.fixture(scope="module")
def clf(random_model):
    pytest.importorskip("paddle")
    with Classifier(random_model, backend="paddle", batch_size=4) as c:
        yield c


def check_result(r, thr=0.5):
    assert r.ok
    assert sorted(r.class_ids) == [0, 1]
    assert r.label_names == [["nobody", "someone"][i] for i in r.class_ids]
    assert r.scores == sorted(r.scores, reverse=True)
    assert abs(sum(r.scores) - 1.0) < 1e-4
    p1 = r.scores[r.class_ids.index(1)]
    assert r.person_score == pytest.approx(p1)
    assert r.someone == (p1 >= thr)


def test_tutorial_line_format(clf, demo_dir):
    r = clf.predict(str(demo_dir / "objects365_02035329.jpg"))
    check_result(r)
    m = LINE.match(r.format_line())
    assert m, r.format_line()
    assert m["src"] == "objects365_02035329.jpg"
    ids = [int(x) for x in m["ids"].split(", ")]
    assert [m["n0"], m["n1"]] == [["nobody", "someone"][i] for i in ids]


def test_paths_bytes_and_frames_agree(clf, demo_dir):
    path = demo_dir / "grace_hopper.jpg"
    by_path = clf.predict(str(path))
    by_bytes = clf.predict(path.read_bytes())
    bgr = cv2.imread(str(path))
    by_frame = clf.predict(bgr)
    by_rgb = clf.predict(np.ascontiguousarray(bgr[:, :, ::-1]), color="RGB")
    for r in (by_bytes, by_frame, by_rgb):
        assert r.class_ids == by_path.class_ids
        assert r.person_score == pytest.approx(by_path.person_score, abs=1e-6)


def test_batches_agree_with_single_predictions(clf, demo_dir):
    paths = sorted(str(p) for p in demo_dir.glob("*.jpg"))
    batch = clf.predict(paths)
    assert len(batch) == len(paths)
    for p, r in zip(paths[:4], batch[:4]):
        single = clf.predict(p)
        assert r.person_score == pytest.approx(single.person_score, abs=1e-5)


def test_bad_inputs_in_a_batch_do_not_stop_the_others(clf, demo_dir, tmp_path):
    good = demo_dir / "squat.jpg"
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    trunc = tmp_path / "truncated.jpg"
    trunc.write_bytes(good.read_bytes()[:5000])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image at all")
    items = [str(good), str(tmp_path / "missing.jpg"), str(empty), str(trunc), str(text),
             np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 2), np.uint8), b"", str(good)]
    res = clf.predict(items)
    assert len(res) == len(items)
    assert res[0].ok and res[-1].ok
    assert res[0].person_score == pytest.approx(res[-1].person_score)
    errors = [str(r.error) for r in res[1:-1]]
    assert all(not r.ok for r in res[1:-1])
    assert "missing.jpg: no such file" in errors[0]
    assert "empty.jpg: empty input" in errors[1]
    assert "truncated.jpg: truncated JPEG" in errors[2]
    assert "notes.jpg: not a decodable image" in errors[3]
    assert "dtype float32" in errors[4]
    assert "2 channels" in errors[5]
    assert "empty input" in errors[6]
    with pytest.raises(InputError, match="missing.jpg"):
        clf.predict(str(tmp_path / "missing.jpg"))


def test_threshold_mode_and_override(random_model, demo_dir):
    path = str(demo_dir / "objects365_01780782.jpg")
    probe = Classifier(random_model, backend="paddle").predict(path)
    p1 = probe.person_score
    lo = Classifier(random_model, backend="paddle", mode="threshold", threshold=max(0.0, p1 - 0.01)).predict(path)
    hi = Classifier(random_model, backend="paddle", mode="threshold", threshold=min(1.0, p1 + 0.01)).predict(path)
    assert lo.someone and lo.class_ids == [1] and lo.label_names == ["someone"]
    assert lo.scores[0] == pytest.approx(p1)
    assert not hi.someone and hi.class_ids == [0] and hi.label_names == ["nobody"]
    assert hi.scores[0] == pytest.approx(1 - p1, abs=1e-5)
    with pytest.raises(InputError):
        Classifier(random_model, backend="paddle", threshold=1.5)


def test_model_folder_errors(random_model, tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        Classifier(tmp_path / "nope", backend="paddle")
    bare = tmp_path / "bare"
    shutil.copytree(random_model, bare)
    (bare / "personcls.json").unlink()
    with pytest.raises(ModelError, match="no personcls.json"):
        Classifier(bare, backend="paddle")
    bad = tmp_path / "badmeta"
    shutil.copytree(random_model, bad)
    (bad / "personcls.json").write_text("{ not json")
    with pytest.raises(ModelError, match="unreadable metadata"):
        Classifier(bad, backend="paddle")
    meta = json.loads((random_model / "personcls.json").read_text())
    meta["preprocess"]["crop_size"] = [100, 100]
    (bad / "personcls.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="disagrees"):
        Classifier(bad, backend="paddle")
    noweights = tmp_path / "noweights"
    shutil.copytree(random_model, noweights)
    (noweights / "inference.pdiparams").write_bytes(b"")
    with pytest.raises(ModelError):
        Classifier(noweights, backend="paddle")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(random_model, corrupt)
    (corrupt / "inference.pdiparams").write_bytes(b"\x00" * 1000)
    with pytest.raises(ModelError):
        Classifier(corrupt, backend="paddle").predict(np.zeros((64, 64, 3), np.uint8))


def test_folder_without_metadata_uses_given_preprocessing(random_model, tmp_path, demo_dir):
    from personcls import PreprocessSpec

    bare = tmp_path / "official_like"
    shutil.copytree(random_model, bare)
    (bare / "personcls.json").unlink()
    a = Classifier(bare, backend="paddle", preprocess=PreprocessSpec()).predict(str(demo_dir / "face.jpg"))
    b = Classifier(random_model, backend="paddle").predict(str(demo_dir / "face.jpg"))
    assert a.person_score == pytest.approx(b.person_score, abs=1e-6)


def test_fast_decode_reads_jpeg_headers_and_stays_above_the_resize(clf, random_model, demo_dir):
    from personcls import imageio

    data = (demo_dir / "cat_720p.jpg").read_bytes()
    assert imageio.jpeg_size(data) == (1280, 720)
    assert imageio.jpeg_size(b"\x89PNG\r\n\x1a\n") is None
    assert imageio.reduction_for((1280, 720), (256, 256)) == 2
    assert imageio.reduction_for((4000, 3000), (256, 256)) == 8
    assert imageio.reduction_for((300, 300), (256, 256)) == 1
    small = imageio.decode_bytes(data, "cat", min_size=(256, 256))
    assert small.shape == (360, 640, 3)
    fast = Classifier(random_model, backend="paddle", fast_decode=True)
    paths = [str(demo_dir / "cat_720p.jpg"), str(demo_dir / "grace_hopper.jpg")]
    for a, b in zip(fast.predict(paths), clf.predict(paths)):
        assert a.ok and a.person_score == pytest.approx(b.person_score, abs=0.05)


def test_gpu_request_on_a_cpu_only_paddle_is_a_clear_error(random_model):
    paddle = pytest.importorskip("paddle")
    if paddle.device.is_compiled_with_cuda():
        pytest.skip("this PaddlePaddle has CUDA")
    from personcls import BackendError

    with pytest.raises(BackendError, match="CUDA build of PaddlePaddle"):
        Classifier(random_model, backend="paddle", device="gpu")


def test_one_classifier_shared_by_threads(trained_like_model, demo_dir):
    from concurrent.futures import ThreadPoolExecutor

    from personcls.backends import available_backends

    paths = sorted(str(p) for p in demo_dir.glob("*.jpg"))
    for backend in available_backends():
        c = Classifier(trained_like_model, backend=backend, batch_size=3)
        want = [r.person_score for r in c.predict(paths)]
        with ThreadPoolExecutor(4) as ex:
            got = list(ex.map(lambda i: [r.person_score for r in c.predict(paths[i:] + paths[:i])], range(8)))
        for i, scores in enumerate(got):
            rot = want[i:] + want[:i]
            assert scores == pytest.approx(rot, abs=1e-5), backend
