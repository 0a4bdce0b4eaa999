"""Evaluate an exported personcls model folder as deployed (personcls.Classifier), pick its
decision threshold on a labeled list, store it, and check it on labeled photos.

    python benchmarks/finish_model.py MODEL_DIR --val ../shared/data/vww/val_list.txt \
        [--demo ../shared/data/demo] [--pick-threshold] [--json out.json]

--pick-threshold stores in MODEL_DIR/personcls.json the threshold on P(someone) with the best
accuracy on --val (ties: the one nearest 0.5; the midpoint between neighbouring scores), and
records the exported model's val figures at 0.5 and at that threshold under
``metrics.exported_val``. The demo check reads ``labels.txt`` in --demo.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def scores(clf, paths):
    out = []
    for i in range(0, len(paths), 32):
        out += [r.person_score for r in clf.predict_batch(paths[i:i + 32])]
    return np.asarray(out, np.float64)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--val", required=True)
    ap.add_argument("--demo", default=None)
    ap.add_argument("--pick-threshold", action="store_true")
    ap.add_argument("--max-fpr", type=float, default=0.01)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)

    from personcls import Classifier
    from personcls.evaluate import pick_threshold
    from personcls.evaluate import read_labeled_list as read_labeled
    from personcls.spec import ModelMeta
    from personcls.training.metrics import binary_metrics

    clf = Classifier(a.model_dir)
    items = read_labeled(Path(a.val))
    s = scores(clf, [p for p, _ in items])
    y = np.array([lab for _, lab in items])
    probs = np.stack([1 - s, s], axis=1)
    m = binary_metrics(probs, y, positive=1, max_fpr=a.max_fpr)
    acc05 = float(((s >= 0.5) == (y == 1)).mean())
    report = {"val_list": a.val, "n": len(y), "acc_at_0.5": acc05, "tpr_at_fpr": m["tpr_at_fpr"],
              "max_fpr": a.max_fpr, "tpr_threshold": m["threshold"]}
    try:
        from sklearn.metrics import roc_auc_score  # optional
        report["roc_auc"] = float(roc_auc_score(y, s))
    except Exception:
        pass
    meta = ModelMeta.load(a.model_dir)
    thr = meta.postprocess.threshold
    if a.pick_threshold:
        thr = pick_threshold(s, y, "acc")
        report["picked_threshold"] = thr
        report["acc_at_picked"] = float(((s >= thr) == (y == 1)).mean())
        meta.set_threshold(thr)
        meta.metrics = dict(meta.metrics, exported_val=dict(report, threshold_rule="best val accuracy, ties nearest 0.5"))
        meta.save(a.model_dir)
    print(f"val {a.val}: n {len(y)}  acc@0.5 {acc05:.4f}  TPR {m['tpr_at_fpr']:.4f} at FPR<={a.max_fpr:g} "
          f"(threshold {m['threshold']:.4f})" + (f"  picked threshold {thr:.4f} -> acc {report['acc_at_picked']:.4f}"
                                                  if a.pick_threshold else ""))
    if a.demo:
        demo = read_labeled(Path(a.demo) / "labels.txt")
        ds = scores(clf, [p for p, _ in demo])
        right = 0
        rows = []
        for (p, lab), sc in zip(demo, ds):
            pred = int(sc >= thr)
            right += pred == lab
            rows.append({"image": Path(p).name, "label": lab, "p_someone": round(float(sc), 4), "pred": pred})
            print(f"  {Path(p).name:28s} label {lab} P(someone) {sc:.4f} -> {'someone' if pred else 'nobody'}"
                  f"{'' if pred == lab else '   WRONG'}")
        print(f"demo: {right}/{len(demo)} right at threshold {thr:.4f}")
        report["demo"] = {"right": int(right), "n": len(demo), "threshold": thr, "rows": rows}
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
