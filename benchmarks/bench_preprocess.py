"""Fused native preprocessing vs the cv2 + numpy reference: a thin wrapper over
``personcls benchmark --profile``.

Prints the preprocess stage of the profile (ms per 1280x720 frame, wall and process CPU)
for the Classifier (native kernel, one input per call on one thread, as its decode pool runs
it) and for the PaddleClas-style baseline (cv2.resize + numpy normalise), both measured in
the same run, and their ratio.

    python benchmarks/bench_preprocess.py [--model DIR] [--images DIR] [--batch 8]
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model folder (default: the shipped model)")
    ap.add_argument("--images", nargs="+", help="image files or folders (default: synthetic 1280x720 frames)")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args(argv)

    from personcls.benchmark import BASELINE, format_setup, run_benchmark

    rep = run_benchmark(args.model, images=args.images, frames=args.frames, batches=[args.batch],
                        backends=["native"], precisions=["fp32"], modes=["model-only"], rounds=1, seconds=0.1,
                        profile=True)
    print("\n".join(format_setup(rep["setup"])))
    prof = {p["config"]: p for p in rep["profile"]}
    if BASELINE not in prof:
        sys.exit("the reference row needs the paddle backend (pip install 'personcls[paddle]')")
    ref = prof.pop(BASELINE)
    for name, p in prof.items():
        w, c = p["ms_per_image"]["preprocess"], p["cpu_ms_per_image"]["preprocess"]
        rw, rc = ref["ms_per_image"]["preprocess"], ref["cpu_ms_per_image"]["preprocess"]
        print(f"preprocess per frame: reference {rw:.3f} ms (cpu {rc:.3f}), {name} {w:.3f} ms (cpu {c:.3f}): "
              f"{rw / w:.1f}x wall, {rc / c:.1f}x cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
