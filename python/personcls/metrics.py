"""Binary person / no-person metrics (class ``positive`` = someone) and curves."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from .spec import decide


def tpr_at_fpr(pos_scores: np.ndarray, neg_scores: np.ndarray, max_fpr: float = 0.01) -> Tuple[float, float, float]:
    """PULC's TprAtFpr: over thresholds t = 0, 0.0001, ..., 0.9999 (score > t is positive), the
    highest TPR whose FPR <= ``max_fpr``; returns (tpr, fpr, threshold) of the first such t."""
    pos = np.sort(np.asarray(pos_scores, np.float64))
    neg = np.sort(np.asarray(neg_scores, np.float64))
    if len(pos) == 0:
        return 0.0, 0.0, 0.0
    t = np.arange(10000) / 10000.0
    tpr = (len(pos) - np.searchsorted(pos, t, side="right")) / len(pos)
    fpr = ((len(neg) - np.searchsorted(neg, t, side="right")) / len(neg)) if len(neg) else np.zeros_like(t)
    ok = fpr <= max_fpr
    if not ok.any():
        return 0.0, 0.0, 0.0
    cand = np.where(ok, tpr, -1.0)
    i = int(np.argmax(cand))  # first threshold reaching the maximum, as PULC's strict '>' update
    if cand[i] <= 0:
        return 0.0, 0.0, 0.0
    return float(tpr[i]), float(fpr[i]), float(t[i])


def binary_metrics(probs: np.ndarray, labels: np.ndarray, positive: int = 1, max_fpr: float = 0.01,
                   threshold: Optional[float] = None) -> Dict[str, float]:
    """Accuracy, precision / recall / F1 of ``positive``, TPR at FPR <= ``max_fpr``.

    The decision is the argmax, or with ``threshold`` :func:`personcls.spec.decide` (the SDK's
    rule; another class is then the most probable of the rest)."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels).astype(np.int64)
    n = len(labels)
    if n == 0:
        return {"n": 0}
    if threshold is None:
        pred = probs.argmax(axis=1)
    else:
        others = probs.copy()
        others[:, positive] = -np.inf
        pred = np.where(decide(probs[:, positive], threshold), positive, others.argmax(axis=1))
    acc = float((pred == labels).mean())
    tp = int(((pred == positive) & (labels == positive)).sum())
    fp = int(((pred == positive) & (labels != positive)).sum())
    fn = int(((pred != positive) & (labels == positive)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    score = probs[:, positive]
    tpr, fpr, thr = tpr_at_fpr(score[labels == positive], score[labels != positive], max_fpr)
    out = {"n": n, "acc": acc, "precision": precision, "recall": recall, "f1": f1,
           "tpr_at_fpr": tpr, "fpr": fpr, "threshold": thr, "max_fpr": float(max_fpr)}
    if threshold is not None:
        out["decision_threshold"] = float(threshold)
    return out


def roc_curve(score: np.ndarray, is_pos: np.ndarray):
    order = np.argsort(-score, kind="stable")
    s, y = score[order], is_pos[order].astype(np.float64)
    distinct = np.r_[np.where(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(y)[distinct]
    fps = (1 + distinct) - tps
    P, N = max(y.sum(), 1), max(len(y) - y.sum(), 1)
    tpr = np.r_[0.0, tps / P]
    fpr = np.r_[0.0, fps / N]
    prec = np.r_[1.0, tps / np.maximum(tps + fps, 1)]
    return fpr, tpr, prec, s[distinct]


def auc(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.trapezoid(y, x)) if hasattr(np, "trapezoid") else float(np.trapz(y, x))


def _save(plt, fig, ax, xlabel: str, ylabel: str, title: str, legend_loc: str, path: Path) -> str:
    """Label a unit-square curve plot, write it to ``path`` and close it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title.strip())
    ax.set_xlim(0, 1), ax.set_ylim(0, 1.01), ax.legend(loc=legend_loc), ax.grid(alpha=0.3)
    fig.savefig(str(path), dpi=100, bbox_inches="tight")
    plt.close(fig)
    return str(path)


def save_curves(probs: np.ndarray, labels: np.ndarray, out_dir: Path, positive: int = 1, title: str = "",
                operating_point: Optional[float] = None) -> Dict[str, str]:
    """Write ``roc.png`` and ``pr.png`` (matplotlib, Agg); returns {name: path} and AUCs.
    ``operating_point``: a threshold on P(positive) marked on both curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    score = np.asarray(probs, np.float64)[:, positive]
    is_pos = np.asarray(labels) == positive
    fpr, tpr, prec, _ = roc_curve(score, is_pos)
    roc_auc = auc(fpr, tpr)
    ap = float(np.sum(np.diff(np.r_[0.0, tpr[1:]]) * prec[1:])) if is_pos.any() else 0.0
    paths = {}
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, lw=2, label=f"ROC (AUC {roc_auc:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    op = None
    if operating_point is not None:
        dec = score >= operating_point
        tp, fp = int((dec & is_pos).sum()), int((dec & ~is_pos).sum())
        op = (fp / max(int((~is_pos).sum()), 1), tp / max(int(is_pos.sum()), 1), tp / max(tp + fp, 1))
        ax.plot([op[0]], [op[1]], "o", color="red", ms=8,
                label=f"threshold {operating_point:.3g}: TPR {op[1]:.3f}, FPR {op[0]:.3f}")
    paths["roc"] = _save(plt, fig, ax, "false positive rate (nobody called someone)",
                         "true positive rate (someone found)", f"ROC {title}", "lower right", out_dir / "roc.png")
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(tpr[1:], prec[1:], lw=2, label=f"PR (AP {ap:.3f})")
    if op is not None:
        ax.plot([op[1]], [op[2]], "o", color="red", ms=8,
                label=f"threshold {operating_point:.3g}: recall {op[1]:.3f}, precision {op[2]:.3f}")
    paths["pr"] = _save(plt, fig, ax, "recall (someone)", "precision (someone)", f"Precision-recall {title}",
                        "lower left", out_dir / "pr.png")
    return {**paths, "roc_auc": roc_auc, "average_precision": ap}
