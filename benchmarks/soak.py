"""Soak: many frames through one Classifier, resident memory at start, after warm-up and at the
end, and answers that do not drift; then one Classifier shared by 8 threads, whose answers must
be bit-identical to a single thread's.

    python benchmarks/soak.py                       # 10,000 frames, native and paddle, 8 threads
    python benchmarks/soak.py --frames 2000 --backends native --threads 4

Inputs: the demo photos of ../shared/data/demo (or $PERSONCLS_DATA/demo), JPEG-encoded, cycled,
given to ``predict`` as a list of 10,000 encoded images (so decoding, batching and the
streaming of a long list are all exercised) and to ``predict_iter`` as a generator. Prints one
line per backend and mode, and exits 1 if memory grows by more than --max-growth-mb after
warm-up or if any answer differs from the first answer for the same photo.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time
from pathlib import Path

from personcls.shared_data import data_root

REPO = Path(__file__).resolve().parents[1]


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def rss_mb() -> float:
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    return _status_mb("VmHWM")


def photos(data: Path):
    files = sorted((data / "demo").glob("*.jpg"))
    if not files:
        raise SystemExit(f"no demo photos in {data / 'demo'} (set PERSONCLS_DATA)")
    return [f.name for f in files], [f.read_bytes() for f in files]


def soak(backend: str, names, blobs, frames: int, warmup: int, mode: str) -> dict:
    from personcls.classifier import Classifier

    start = rss_mb()
    clf = Classifier(backend=backend, batch_size=8)
    n = len(blobs)
    ref = [r.person_score for r in clf.predict(list(blobs))]
    for r in clf.predict([blobs[i % n] for i in range(warmup)]):
        assert r.ok, r.error
    gc.collect()
    warm = rss_mb()
    t0 = time.perf_counter()
    items = (blobs[i % n] for i in range(frames))
    if mode == "list":
        results = clf.predict([blobs[i % n] for i in range(frames)])
    else:
        results = clf.predict_iter(items)
    drift = failed = count = 0
    for i, r in enumerate(results):
        count += 1
        if not r.ok:
            failed += 1
        elif r.person_score != ref[i % n]:
            drift += 1
    dt = time.perf_counter() - t0
    gc.collect()
    end = rss_mb()
    clf.close()
    return {"backend": backend, "mode": mode, "frames": count, "failed": failed, "drift": drift,
            "rss_start_mb": start, "rss_warm_mb": warm, "rss_end_mb": end, "seconds": dt}


def threads_identical(backend: str, blobs, threads: int, rounds: int) -> dict:
    from personcls.classifier import Classifier

    clf = Classifier(backend=backend, batch_size=4)
    ref = [r.person_score for r in clf.predict(list(blobs))]
    mismatches, errors = [], []

    def worker(k):
        try:
            for j in range(rounds):
                order = list(range(len(blobs)))[k % len(blobs):] + list(range(len(blobs)))[:k % len(blobs)]
                got = clf.predict([blobs[i] for i in order])
                for i, r in zip(order, got):
                    if not r.ok or r.person_score != ref[i]:
                        mismatches.append((k, j, i))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    clf.close()
    return {"backend": backend, "threads": threads, "answers": threads * rounds * len(blobs),
            "mismatches": len(mismatches), "errors": errors, "seconds": time.perf_counter() - t0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--backends", nargs="+", default=None, help="default: every available backend")
    ap.add_argument("--modes", nargs="+", default=["list", "iter"], choices=["list", "iter"])
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5, help="passes over the photos per thread")
    ap.add_argument("--max-growth-mb", type=float, default=64.0)
    a = ap.parse_args()
    from personcls.backends import available_backends, machine_info

    data = data_root(REPO)
    names, blobs = photos(data)
    info = machine_info(("personcls", "openvino", "paddlepaddle", "numpy", "opencv-python-headless", "simplejpeg"))
    print(f"# {info['cpu']}, {os.cpu_count()} cores, {info['versions']}")
    ok = True
    for b in a.backends or available_backends():
        for mode in a.modes:
            r = soak(b, names, blobs, a.frames, a.warmup, mode)
            growth = r["rss_end_mb"] - r["rss_warm_mb"]
            good = r["failed"] == 0 and r["drift"] == 0 and growth <= a.max_growth_mb
            ok &= good
            print(f"soak {b:6s} {mode:4s} {r['frames']} frames in {r['seconds']:.1f} s "
                  f"({r['frames'] / r['seconds']:.0f}/s): RSS start {r['rss_start_mb']:.0f} MB, after warm-up "
                  f"{r['rss_warm_mb']:.0f} MB, end {r['rss_end_mb']:.0f} MB (growth {growth:+.1f} MB); "
                  f"failed {r['failed']}, drifted {r['drift']}  {'ok' if good else 'FAIL'}", flush=True)
        t = threads_identical(b, blobs, a.threads, a.rounds)
        good = t["mismatches"] == 0 and not t["errors"]
        ok &= good
        print(f"threads {b:6s} {t['threads']} threads, {t['answers']} answers in {t['seconds']:.1f} s: "
              f"{t['mismatches']} differ from one thread's{' ' + str(t['errors'][:2]) if t['errors'] else ''}  "
              f"{'ok' if good else 'FAIL'}", flush=True)
    print(f"peak RSS of the whole run: {peak_rss_mb():.0f} MB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
