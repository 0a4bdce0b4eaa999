"""Fused native preprocessing vs the cv2 + numpy reference, 1280x720 BGR frame -> 224.

Prints ms per frame and the speed-up over the reference measured in the same run, on one
thread (cv2 also limited to one thread) and with the native batch spread over N threads.

    python benchmarks/bench_preprocess.py [--image ../shared/data/demo/cat_720p.jpg] [--repeat 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from personcls import PreprocessSpec
from personcls.preprocess import Preprocessor, reference_batch

REPO = Path(__file__).resolve().parents[1]


def timeit(fn, repeat: int, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", default=str(REPO.parent / "shared" / "data" / "demo" / "cat_720p.jpg"))
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    frame = cv2.imread(args.image)
    if frame is None:
        raise SystemExit(f"cannot read {args.image}")
    if frame.shape[:2] != (720, 1280):
        frame = cv2.resize(frame, (1280, 720))
    spec = PreprocessSpec()  # short side 256, crop 224, ImageNet mean/std, BGR -> RGB
    cores = os.cpu_count() or 1
    print(f"frame 1280x720 BGR -> 3x224x224 float32 RGB; {cores} cores; cv2 {cv2.__version__}")

    cv2.setNumThreads(1)
    ref1 = timeit(lambda: reference_batch([frame], spec), args.repeat)
    nat1 = timeit(lambda: Preprocessor(spec, threads=1)([frame]), args.repeat)
    pp1 = Preprocessor(spec, threads=1)
    nat1_reuse = timeit(lambda: pp1([frame]), args.repeat)
    print(f"{'1 frame, 1 thread':34s} reference {ref1 * 1e3:7.3f} ms   native {nat1_reuse * 1e3:7.3f} ms   "
          f"speed-up {ref1 / nat1_reuse:5.2f}x")

    batch = [frame] * args.batch
    ref_b = timeit(lambda: reference_batch(batch, spec), max(20, args.repeat // 4)) / args.batch
    out = np.empty((args.batch, 3, 224, 224), np.float32)
    for threads in sorted({1, 2, cores}):
        pp = Preprocessor(spec, threads=threads)
        t = timeit(lambda: pp(batch, out=out), max(20, args.repeat // 4)) / args.batch
        print(f"{f'batch {args.batch}, {threads} thread(s)':34s} reference {ref_b * 1e3:7.3f} ms   native {t * 1e3:7.3f} ms   "
              f"speed-up {ref_b / t:5.2f}x  (per frame)")
    cv2.setNumThreads(cores)
    ref_mt = timeit(lambda: reference_batch(batch, spec), max(20, args.repeat // 4)) / args.batch
    pp = Preprocessor(spec, threads=0)
    t = timeit(lambda: pp(batch, out=out), max(20, args.repeat // 4)) / args.batch
    print(f"{f'batch {args.batch}, all cores both':34s} reference {ref_mt * 1e3:7.3f} ms   native {t * 1e3:7.3f} ms   "
          f"speed-up {ref_mt / t:5.2f}x  (per frame)")
    print(f"(for scale: nat1 with a fresh Preprocessor per call {nat1 * 1e3:.3f} ms)")


if __name__ == "__main__":
    main()
