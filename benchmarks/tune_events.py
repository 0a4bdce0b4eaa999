"""Re-check or re-tune the presence-event defaults of `personcls watch` on the shared clips.

    python benchmarks/tune_events.py --check            # the current defaults, end to end (Watcher)
    python benchmarks/tune_events.py                    # grid search on the model's score sequences
    python benchmarks/tune_events.py --model DIR        # the same for another model folder

Ground truth (hand-checked here, frame by frame at 10 fps, Intel IoT Devkit sample videos):
one-by-one-person-detection.mp4 has six visits; a visit starts at the first frame where the
person is in view and ends after the last one. car-detection.mp4 has no person: any enter is a
false event. Events match a true one of the same kind when their `t` is within --tolerance s
(default 2, as the issue checks). The search maximises event F1 on the person clip, with no
enter allowed on the car clip; among the best it prefers the settings that get the most short
clips right at clip level (asl_gestures: a person in every frame, and the preview GIFs: a
person clip should give an enter, a nobody clip none), then the highest on-threshold (margin
against false enters elsewhere), then the smallest mean timing error.
Put the picked values in python/personcls/video/settings.py (the one home of the defaults)
and the table in docs/video.md.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

from personcls.shared_data import data_root

REPO = Path(__file__).resolve().parents[1]
VIDEO = data_root(REPO) / "video"
PERSON_CLIP, CAR_CLIP = "one-by-one-person-detection.mp4", "car-detection.mp4"
# (enter frame, leave frame) of each visit, 10 fps: first frame in view, first frame out of view
VISITS = [(62, 198), (228, 448), (504, 698), (746, 868), (922, 1198), (1236, 1360)]
PERSON_FPS = 10.0
PREVIEW_PERSON = ("classroom", "face-demographics-walking-and-pause", "face-demographics-walking",
                  "head-pose-face-detection-female-and-male", "store-aisle-detection", "worker-zone-detection")
PREVIEW_NOBODY = ("bolt-multi-size-detection", "car-detection", "fruit-and-vegetable-detection")


def truth():
    return ([("enter", a / PERSON_FPS) for a, _ in VISITS] + [("leave", b / PERSON_FPS) for _, b in VISITS])


def match(events, tol):
    """(true positives, false positives, false negatives, timing errors) of (kind, t) events."""
    gt = truth()
    used = set()
    errs = []
    tp = 0
    for kind, t in events:
        best = None
        for j, (k2, t2) in enumerate(gt):
            if j in used or k2 != kind or abs(t - t2) > tol:
                continue
            if best is None or abs(t - t2) < abs(t - gt[best][1]):
                best = j
        if best is not None:
            used.add(best)
            tp += 1
            errs.append(t - gt[best][1])
    return tp, len(events) - tp, len(gt) - tp, errs


def f1(tp, fp, fn):
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def clip_scores(clf, path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    return np.array([r.person_score for r in clf.predict(frames)]), fps


def short_clips():
    out = [(p, True) for p in sorted((VIDEO / "asl_gestures").glob("*.mkv"))]
    out += [(VIDEO / "preview" / f"{n}.gif", True) for n in PREVIEW_PERSON]
    out += [(VIDEO / "preview" / f"{n}.gif", False) for n in PREVIEW_NOBODY]
    return [(p, y) for p, y in out if p.is_file()]


def evaluate(settings, seqs, tol):
    from personcls.video import track_scores

    s, fps = seqs[PERSON_CLIP]
    ev = [(e.event, e.t) for e in track_scores(list(s), fps=fps, settings=settings)]
    tp, fp, fn, errs = match(ev, tol)
    c, cfps = seqs[CAR_CLIP]
    car_enters = sum(e.event == "enter" for e in track_scores(list(c), fps=cfps, settings=settings))
    return f1(tp, fp, fn), tp, fp, fn, errs, car_enters


def short_report(settings, seqs):
    from personcls.video import track_scores

    right = 0
    lines = []
    for (p, person) in short_clips():
        s, fps = seqs[p.name]
        enters = sum(e.event == "enter" for e in track_scores(list(s), fps=fps, settings=settings))
        ok = (enters > 0) == person
        right += ok
        lines.append(f"  {p.name:48s} {'person' if person else 'nobody'}: {enters} enter(s) {'ok' if ok else 'WRONG'}")
    return right, lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="model folder (default: the shipped model)")
    ap.add_argument("--check", action="store_true", help="check the current defaults end to end and exit")
    ap.add_argument("--tolerance", type=float, default=2.0)
    ap.add_argument("--top", type=int, default=8)
    args = ap.parse_args()
    from personcls import Classifier
    from personcls.video import Watcher, WatchSettings

    if not (VIDEO / PERSON_CLIP).is_file():
        sys.exit(f"shared clips not found in {VIDEO}")
    clf = Classifier(args.model)
    print(f"model: {clf.model_dir}")
    if args.check:
        st = WatchSettings()
        print("defaults:", {k: v for k, v in st.to_dict().items()
                            if k in ("on_threshold", "off_threshold", "min_on_s", "min_off_s", "smoothing_s")})
        evs = {PERSON_CLIP: [], CAR_CLIP: []}
        for rec in Watcher(clf, [str(VIDEO / PERSON_CLIP), str(VIDEO / CAR_CLIP)], st):
            if getattr(rec, "event", None) in ("enter", "leave"):
                evs[Path(rec.source).name].append(rec)
        tp, fp, fn, errs = match([(e.event, e.t) for e in evs[PERSON_CLIP]], args.tolerance)
        for e in evs[PERSON_CLIP]:
            print(f"  {e}")
        car = sum(e.event == "enter" for e in evs[CAR_CLIP])
        print(f"{PERSON_CLIP}: event F1 {f1(tp, fp, fn):.3f} (tp {tp}, fp {fp}, fn {fn}; t - truth: "
              f"{', '.join(f'{x:+.1f}' for x in errs)} s)")
        print(f"{CAR_CLIP}: {car} enter event(s) (must be 0)")
        seqs = {p.name: clip_scores(clf, p) for p, _ in short_clips()}
        right, lines = short_report(st, seqs)
        print(f"short clips: {right}/{len(lines)} right at clip level")
        print("\n".join(lines))
        return 0 if f1(tp, fp, fn) >= 0.8 and car == 0 else 1

    seqs = {PERSON_CLIP: clip_scores(clf, VIDEO / PERSON_CLIP), CAR_CLIP: clip_scores(clf, VIDEO / CAR_CLIP)}
    seqs.update({p.name: clip_scores(clf, p) for p, _ in short_clips()})
    rows = []
    ons = np.round(np.arange(0.10, 0.96, 0.05), 2)
    for on, gap, min_on, min_off, sm in itertools.product(ons, (0.05, 0.1, 0.2), (0.0, 0.5, 1.0, 1.5, 2.0, 3.0),
                                                          (0.5, 1.0, 1.5, 2.0, 3.0, 5.0), (0.0, 0.3, 0.5, 1.0)):
        off = round(on - gap, 2)
        if off <= 0:
            continue
        st = WatchSettings(on_threshold=float(on), off_threshold=off, min_on_s=min_on, min_off_s=min_off, smoothing_s=sm)
        score, tp, fp, fn, errs, car = evaluate(st, seqs, args.tolerance)
        if car:
            continue
        mae = float(np.mean(np.abs(errs))) if errs else 99.0
        rows.append((score, -mae, st, tp, fp, fn))
    if not rows:
        print("no setting gives zero enter events on the car clip")
        return 1
    best_f1 = max(r[0] for r in rows)
    rows = [r + (short_report(r[2], seqs)[0],) for r in rows if r[0] >= best_f1 - 1e-9]
    # ties: most short clips right, then the highest on-threshold (the widest margin against false
    # enters on scenes unlike these clips), then the smallest timing error
    rows.sort(key=lambda r: (r[6], r[2].on_threshold, r[1]), reverse=True)
    print(f"settings with no enter on {CAR_CLIP} and the best event F1 on {PERSON_CLIP} ({len(rows)}), "
          f"by clip-level checks on the short clips, then the highest on-threshold, then timing:")
    for score, nmae, st, tp, fp, fn, right in rows[: args.top]:
        print(f"  F1 {score:.3f} (tp {tp} fp {fp} fn {fn}) mean |dt| {-nmae:.2f}s  short clips {right}/{len(short_clips())}  "
              f"on {st.on_threshold} off {st.off_threshold} min_on_s {st.min_on_s} min_off_s {st.min_off_s} "
              f"smoothing_s {st.smoothing_s}")
    best = rows[0][2]
    print("picked: " + " ".join(f"-o Watch.{k}={getattr(best, k)}" for k in
                               ("on_threshold", "off_threshold", "min_on_s", "min_off_s", "smoothing_s")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
