"""Classifier.predict / predict_batch / predict_iter internals: per-item errors with the real
index and name in every batch arrangement, frame naming, streaming with bounded memory,
input order under the pipelined decode, and per-result timing."""

from __future__ import annotations

import itertools
import tracemalloc

import cv2
import numpy as np
import pytest

from personcls import InputError
from personcls.backends import available_backends
from personcls.classifier import Classifier

BACKENDS = available_backends()


@pytest.fixture(scope="module", params=BACKENDS)
def clfs(request):
    """The shipped model (96 px: quick) on each backend, at batch sizes 1..4."""
    out = {b: Classifier(backend=request.param, batch_size=b, decode_threads=2) for b in (1, 2, 3, 4)}
    yield out
    for c in out.values():
        c.close()


@pytest.fixture(scope="module")
def frame(demo_dir):
    return cv2.resize(cv2.imread(str(demo_dir / "grace_hopper.jpg")), (160, 188), interpolation=cv2.INTER_AREA)


def bad_frames():
    return {
        "dtype": (np.zeros((8, 8, 3), np.float32), "has dtype float32"),
        "empty": (np.zeros((0, 5, 3), np.uint8), "is empty"),
        "channels": (np.zeros((8, 8, 2), np.uint8), "has 2 channels"),
    }


@pytest.mark.parametrize("kind", sorted(bad_frames()))
def test_a_bad_item_in_any_position_and_batch_gets_its_own_error(clfs, frame, kind, tmp_path):
    bad, what = bad_frames()[kind]
    missing = str(tmp_path / "gone.jpg")
    n = 5  # with batches of 2 and 4 the last item is alone in its batch
    for bs, clf in clfs.items():
        if bs == 3:
            continue
        want = clf.predict(frame).person_score
        for pos in range(n):
            items = [frame] * n
            items[pos] = bad
            res = clf.predict(items)  # never raises for a bad item, even alone in its batch
            assert len(res) == n
            for i, r in enumerate(res):
                if i == pos:
                    assert not r.ok and isinstance(r.error, InputError)
                    msg = str(r.error)
                    assert r.source == f"<frame {pos}>"
                    assert msg.startswith(f"<frame {pos}> {what}"), (bs, pos, msg)
                    assert "frame[" not in msg, msg
                else:
                    assert r.ok and r.source == f"<frame {i}>"
                    assert r.person_score == pytest.approx(want, abs=1e-5)
            # a file that cannot be read, in the same place
            paths = [frame] * n
            paths[pos] = missing
            r = clf.predict(paths)[pos]
            assert r.source == "gone.jpg" and "gone.jpg: no such file" in str(r.error)


def test_frames_are_named_by_their_place_in_the_stream(clfs, frame):
    clf = clfs[3]
    frames = [frame] * 8
    assert [r.source for r in clf.predict_iter(frames)] == [f"<frame {i}>" for i in range(8)]
    assert [r.source for r in clf.predict(frames)] == [f"<frame {i}>" for i in range(8)]
    assert clf.predict(frame).source == "<frame>"
    _, buf = cv2.imencode(".jpg", frame)
    assert clf.predict(buf.tobytes()).source == "<bytes>"
    assert clf.predict([buf.tobytes()] * 2)[1].source == "<bytes 1>"
    named = clf.predict_iter(iter(frames[:4]), names=(f"cam{i}" for i in range(4)))
    assert [r.source for r in named] == ["cam0", "cam1", "cam2", "cam3"]
    with pytest.raises(InputError, match="names ran out at input 2"):
        list(clf.predict_iter(frames[:4], names=["a", "b"]))
    res = clf.predict([frame, np.zeros((0, 0, 3), np.uint8)])
    assert str(res[1].error).startswith("<frame 1> is empty")
    with pytest.raises(InputError, match=r"^<frame> is empty"):
        clf.predict(np.zeros((0, 0, 3), np.uint8))


def test_predict_iter_takes_inputs_lazily(clfs, frame):
    clf = clfs[4]
    taken = []

    def source():
        for i in itertools.count():
            taken.append(i)
            yield frame

    it = clf.predict_iter(source())
    first = [next(it) for _ in range(5)]
    assert [r.source for r in first] == [f"<frame {i}>" for i in range(5)]
    # the current batch, plus `prefetch` batches ahead, plus the one being filled
    assert len(taken) <= (clf.prefetch + 2) * clf.batch_size
    it.close()  # abandoning the stream leaves the classifier usable
    assert clf.predict([frame] * 3)[2].ok


def test_predict_of_a_long_list_streams_with_bounded_memory(demo_dir):
    """100 paths of a 1280x720 JPEG: decoding them all first would hold ~276 MB of frames."""
    path = str(demo_dir / "cat_720p.jpg")
    clf = Classifier(batch_size=8, decode_threads=2)
    clf.predict([path] * 16)  # warm-up: model compile, pool
    tracemalloc.start()
    try:
        res = clf.predict([path] * 100)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        clf.close()
    assert len(res) == 100 and all(r.ok for r in res)
    assert len({round(r.person_score, 6) for r in res}) == 1
    assert peak < 60e6, f"peak traced memory {peak / 1e6:.0f} MB"


@pytest.mark.parametrize("decode_threads,prefetch", [(1, 0), (2, 1), (3, 2)])
def test_results_keep_input_order_whatever_the_thread_split(demo_dir, decode_threads, prefetch):
    paths = sorted(str(p) for p in demo_dir.glob("*.jpg"))
    items = []
    for i, p in enumerate(paths):
        items.append(p if i % 3 else cv2.imread(p))
        if i % 4 == 0:
            items.append(p.encode() + b".nope")  # bytes that are no image
    ref = Classifier(batch_size=1)
    want = [ref.predict(x) if not isinstance(x, bytes) else None for x in items]
    clf = Classifier(batch_size=5, decode_threads=decode_threads, prefetch=prefetch)
    got = clf.predict(items)
    assert len(got) == len(items)
    for i, (w, g) in enumerate(zip(want, got)):
        if w is None:
            assert not g.ok and g.source == f"<bytes {i}>" and "not a decodable image" in str(g.error)
        else:
            assert g.ok and g.person_score == pytest.approx(w.person_score, abs=1e-5)
    clf.close()


def test_results_carry_their_timing(clfs, frame, demo_dir):
    clf = clfs[4]
    path = str(demo_dir / "cat_720p.jpg")
    res = clf.predict([path, frame, path, b"", path])
    for r, n in ((res[0], 3), (res[2], 3), (res[4], 1)):  # batches of 4 inputs: 3 good + 1 bad, then 1
        t = r.timing
        assert t.decode_ms > 0 and t.preprocess_ms > 0 and t.infer_ms > 0 and t.postprocess_ms > 0
        assert t.batch_size == n
        assert t.latency_ms >= t.decode_ms + t.preprocess_ms
        assert r.to_dict()["timing"]["infer_ms"] == pytest.approx(t.infer_ms, abs=1e-3)
    assert res[1].timing.decode_ms == 0 and res[1].timing.preprocess_ms > 0
    assert not res[3].ok and res[3].timing.infer_ms == 0 and res[3].timing.batch_size == 0
    assert res[3].to_dict()["error"].startswith("<bytes 3>: empty input")
    assert clf.predict(frame).timing.batch_size == 1


def test_pipelines_that_preprocess_themselves_pin_errors_on_the_right_input(frame):
    """The path for pipelines that preprocess a whole chunk themselves (CUDA preprocessing),
    exercised on the CPU: decoding still overlaps, a refused frame is found and named."""
    clf = Classifier(backend="paddle" if "paddle" in BACKENDS else BACKENDS[0], batch_size=4)
    clf._host_preprocess = False
    want = Classifier(batch_size=4).predict(frame).person_score
    items = [frame, frame, np.zeros((8, 8, 3), np.float32), frame, frame, np.zeros((8, 8, 2), np.uint8)]
    res = clf.predict(items, color="BGR")
    assert [r.ok for r in res] == [True, True, False, True, True, False]
    assert str(res[2].error).startswith("<frame 2> has dtype float32")
    assert str(res[5].error).startswith("<frame 5> has 2 channels")
    assert all(r.person_score == pytest.approx(want, abs=1e-5) for r in res if r.ok)
    rgb = clf.predict([np.ascontiguousarray(frame[:, :, ::-1])] * 2, color="RGB")
    assert all(r.person_score == pytest.approx(want, abs=1e-5) for r in rgb)
    clf.close()


def test_a_dropped_classifier_leaves_no_decode_threads(frame):
    import gc
    import threading

    def pool_threads():
        return {t for t in threading.enumerate() if t.name.startswith("personcls-decode")}

    before = pool_threads()  # other tests' classifiers may still be collected meanwhile
    clf = Classifier(decode_threads=3)
    clf.predict([frame] * 6)
    mine = pool_threads() - before
    assert len(mine) == 3
    del clf
    gc.collect()
    for _ in range(100):
        if not any(t.is_alive() for t in mine):
            break
        threading.Event().wait(0.05)
    assert not any(t.is_alive() for t in mine)
