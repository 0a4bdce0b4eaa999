"""Compatibility wrapper over ``personcls eval`` (the command that evaluates an exported model
folder as deployed and stores its picked threshold through personcls.modelfolder).

    python benchmarks/finish_model.py MODEL_DIR --val ../shared/data/vww/val_list.txt \
        [--demo ../shared/data/demo] [--pick-threshold] [--max-fpr 0.01] [--json out.json]

is the same as

    personcls eval MODEL_DIR VAL [--pick-threshold acc] --max-fpr F --out OUT/val
    personcls eval MODEL_DIR DEMO/labels.txt --max-fpr F --out OUT/demo

(OUT: --json's file name without its suffix, else output/eval/...). --pick-threshold stores in
MODEL_DIR/personcls.json the threshold with the best accuracy on --val (ties: nearest 0.5), and
the val figures it was picked on under ``metrics.picked_threshold``. --json writes both reports
as {"val": ..., "demo": ...}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--val", required=True)
    ap.add_argument("--demo", default=None)
    ap.add_argument("--pick-threshold", action="store_true")
    ap.add_argument("--max-fpr", type=float, default=0.01)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)

    from personcls.cli import main as personcls

    root = Path(a.json).with_suffix("") if a.json else None
    runs = {"val": (a.val, ["--pick-threshold", "acc"] if a.pick_threshold else [])}
    if a.demo:
        runs["demo"] = (str(Path(a.demo) / "labels.txt"), [])
    reports = {}
    for name, (lst, extra) in runs.items():
        out = ["--out", str(root / name)] if root else []
        rc = personcls(["eval", a.model_dir, lst, "--max-fpr", str(a.max_fpr), *out, *extra])
        if rc >= 2:  # an error (1 only says some listed images were unreadable; eval named them)
            return rc
        if root:
            reports[name] = json.loads((root / name / "metrics.json").read_text())
    if a.json:
        Path(a.json).write_text(json.dumps(reports, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
