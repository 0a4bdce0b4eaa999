"""The video loop: presence events on scripted scores, camera health, real clips end to end,
a live MJPEG stream that dies and comes back, and the watch / calibrate / predict commands."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import decode_all
from personcls.video import (HealthMonitor, IterableSource, PresenceTracker, Watcher, WatchSettings, pick_threshold,
                             track_scores)
from personcls.video.runner import FrameResult, HealthChange, Summary
from personcls.video.sources import Notice

HERE = Path(__file__).resolve().parent
SCRIPTED = WatchSettings(on_threshold=0.5, off_threshold=0.3, min_on_s=1.0, min_off_s=1.0, smoothing_s=0.0)


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "personcls", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


# -- presence events on scripted score sequences -------------------------------------------------
def test_hysteresis_and_minimum_durations_decide_the_frames():
    scores = [0.0] * 10 + [0.9] * 30 + [0.0] * 30
    ev = track_scores(scores, fps=10, settings=SCRIPTED, source="cam")
    assert [(e.event, e.frame, e.start_frame) for e in ev] == [("enter", 20, 10), ("leave", 50, 40)]
    assert ev[0].t == pytest.approx(2.0) and ev[0].start_t == pytest.approx(1.0) and ev[0].source == "cam"
    assert ev[1].t == pytest.approx(5.0) and ev[0].score == pytest.approx(0.9)
    d = ev[0].to_dict()
    assert d["event"] == "enter" and d["frame"] == 20 and d["t"] == 2.0 and d["source"] == "cam"


def test_blips_shorter_than_the_minimum_and_the_hysteresis_band_give_no_event():
    blip = [0.0] * 10 + [0.9] * 9 + [0.0] * 10           # 0.9 s above on: not enough
    assert track_scores(blip, fps=10, settings=SCRIPTED) == []
    band = [0.0] * 5 + [0.9] * 11 + [0.4] * 50             # 0.4 is between off and on: stays someone
    assert [e.event for e in track_scores(band, fps=10, settings=SCRIPTED)] == ["enter"]
    dips = ([0.9] * 11 + [0.1] * 9) * 3                    # dips shorter than min_off_s
    assert [e.event for e in track_scores(dips, fps=10, settings=SCRIPTED)] == ["enter"]


def test_smoothing_follows_stream_time_not_frame_count():
    st = SCRIPTED.replace(smoothing_s=1.0)
    tr = PresenceTracker("a", st)
    tr.update(0, 0.0, 0.0)
    tr.update(1, 1.0, 1.0)
    assert tr.smoothed == pytest.approx(1 - math.exp(-1.0))
    tr2 = PresenceTracker("b", st)  # same stream time in ten steps: same value
    for i in range(11):
        tr2.update(i, i / 10, 0.0 if i == 0 else 1.0)
    assert tr2.smoothed == pytest.approx(tr.smoothed, abs=1e-9)


def test_presence_is_unknown_while_unhealthy_and_outages_do_not_repeat_events():
    tr = PresenceTracker("cam", SCRIPTED)
    assert tr.presence == "unknown"
    events = []
    frame = 0

    def feed(score, n, healthy=True):
        nonlocal frame
        for _ in range(n):
            ev = tr.update(frame, frame / 10, score, healthy=healthy)
            frame += 1
            if ev:
                events.append(ev.event)

    feed(0.0, 15)
    assert tr.presence == "nobody" and events == []       # nobody at start is not an event
    feed(0.9, 15)
    assert tr.presence == "someone" and events == ["enter"]
    feed(0.9, 5, healthy=False)
    assert tr.presence == "unknown" and tr.smoothed is None
    feed(0.9, 15)                                         # still there after the outage: no new enter
    assert tr.presence == "someone" and events == ["enter"]
    feed(None, 5)                                         # a None score is an unhealthy frame too
    assert tr.presence == "unknown"
    feed(0.0, 15)                                         # gone when it came back: leave
    assert events == ["enter", "leave"] and tr.presence == "nobody"


def test_track_scores_rejects_inconsistent_input():
    with pytest.raises(ValueError):
        track_scores([0.1, 0.2])
    with pytest.raises(ValueError):
        track_scores([0.1, 0.2], times=[0.0])


# -- health on scripted statistics; threshold picking ---------------------------------------------
def test_health_states_from_frame_statistics():
    st = WatchSettings()
    m = HealthMonitor(st)
    assert m.frame(0.0, 120, 40, None) is None and m.state == "ok"
    states = [m.frame(t / 10, 2.0, 0.5, 0.0) for t in range(1, 12)]  # black from t=0.1
    assert states.index("dark") == 10 and m.state == "dark"           # held dark_s = 1.0 s at t=1.1
    assert m.frame(1.2, 120, 40, 30.0) == "ok"
    states = [m.frame(1.2 + t / 10, 120, 40, 0.0) for t in range(1, 25)]  # unchanged from t=1.2
    assert states.index("frozen") == 19 and m.state == "frozen"       # 2.0 s after the last change
    assert m.lost("gone") == "lost" and not m.healthy
    assert m.frame(9.0, 120, 40, 12.0) == "ok"


def test_pick_threshold_keeps_false_positives_at_or_under_the_rate():
    scores = np.linspace(0.0, 0.99, 100)
    thr, rate = pick_threshold(scores, 0.05)
    assert rate <= 0.05 and np.mean(scores >= thr) == rate
    assert np.mean(scores >= thr - 1e-4) > 0.05               # the lowest such 4-decimal threshold
    assert pick_threshold([0.2, 0.2, 0.2], 0.0)[0] == pytest.approx(0.2001)
    with pytest.raises(Exception):
        pick_threshold([], 0.1)


# -- sources ---------------------------------------------------------------------------------------
def test_live_source_keeps_the_latest_frame_and_counts_the_dropped_ones():
    frames = [np.full((36, 64, 3), i, np.uint8) for i in range(50)]
    src = IterableSource("live", frames, fps=1000, live=True)
    src.start()
    deadline = time.time() + 10
    while not src.ended and time.time() < deadline:
        time.sleep(0.01)
    items = []
    while (it := src.poll()) is not None:
        items.append(it)
    got = [i.index for i in items if not isinstance(i, Notice)]
    assert got == [49] and src.dropped == 49 and src.frames_read == 50
    assert [i.kind for i in items if isinstance(i, Notice)] == ["end"]
    src = IterableSource("live3", frames, fps=1000, live=True, settings=WatchSettings(live_buffer=3))
    src.start()
    while not src.ended and time.time() < deadline:
        time.sleep(0.01)
    got = []
    while (it := src.poll()) is not None:
        got += [] if isinstance(it, Notice) else [it.index]
    assert got == [47, 48, 49] and src.dropped == 47


# -- with the real classifier ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def clf():
    from personcls import Classifier

    c = Classifier()
    yield c
    c.close()


@pytest.fixture(scope="module")
def video_dir(data_dir):
    d = data_dir / "video"
    if not (d / "car-detection.mp4").is_file():
        pytest.skip(f"shared clips not found in {d}")
    return d




def test_two_clips_at_once_every_frame_accounted_for_with_its_own_scores(clf, video_dir):
    car, person = str(video_dir / "car-detection.mp4"), str(video_dir / "one-by-one-person-detection.mp4")
    st = WatchSettings(frames=True)
    per = {person: {"target_fps": 2.0}}  # every 5th frame of the 10 fps clip
    recs = list(Watcher(clf, [car, person], st, per))
    frames = {car: [], person: []}
    for r in recs:
        if isinstance(r, FrameResult):
            frames[r.source].append(r)
    car_frames, n_car = decode_all(car)
    person_frames, n_person = decode_all(person, step=5)
    assert [r.frame for r in frames[car]] == list(range(n_car)) == list(range(377))
    assert [r.t for r in frames[car]] == pytest.approx([i / 12.5 for i in range(n_car)])
    assert [r.frame for r in frames[person]] == list(range(0, n_person, 5))
    assert [r.t for r in frames[person]] == pytest.approx([i / 10 for i in range(0, n_person, 5)])
    # batched across the two streams, each frame still gets its own score
    want_car = [r.person_score for r in clf.predict(car_frames)]
    want_person = [r.person_score for r in clf.predict(person_frames)]
    assert [r.score for r in frames[car]] == pytest.approx(want_car, abs=1e-5)
    assert [r.score for r in frames[person]] == pytest.approx(want_person, abs=1e-5)
    summary = recs[-1]
    assert isinstance(summary, Summary)
    s_car, s_person = summary.sources[car], summary.sources[person]
    assert s_car["frames_read"] == s_car["processed"] == 377
    assert s_car["dropped"] == s_car["skipped"] == s_car["left"] == 0
    assert s_person["frames_read"] == n_person == 1394
    assert s_person["processed"] == len(person_frames) and s_person["processed"] + s_person["skipped"] == n_person
    assert summary.processed == 377 + len(person_frames) and summary.latency_p95_ms is not None
    ends = [r for r in recs if isinstance(r, Notice)]
    assert sorted((n.source, n.kind, n.frame) for n in ends) == sorted([(car, "end", 377), (person, "end", 1394)])
    # the car clip holds no person: with the shipped model and the defaults no enter is reported
    assert not [r for r in recs if getattr(r, "event", None) == "enter" and r.source == car]


def test_events_on_a_file_are_deterministic(clf, video_dir):
    person = str(video_dir / "one-by-one-person-detection.mp4")
    st = WatchSettings(target_fps=5.0, on_threshold=0.3, off_threshold=0.1, min_on_s=0.5, min_off_s=0.5)

    def events():
        return [r.to_dict() for r in Watcher(clf, [person], st) if getattr(r, "event", None) in ("enter", "leave")]

    a = events()
    assert a == events() and a, "the same file gives the same events"
    assert all(e["frame"] % 2 == 0 and e["t"] == pytest.approx(e["frame"] / 10) for e in a)
    assert [e["event"] for e in a] == ["enter", "leave"] * (len(a) // 2)


def test_frozen_and_black_sources_report_health_and_unknown_presence(clf, video_dir):
    frame, _ = decode_all(video_dir / "car-detection.mp4", step=1000)
    still = frame[0]
    black = np.zeros_like(still)
    moving, _ = decode_all(video_dir / "car-detection.mp4")
    frozen_src = IterableSource("frozen", [still] * 30, fps=10)
    dark_src = IterableSource("black", [black] * 20 + moving[:20], fps=10)
    good_src = IterableSource("good", moving[:40], fps=10)
    recs = list(Watcher(clf, [frozen_src, dark_src, good_src], WatchSettings(frames=True)))
    health = [(r.source, r.health, r.frame) for r in recs if isinstance(r, HealthChange)]
    assert ("frozen", "frozen", 20) in health          # unchanged since t=0, frozen_s = 2.0
    assert ("black", "dark", 10) in health             # dark from t=0, dark_s = 1.0
    assert ("black", "ok", 20) in health               # a real picture again
    assert not [h for h in health if h[0] == "good"]
    fr = {(r.source, r.frame): r for r in recs if isinstance(r, FrameResult)}
    assert fr[("frozen", 25)].presence == "unknown" and fr[("frozen", 25)].health == "frozen"
    assert fr[("black", 15)].presence == "unknown" and fr[("black", 15)].health == "dark"
    assert recs[-1].sources["frozen"]["health"] == "frozen" and recs[-1].sources["good"]["health"] == "ok"


def test_a_live_source_that_stops_delivering_is_lost_then_ok_again(clf, video_dir):
    moving, _ = decode_all(video_dir / "car-detection.mp4", step=10)

    def stalling():
        for i, f in enumerate(moving[:30]):
            if i == 10:
                time.sleep(1.5)  # the camera hangs: no frame for longer than lost_s
            yield f
            time.sleep(0.03)

    src = IterableSource("stalls", stalling, fps=10, live=True)
    recs = list(Watcher(clf, [src], WatchSettings(frames=True, lost_s=0.5)))
    health = [r for r in recs if isinstance(r, HealthChange)]
    # the stall after frame 9 is seen (a starved, loaded box may add other lost/ok pairs)
    stall = [h for h in health if h.health == "lost" and h.frame == 9]
    assert stall and stall[0].reason.startswith("no frame for"), [str(h) for h in health]
    assert health[-1].health == "ok" and health[-1].frame >= 10
    s = recs[-1].sources["stalls"]
    assert s["frames_read"] == 30 == s["processed"] + s["dropped"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(clip, port):
    p = subprocess.Popen([sys.executable, str(HERE / "mjpeg_server.py"), str(clip), str(port), "--fps", "20"],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def test_live_stream_killed_and_restarted_is_reported_and_reconnected(clf, video_dir):
    clip = video_dir / "one-by-one-person-detection.mp4"
    port = free_port()
    url = f"http://127.0.0.1:{port}/stream.mjpg"
    server = start_server(clip, port)
    st = WatchSettings(frames=True, lost_s=1.0, backoff_s=0.2, backoff_max_s=0.4, open_timeout_s=5, read_timeout_s=2,
                       max_seconds=40)
    w = Watcher(clf, [url, str(video_dir / "car-detection.mp4")], st)
    recs = []
    phase = "before"
    n_after = 0
    t_kill = None
    try:
        for r in w:
            recs.append(r)
            if isinstance(r, FrameResult) and r.source == url:
                if phase == "before" and r.frame >= 20:
                    server.kill()
                    server.wait()
                    phase, t_kill = "killed", time.time()
                elif phase == "reconnected":
                    n_after += 1
                    if n_after >= 20:
                        w.stop()
            if phase == "killed" and time.time() - t_kill > 1.5 and server.poll() is not None:
                server = start_server(clip, port)  # back after the loss has been seen
            if isinstance(r, Notice) and r.source == url and r.kind == "reconnected":
                phase = "reconnected"
    finally:
        server.kill()
        server.wait()
        w.close()
    url_recs = [r for r in recs if getattr(r, "source", None) == url]
    lost = [i for i, r in enumerate(url_recs) if isinstance(r, HealthChange) and r.health == "lost"]
    back = [i for i, r in enumerate(url_recs) if isinstance(r, Notice) and r.kind == "reconnected"]
    ok_again = [i for i, r in enumerate(url_recs) if isinstance(r, HealthChange) and r.health == "ok"]
    assert lost and back and ok_again, [str(r) for r in url_recs if not isinstance(r, FrameResult)]
    assert lost[0] < back[0] < ok_again[-1]
    idx = [r.frame for r in url_recs if isinstance(r, FrameResult)]
    assert idx == sorted(set(idx)) and n_after >= 20          # indices go on increasing across the reconnection
    last_lost = max(i for i in lost if i < back[0])  # (a starved, loaded box may add a lost/ok pair earlier)
    unknown = [r for r in url_recs[last_lost:back[0]] if isinstance(r, FrameResult)]
    assert all(r.presence == "unknown" for r in unknown)
    s = recs[-1]
    su = s.sources[url]
    assert isinstance(s, Summary) and su["processed"] >= 40 - su["dropped"] - su["left"]  # a slow box drops frames
    assert su["frames_read"] == su["processed"] + su["dropped"] + su["failed"] + su["left"]
    # the file beside it went on regardless (until the run was stopped)
    sc = s.sources[str(video_dir / "car-detection.mp4")]
    car_idx = [r.frame for r in recs if isinstance(r, FrameResult) and r.source != url]
    assert sc["processed"] > 0 and car_idx == list(range(len(car_idx)))
    assert sc["frames_read"] == sc["processed"] + sc["left"] and sc["dropped"] == 0  # file mode drops nothing


# -- the commands -------------------------------------------------------------------------------------
def test_watch_command_json_lines_with_an_unopenable_source_beside_a_good_one(video_dir, tmp_path):
    car = str(video_dir / "car-detection.mp4")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    url = f"http://127.0.0.1:{free_port()}/nothing.mjpg"  # nobody listens there
    p = run_cli("watch", str(bad), car, str(tmp_path / "missing.mp4"), url, "--json", "-o", "Watch.frames=true")
    assert p.returncode == 1, p.stderr
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    errors = {d["source"]: d["message"] for d in lines if d["event"] == "error"}
    assert set(errors) == {str(bad), str(tmp_path / "missing.mp4"), url}
    assert "cannot be opened" in errors[str(bad)] and "no such file" in errors[str(tmp_path / "missing.mp4")]
    assert "cannot be opened" in errors[url]
    frames = [d["frame"] for d in lines if d["event"] == "frame" and d["source"] == car]
    assert frames == list(range(377))
    summary = lines[-1]
    assert summary["event"] == "summary" and summary["errors"] == 3
    assert summary["sources"][car]["processed"] == 377 and set(summary["latency_ms"]) == {"p50", "p95"}
    for d in lines:
        assert {"source", "event"} <= set(d) or d["event"] == "summary"


def test_watch_command_rejects_unknown_settings(video_dir):
    p = run_cli("watch", str(video_dir / "car-detection.mp4"), "-o", "Watch.on_treshold=0.3")
    assert p.returncode == 2 and "Watch.on_threshold" in p.stderr


def test_predict_on_a_video_prints_one_tutorial_line_per_frame(video_dir):
    p = run_cli("predict", "-o", f"Global.infer_imgs={video_dir / 'car-detection.mp4'}")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 377
    assert [x.split(":\t")[0] for x in lines] == [f"car-detection.mp4#{i}" for i in range(377)]
    assert "class id(s): [" in lines[0] and "label_name(s): [" in lines[0]


def test_calibrate_writes_a_threshold_that_watch_applies_to_that_source(clf, video_dir, tmp_path):
    car = str(video_dir / "car-detection.mp4")
    cfg = tmp_path / "watch.yaml"
    cfg.write_text("Watch:\n  min_on_s: 1.0\n")
    p = run_cli("calibrate", car, "--max-false-rate", "0.02", "--write", str(cfg))
    assert p.returncode == 0, p.stderr
    import yaml

    data = yaml.safe_load(cfg.read_text())
    entry = data["Sources"][car]
    assert data["Watch"] == {"min_on_s": 1.0}  # the rest of the file is kept
    assert entry["calibration"]["false_rate"] <= 0.02 and entry["off_threshold"] < entry["on_threshold"]
    # the smoothed scores of that footage: at most 2% at or above the picked threshold
    smoothed = [r.smoothed for r in Watcher(clf, [car], WatchSettings(frames=True)) if isinstance(r, FrameResult)]
    assert np.mean(np.asarray(smoothed) >= entry["on_threshold"]) <= 0.02
    from personcls.video.cli import load_watch_config

    c = load_watch_config(str(cfg), [])
    w = Watcher(clf, [car, "other.mp4"], WatchSettings.from_dict(c["Watch"]), c["Sources"])
    assert w.states[0].settings.on_threshold == entry["on_threshold"] and w.states[0].settings.min_on_s == 1.0
    assert w.states[1].settings.on_threshold == WatchSettings().on_threshold


def test_a_gif_is_watched_as_a_short_video(clf, video_dir):
    gif = video_dir / "preview" / "car-detection.gif"
    if not gif.is_file():
        pytest.skip(f"{gif} not found")
    _, n = decode_all(gif)
    recs = list(Watcher(clf, [str(gif)], WatchSettings(frames=True)))
    assert [r.frame for r in recs if isinstance(r, FrameResult)] == list(range(n)) and n > 1


def test_image_folder_source_names_a_bad_image_and_goes_on(clf, video_dir, tmp_path):
    import cv2

    frames, _ = decode_all(video_dir / "car-detection.mp4", step=100)
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"f{i}.jpg"), f)
    (tmp_path / "f9_truncated.jpg").write_bytes((tmp_path / "f0.jpg").read_bytes()[:2000])
    recs = list(Watcher(clf, [str(tmp_path)], WatchSettings(frames=True, image_fps=2.0)))
    got = [(r.frame, r.t) for r in recs if isinstance(r, FrameResult)]
    assert got == [(i, i / 2) for i in range(len(frames))]
    bad = [r for r in recs if isinstance(r, Notice) and r.kind == "frame_error"]
    assert len(bad) == 1 and "f9_truncated.jpg" in bad[0].message and bad[0].frame == len(frames)
    s = recs[-1].sources[str(tmp_path)]
    assert s["frames_read"] == len(frames) + 1 and s["failed"] == 1 and s["processed"] == len(frames)


def test_calibrate_with_a_labeled_frame_list(clf, video_dir, tmp_path):
    from personcls.errors import InputError
    from personcls.video.calibrate import calibrate, read_labels

    lab = tmp_path / "labels.txt"
    lab.write_text("# frame label\n" + "".join(f"{i} {int(i >= 300)}\n" for i in range(0, 377, 2)))
    labels = read_labels(lab)
    entry = calibrate(clf, str(video_dir / "car-detection.mp4"), 0.1, WatchSettings(), labels)
    cal = entry["calibration"]
    assert cal["empty_frames"] == 150 and cal["person_frames"] == 39 and cal["false_rate"] <= 0.1
    assert 0.0 <= cal["person_rate"] <= 1.0
    lab.write_text("0 0\n7 maybe\n")
    with pytest.raises(InputError, match="labels.txt:2"):
        read_labels(lab)
