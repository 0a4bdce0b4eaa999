"""Evaluation of a network on ``DataLoader.Eval``: each epoch of a training run
(``run_eval``), and ``personcls eval`` of a checkpoint (``evaluate``), which writes
``<checkpoint folder>/eval/<checkpoint>-<list>/`` with ``eval_metrics.json``, ``roc.png`` and
``pr.png``.

Probabilities are the softmax of the network's logits on the eval view (the ``Preprocess``
section, the same numbers the export writes); the metrics at the decision threshold and the
TPR at ``Metric.Eval.TprAtFpr.max_fpr`` come from ``metrics.binary_metrics``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from ..errors import InputError
from . import config_access as C
from . import data as D
from ..metrics import binary_metrics, save_curves
from .nets import load_for_inference
from .runlog import atomic_write_text, progress, report_unreadable, setup_logging

log = logging.getLogger("personcls.training")


def run_eval(model, ds: D.ListDataset, loader, cfg) -> Tuple[Dict[str, Any], np.ndarray, np.ndarray, List[int]]:
    """Evaluate; returns (metrics, probs of readable images, labels, indices of unreadable images)."""
    import paddle
    import paddle.nn.functional as F

    model.eval()
    probs, labels, bad = [], [], []
    with paddle.no_grad():
        for x, y, idx, ok in progress(loader, len(loader), "eval"):
            m = ok.numpy().astype(bool)
            if not m.all():
                bad += [int(i) for i in idx.numpy()[~m]]
            if not m.any():
                continue
            if not m.all():
                x = paddle.to_tensor(x.numpy()[m])
            p = F.softmax(model(x).astype("float32"), axis=-1).numpy()
            probs.append(p)
            labels.append(y.numpy()[m])
    if not probs:
        raise InputError(f"no evaluation image could be read ({len(bad)} failed)")
    P, L = np.concatenate(probs), np.concatenate(labels)
    met = binary_metrics(P, L, positive=1, max_fpr=C.max_fpr(cfg))
    met["bad_images"] = len(bad)
    return met, P, L, bad


def eval_dir_of(cfg) -> Path:
    """Where ``eval`` writes: ``<checkpoint folder>/eval/<checkpoint name>-<list file name>/``,
    so evaluating one run never overwrites another run's (or another list's) results."""
    ckpt = C.weights_prefix(str(C.need(cfg, "Global.pretrained_model")))
    lst = C.get(cfg, "DataLoader.Eval.dataset.cls_label_path")
    lst = Path(str(lst[0] if isinstance(lst, list) else lst)).name
    return Path(ckpt).parent / "eval" / f"{Path(ckpt).name}-{lst}"


def evaluate(cfg: Dict[str, Any]) -> int:
    """``personcls eval -c CONFIG -o Global.pretrained_model=CHECKPOINT``."""
    setup_logging(None)
    spec = C.preprocess_spec(cfg)
    model, src = load_for_inference(cfg, "eval")
    run_dir = eval_dir_of(cfg)
    ds, loader = D.build_eval_data(cfg, spec)
    t0 = time.time()
    with D.cv2_single_thread():
        met, P, L, bad = run_eval(model, ds, loader, cfg)
    report_unreadable(ds, bad, "eval")
    run_dir.mkdir(parents=True, exist_ok=True)
    curves = save_curves(P, L, run_dir, positive=1, title=str(C.get(cfg, "Arch.name")))
    met.update({"roc_auc": curves["roc_auc"], "average_precision": curves["average_precision"],
                "weights": src.get("pretrained_model"), "list": C.get(cfg, "DataLoader.Eval.dataset.cls_label_path"),
                "preprocess": spec.to_dict(),
                "seconds": round(time.time() - t0, 3)})
    atomic_write_text(run_dir / "eval_metrics.json", json.dumps(met, indent=2) + "\n")
    log.info("eval %s at %s px on %s (%d images): acc %.4f precision %.4f recall %.4f F1 %.4f TPR %.4f at FPR %.4f <= %g "
             "(threshold %.4f) ROC AUC %.4f", C.get(cfg, "Arch.name"), "x".join(map(str, spec.crop_size)), met["list"],
             met["n"], met["acc"], met["precision"], met["recall"], met["f1"], met["tpr_at_fpr"], met["fpr"],
             met["max_fpr"], met["threshold"], met["roc_auc"])
    log.info("wrote %s, %s, %s", run_dir / "eval_metrics.json", curves["roc"], curves["pr"])
    return 0
