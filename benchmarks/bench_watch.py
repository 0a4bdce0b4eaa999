"""Throughput and latency of `personcls watch` against a naive loop, measured in the same run.

    python benchmarks/bench_watch.py [--seconds 5] [--live-seconds 10] [--model DIR]

1. File mode, 1 / 4 / 8 simultaneous streams of the shared one-by-one clip, each run for
   --seconds: frames/s and decode-to-decision latency (p50 / p95) of the Watcher (a decoding
   thread per stream, frames of all streams batched into one Classifier call) against a naive
   loop over the same streams in one thread (`cv2.VideoCapture.read` then `Classifier.predict`
   frame by frame, round robin). Prints the ratios.
2. Live mode: N streams of the clip paced at 10 fps each (like cameras), for --live-seconds,
   N = 1, 2, 4, 8, ... until frames are dropped: dropped frames and p95 latency per N, and the
   largest N held with no dropped frame.
Latency is from the moment a frame is decoded to the moment its decision is made. `cpu ms` is
the process's CPU time (all threads) per processed frame: on a shared, loaded machine it is a
steadier comparison than frames/s (the CPU-time ratio is naive / watch: above 1, watch spends
less CPU per frame).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from personcls.shared_data import data_root

REPO = Path(__file__).resolve().parents[1]
CLIP = data_root(REPO) / "video" / "one-by-one-person-detection.mp4"


def naive(clf, n_streams, seconds):
    import cv2

    caps = [cv2.VideoCapture(str(CLIP)) for _ in range(n_streams)]
    lat = []
    t0 = time.perf_counter()
    c0 = time.process_time()
    done = 0
    while time.perf_counter() - t0 < seconds:
        for cap in caps:
            ok, img = cap.read()
            if not ok:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            t_read = time.perf_counter()
            clf.predict(img)
            lat.append((time.perf_counter() - t_read) * 1e3)
            done += 1
    el = time.perf_counter() - t0
    cpu_ms = (time.process_time() - c0) * 1e3 / max(1, done)
    for cap in caps:
        cap.release()
    return done / el, float(np.percentile(lat, 50)), float(np.percentile(lat, 95)), cpu_ms


def watch(clf, n_streams, seconds, **kw):
    from personcls.video import Watcher, WatchSettings

    st = WatchSettings(max_seconds=seconds, **kw)
    w = Watcher(clf, [str(CLIP)] * n_streams, st)
    c0 = time.process_time()
    for _ in w:
        pass
    w.summary.cpu_ms = (time.process_time() - c0) * 1e3 / max(1, w.summary.processed)
    return w.summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--live-seconds", type=float, default=10.0)
    ap.add_argument("--max-live", type=int, default=32)
    ap.add_argument("--live-buffer", type=int, default=1, help="Watch.live_buffer of the live runs (1: latest frame wins)")
    ap.add_argument("--model")
    args = ap.parse_args()
    if not CLIP.is_file():
        sys.exit(f"{CLIP} not found")
    from personcls import Classifier

    clf = Classifier(args.model)
    print(f"{clf}; {os.cpu_count()} CPU(s); clip {CLIP.name} (768x432, 10 fps)")
    clf.predict(np.zeros((432, 768, 3), np.uint8))  # warm-up
    print("\nfile mode (as fast as possible), per run", args.seconds, "s")
    print(f"{'streams':>7} | {'naive fps':>9} {'p50 ms':>7} {'p95 ms':>7} {'cpu ms':>6} | {'watch fps':>9} {'p50 ms':>7} "
          f"{'p95 ms':>7} {'cpu ms':>6} | fps ratio, CPU-time ratio")
    for n in (1, 4, 8):
        nf, n50, n95, ncpu = naive(clf, n, args.seconds)
        s = watch(clf, n, args.seconds)
        print(f"{n:>7} | {nf:9.1f} {n50:7.1f} {n95:7.1f} {ncpu:6.2f} | {s.fps:9.1f} {s.latency_p50_ms:7.1f} "
              f"{s.latency_p95_ms:7.1f} {s.cpu_ms:6.2f} | {s.fps / nf:.2f}x, {ncpu / s.cpu_ms:.2f}x", flush=True)
    print(f"\nlive mode: streams paced at 10 fps each, {args.live_seconds} s per run, live_buffer {args.live_buffer}")
    print(f"{'streams':>7} | {'fps':>6} {'processed':>9} {'dropped':>7} {'p50 ms':>7} {'p95 ms':>7}")
    held = 0
    n = 1
    while n <= args.max_live:
        s = watch(clf, n, args.live_seconds, mode="live", pace=True, live_buffer=args.live_buffer)
        print(f"{n:>7} | {s.fps:6.1f} {s.processed:9d} {s.dropped:7d} {s.latency_p50_ms:7.1f} {s.latency_p95_ms:7.1f}",
              flush=True)
        if s.dropped:
            break
        held = n
        n *= 2
    print(f"\nheld with no dropped frame: {held} live stream(s) of 10 fps"
          + (f" (dropped at {n})" if n <= args.max_live else f" (not tried beyond {args.max_live})"))
    clf.close()


if __name__ == "__main__":
    main()
