"""Evaluate an exported model folder as deployed, on a labeled list, and pick its threshold.

    personcls eval MODEL_DIR LIST [--pick-threshold [acc|fpr]] [--max-fpr 0.01] [--out DIR]

The images go through :class:`personcls.Classifier` (the model's own preprocessing and
backend), so the figures are those of deployment. The decision is the SDK's:
P(someone) >= threshold. ``--pick-threshold`` stores the picked threshold in the folder's
``personcls.json`` through :func:`personcls.modelfolder.store_threshold` (the module the SDK reads it with).
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import imageio
from .errors import InputError
from .modelfolder import META_FILE, store_threshold
from .spec import decide

PICK_RULES = ("acc", "fpr")


def read_labeled_list(list_file: os.PathLike) -> List[Tuple[str, int]]:
    """(path, label) of every line of a PaddleClas list; every line must carry a label."""
    out = []
    for path, rel, label in imageio.read_list_file(list_file):
        if label is None:
            raise InputError(f"{list_file}: line {rel!r} has no label (expected 'relative/path label')")
        out.append((path, label))
    return out


def pick_threshold(scores: np.ndarray, labels: np.ndarray, rule: str = "acc", max_fpr: float = 0.01,
                   positive: int = 1) -> float:
    """A threshold on P(someone) (decision: score >= threshold) from labeled scores.

    ``acc``: the best accuracy (ties: the one nearest 0.5). ``fpr``: the highest TPR with
    FPR <= ``max_fpr`` (ties: the highest threshold). Candidates are 0.5 and the midpoints
    between neighbouring distinct scores (and just outside both ends).
    """
    s = np.asarray(scores, np.float64)
    pos = np.asarray(labels) == positive
    if len(s) == 0:
        raise InputError("no scores to pick a threshold from")
    u = np.unique(s)
    cands = np.clip(np.concatenate([[0.5], (u[:-1] + u[1:]) / 2, [u[0] - 1e-6, u[-1] + 1e-6]]), 0.0, 1.0)
    sp, sn = np.sort(s[pos]), np.sort(s[~pos])
    tp = len(sp) - np.searchsorted(sp, cands, side="left")  # positives with score >= t
    fp = len(sn) - np.searchsorted(sn, cands, side="left")
    if rule == "acc":
        accs = (tp + (len(sn) - fp)) / len(s)
        ok = cands[accs == accs.max()]
        return float(ok[np.argmin(np.abs(ok - 0.5))])
    if rule == "fpr":
        if not len(sp) or not len(sn):
            raise InputError("--pick-threshold fpr needs both someone and nobody images in the list")
        tpr = tp / len(sp)
        fpr = fp / len(sn)
        ok = fpr <= max_fpr
        best = tpr[ok].max()
        return float(cands[ok & (tpr == best)].max())
    raise InputError(f"threshold rule {rule!r} is not one of {PICK_RULES}")


def score_list(clf, items: Sequence[Tuple[str, int]]):
    """P(someone) per listed image; unreadable images are left out and returned by name."""
    scores, labels, paths, failed = [], [], [], []
    for (path, label), r in zip(items, clf.predict_iter([p for p, _ in items], names=[p for p, _ in items])):
        if r.ok:
            scores.append(r.person_score)
            labels.append(label)
            paths.append(path)
        else:
            failed.append(f"{r.error}")
    return np.asarray(scores, np.float64), np.asarray(labels, np.int64), paths, failed


def evaluate_folder(clf, list_file: os.PathLike, out_dir: os.PathLike, max_fpr: float = 0.01,
                    pick: Optional[str] = None, plots: bool = True) -> Dict[str, Any]:
    """Metrics of ``clf`` (a Classifier over a model folder) on ``list_file``; writes
    ``metrics.json``, ``scores.csv`` and (with matplotlib) ``roc.png`` / ``pr.png`` in ``out_dir``.
    With ``pick``, stores the picked threshold in the model folder's ``personcls.json``."""
    from .metrics import binary_metrics

    t0 = time.time()
    items = read_labeled_list(list_file)
    s, y, paths, failed = score_list(clf, items)
    if len(s) == 0:
        raise InputError(f"{list_file}: no listed image could be read ({len(failed)} failed; first: {failed[0]})")
    thr = clf.postprocessor.threshold
    report: Dict[str, Any] = {"model_dir": str(clf.model_dir), "list": str(list_file), "backend": clf.backend,
                              "failed": failed}
    if pick:
        old = thr
        thr = pick_threshold(s, y, pick, max_fpr)
        report["picked"] = {"rule": pick, "threshold": thr, "previous_threshold": old}
    probs = np.stack([1.0 - s, s], axis=1)
    met = binary_metrics(probs, y, positive=1, max_fpr=max_fpr, threshold=thr)
    report.update(met)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if plots:
        try:
            from .metrics import save_curves

            curves = save_curves(probs, y, out, positive=1, title=Path(clf.model_dir).name, operating_point=thr)
            report.update(roc_auc=curves["roc_auc"], average_precision=curves["average_precision"],
                          roc_png=curves["roc"], pr_png=curves["pr"])
        except ImportError as e:
            report["plots"] = f"not written: {e} (pip install matplotlib)"
    report["seconds"] = round(time.time() - t0, 3)
    tmp = out / ".scores.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "p_someone", "someone"])
        for p, lab, sc in zip(paths, y, s):
            w.writerow([p, int(lab), f"{sc:.6f}", int(decide(sc, thr))])
    os.replace(tmp, out / "scores.csv")
    from .backends import machine_info

    # figures depend on the CPU (reduced precisions) and the versions (decoders, runtimes)
    report["measured_on"] = machine_info(("personcls", "openvino", "paddlepaddle", "numpy",
                                          "opencv-python-headless", "simplejpeg"))
    tmp = out / ".metrics.json.tmp"
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, out / "metrics.json")
    if pick:
        store_threshold(clf.model_dir, thr, {k: report[k] for k in ("list", "n", "acc", "precision", "recall", "f1",
                                                                     "tpr_at_fpr", "max_fpr", "backend",
                                                                     "measured_on") if k in report}
                        | {"rule": pick})
    return report


def format_report(r: Dict[str, Any]) -> str:
    lines = [f"{r['list']}: {r['n']} images ({len(r['failed'])} unreadable), model {r['model_dir']} ({r['backend']})",
             f"threshold {r['decision_threshold']:.4f}: acc {r['acc']:.4f}  precision {r['precision']:.4f}  "
             f"recall {r['recall']:.4f}  F1 {r['f1']:.4f}",
             f"TPR {r['tpr_at_fpr']:.4f} at FPR {r['fpr']:.4f} <= {r['max_fpr']:g} (score > {r['threshold']:.4f})"]
    if "roc_auc" in r:
        lines.append(f"ROC AUC {r['roc_auc']:.4f}  AP {r['average_precision']:.4f}")
    if "picked" in r:
        p = r["picked"]
        lines.append(f"picked threshold {p['threshold']:.4f} (rule {p['rule']}; was {p['previous_threshold']:.4f}), "
                     f"stored in {Path(r['model_dir']) / META_FILE}")
    return "\n".join(lines)
