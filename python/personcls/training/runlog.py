"""What a training run tells the user and leaves in its run folder besides checkpoints:
the ``personcls.training`` log (stdout and ``train.log``), progress bars, the resolved
``config.yaml``, ``metrics.csv`` (one row per epoch), VisualDL scalars (``vdl/``) and the
per-epoch summary line.

``metrics.csv`` is also the run's history: a resumed run keeps the rows of the epochs it does
not redo, and ``RunLog.history()`` gives every epoch's figures as numbers (what ``train()``
returns).
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

log = logging.getLogger("personcls.training")

CSV_FIELDS = ["epoch", "lr", "train_loss", "train_acc", "val_acc", "precision", "recall", "f1", "tpr_at_fpr",
              "threshold", "seconds", "images_per_s", "bad_images", "mixed_views"]
_INT_FIELDS = ("epoch", "bad_images", "mixed_views")


def setup_logging(run_dir: Optional[Path] = None, rank: int = 0) -> None:
    log.setLevel(logging.INFO)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    fmt = logging.Formatter("[%(asctime)s] %(levelname)s %(message)s", "%H:%M:%S")
    sh = logging.StreamHandler(sys.stdout)
    sh.setFormatter(fmt)
    log.addHandler(sh)
    if run_dir is not None and rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(run_dir / "train.log")
        fh.setFormatter(fmt)
        log.addHandler(fh)
    if rank != 0:
        log.setLevel(logging.WARNING)


def progress(it, total: int, desc: str):
    """``it`` with a tqdm bar on a terminal; as is otherwise (logs, pipes)."""
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm

            return tqdm(it, total=total, desc=desc, leave=False, dynamic_ncols=True)
        except ImportError:
            pass
    return it


def report_unreadable(ds, bad: List[int], what: str) -> None:
    """Warn with the first 20 unreadable images (dataset indices ``bad``) and why each failed."""
    if not bad:
        return
    uniq = sorted(set(bad))
    log.warning("%s: skipped %d unreadable image(s):", what, len(uniq))
    for i in uniq[:20]:
        log.warning("  %s", ds.describe_failure(i))
    if len(uniq) > 20:
        log.warning("  ... and %d more", len(uniq) - 20)


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _typed(row: Dict[str, Any]) -> Dict[str, Any]:
    """A metrics.csv row as numbers (None for an empty cell, e.g. an epoch without evaluation)."""
    out: Dict[str, Any] = {}
    for k in CSV_FIELDS:
        v = row.get(k, "")
        out[k] = None if v in ("", None) else (int(v) if k in _INT_FIELDS else float(v))
    return out


def read_rows(csv_path: Path, before_epoch: Optional[int] = None) -> List[Dict[str, str]]:
    """The rows of ``metrics.csv`` (those of epochs < ``before_epoch`` when given)."""
    if not csv_path.is_file():
        return []
    with open(csv_path, newline="") as f:
        return [r for r in csv.DictReader(f) if r.get("epoch", "").isdigit()
                and (before_epoch is None or int(r["epoch"]) < before_epoch)]


def read_history(run_dir: Path) -> List[Dict[str, Any]]:
    """A run folder's epochs so far, as ``RunLog.history()`` gives them."""
    return [_typed(r) for r in read_rows(run_dir / "metrics.csv")]


class RunLog:
    """The run folder's log files for one ``train()`` call (rank 0 only; other ranks get a
    RunLog with ``active=False`` that writes nothing)."""

    def __init__(self, run_dir: Path, cfg: Dict[str, Any], start_epoch: int, use_visualdl: bool, active: bool = True):
        self.run_dir, self.active = run_dir, active
        self.csv_path = run_dir / "metrics.csv"
        self.writer = None
        self.rows: List[Dict[str, str]] = []
        if not active:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
        # a resumed run keeps the rows of the epochs it does not redo
        self.rows = read_rows(self.csv_path, before_epoch=start_epoch) if start_epoch > 1 else []
        with open(self.csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            w.writeheader()
            for r in self.rows:
                w.writerow({k: r.get(k, "") for k in CSV_FIELDS})
        if use_visualdl:
            if start_epoch == 1 and (run_dir / "vdl").exists():
                shutil.rmtree(run_dir / "vdl", ignore_errors=True)
            try:
                from visualdl import LogWriter

                self.writer = LogWriter(logdir=str(run_dir / "vdl"))
            except Exception as e:  # visualdl missing or broken: training goes on
                log.warning("VisualDL disabled: %s", e)

    def epoch(self, row: Dict[str, Any], val: Optional[Dict[str, Any]], lr: float, epochs: int, improved: bool) -> None:
        """Record one finished epoch: its metrics.csv row, VisualDL scalars and summary line."""
        if not self.active:
            return
        row = {k: row.get(k, "") for k in CSV_FIELDS}
        self.rows.append({k: str(v) for k, v in row.items()})
        with open(self.csv_path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=CSV_FIELDS).writerow(row)
        epoch = int(row["epoch"])
        if self.writer is not None:
            self.writer.add_scalar("train/loss", float(row["train_loss"]), epoch)
            self.writer.add_scalar("train/acc", float(row["train_acc"]), epoch)
            self.writer.add_scalar("train/lr", lr, epoch)
            self.writer.add_scalar("train/images_per_s", float(row["images_per_s"]), epoch)
            if val is not None:
                for k in ("acc", "precision", "recall", "f1", "tpr_at_fpr"):
                    self.writer.add_scalar(f"eval/{k}", float(val[k]), epoch)
            self.writer.flush()
        msg = (f"epoch {epoch}/{epochs}: lr {lr:.5f} train loss {row['train_loss']} acc {row['train_acc']} "
               f"({row['images_per_s']} img/s)")
        if val is not None:
            msg += (f" | val acc {val['acc']:.4f} P {val['precision']:.3f} R {val['recall']:.3f} F1 {val['f1']:.3f} "
                    f"TPR@FPR<={val['max_fpr']:g} {val['tpr_at_fpr']:.3f} (thr {val['threshold']:.4f})")
            if improved:
                msg += " [best]"
        log.info("%s; %ss", msg, row["seconds"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def history(self) -> List[Dict[str, Any]]:
        """Every epoch of the run so far (kept rows of earlier calls included), as numbers with
        the precision metrics.csv holds."""
        return [_typed(r) for r in self.rows]
