"""How much fast decode moves P(someone), against a full decode, and against two kinds of noise
a full decode has anyway (the photo shifted by one pixel; re-encoded as JPEG quality 90).

    python benchmarks/fast_decode_effect.py                 # shipped model, margins 1 and 2
    python benchmarks/fast_decode_effect.py --model DIR --margins 1 2 4 --ugi 300

``--margins``: fast decode keeps the decoded image at least this many times the size the resize
needs (personcls uses imageio.FAST_DECODE_MARGIN). Photos: the 14 demo photos and the first
``--ugi`` images of ugi/ (256 px short side). Also times decoding a 1280x720 JPEG full and fast.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from personcls import imageio
from personcls.classifier import Classifier
from personcls.shared_data import data_root
from personcls.spec import decide

REPO = Path(__file__).resolve().parents[1]


def scores(clf, items):
    return np.array([r.person_score for r in clf.predict(items)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--margins", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--ugi", type=int, default=300)
    a = ap.parse_args()
    data = data_root(REPO)
    sets = {"demo": sorted(str(p) for p in (data / "demo").glob("*.jpg"))}
    lst = data / "ugi" / "unlabeled_list.txt"
    if a.ugi and lst.is_file():
        sets[f"ugi{a.ugi}"] = [str(data / "ugi" / ln.split()[0]) for ln in lst.read_text().splitlines()
                               if ln.strip()][:a.ugi]
    full = Classifier(a.model, backend="auto")
    thr = full.postprocessor.threshold
    ref = {k: scores(full, v) for k, v in sets.items()}

    def report(label, got):
        parts = []
        for k, g in got.items():
            d = np.abs(g - ref[k])
            parts.append(f"{k}: max {d.max():.3f} mean {d.mean():.3f}, {int((decide(g, thr) != decide(ref[k], thr)).sum())} "
                         f"of {len(g)} decisions changed")
        print(f"{label:34s} " + " | ".join(parts), flush=True)

    saved = imageio.FAST_DECODE_MARGIN
    for m in a.margins:
        imageio.FAST_DECODE_MARGIN = m
        fast = Classifier(a.model, backend="auto", fast_decode=True)
        report(f"fast decode, margin {m}", {k: scores(fast, v) for k, v in sets.items()})
    imageio.FAST_DECODE_MARGIN = saved

    def reencode(p):
        return cv2.imencode(".jpg", cv2.imread(p), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()

    report("full decode, shifted by 1 pixel", {k: scores(full, [np.ascontiguousarray(cv2.imread(p)[1:, 1:]) for p in v])
                                               for k, v in sets.items()})
    report("full decode, JPEG q90 re-encoded", {k: scores(full, [reencode(p) for p in v]) for k, v in sets.items()})

    jpg = (data / "demo" / "cat_720p.jpg").read_bytes()
    pre = full.meta.preprocess
    need = pre.resize_short or max(pre.resize_size)
    for label, ms in (("full", None), (f"fast (margin {saved})", (need * saved, need * saved))):
        imageio.decode_bytes(jpg, "w", ms)
        t0 = time.perf_counter()
        for _ in range(30):
            imageio.decode_bytes(jpg, "t", ms)
        print(f"decode 1280x720 JPEG, {label}: {(time.perf_counter() - t0) / 30 * 1e3:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
