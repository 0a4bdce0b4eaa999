#!/usr/bin/env python3
"""How to split the cores between the decode pool and inference: the measurement behind
``Classifier``'s defaults (``threads``, ``decode_threads``, ``prefetch``).

End to end from 1280x720 JPEG files to decisions, ``Classifier.predict(paths)``, native
engine. Every (inference threads, decode threads) split runs pipelined (``prefetch=2``:
decode of the next batches overlaps inference) and, as the reference, with ``prefetch=0``
(each batch decoded in the pool, then inferred: no overlap, the behaviour before the
pipeline). Rows are interleaved round-robin so foreign load hits them alike; images/s is
the median round, and each row's ratio to the first no-overlap row is the median over rounds of
the ratio within a round (paired, so that slow swings of foreign load cancel).

    python benchmarks/thread_split.py [--model DIR] [--images DIR] [--batch 8] [--rounds 5]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model folder (default: the shipped model)")
    ap.add_argument("--images", nargs="+", help="image files or folders (default: 64 synthetic 1280x720 frames)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="inference threads to try")
    ap.add_argument("--decode-threads", type=int, nargs="+", default=[1, 2, 3], help="decode threads to try")
    ap.add_argument("--backend", default="native")
    args = ap.parse_args(argv)

    from personcls.benchmark import collect_images, format_setup, machine_setup, synthetic_frames
    from personcls.classifier import Classifier

    with tempfile.TemporaryDirectory(prefix="personcls-split-") as tmp:
        paths = collect_images(args.images) if args.images else synthetic_frames(tmp, 64)
        setup = machine_setup()
        print(format_setup({**setup, "model_dir": args.model or "shipped", "input_size": ["?", "?"],
                            "inputs": f"{len(paths)} files", "prefetch_batches": "0 / 2",
                            "baseline_threads": "-", "rows": {}, "threads": {}, "fast_decode": {}})[0])
        print(f"# load average at start {setup['load_average']}; batch {args.batch}; backend {args.backend}")
        rows = {}
        for t, d, pf in itertools.product(args.threads, args.decode_threads, (0, 2)):
            rows[(t, d, pf)] = Classifier(args.model, backend=args.backend, threads=t, decode_threads=d,
                                          batch_size=args.batch, prefetch=pf)
        for c in rows.values():
            c.predict(paths[:2 * args.batch])  # warm-up
        ips = {k: [] for k in rows}
        for _ in range(args.rounds):
            for k, c in rows.items():
                t0 = time.perf_counter()
                res = c.predict(paths)
                ips[k].append(len(paths) / (time.perf_counter() - t0))
                assert all(r.ok for r in res)
        ref_key = next(k for k in rows if k[2] == 0)
        print(f"{'infer thr':>9} {'decode thr':>10} {'prefetch':>8} {'img/s':>8} {'x ref':>6}   rounds (img/s)")
        for k, v in ips.items():
            # paired: each round's ratio to the reference measured right beside it, then the median
            ratio = float(np.median(np.asarray(v) / np.asarray(ips[ref_key])))
            print(f"{k[0]:>9} {k[1]:>10} {k[2]:>8} {np.median(v):8.1f} {ratio:6.2f}   {' '.join(f'{x:.0f}' for x in v)}")
        print(f"# reference: threads {ref_key[0]}, decode {ref_key[1]}, no overlap; load average at end "
              f"{os.getloadavg()[0]:.2f}")
        for c in rows.values():
            c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
