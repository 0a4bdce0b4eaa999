"""Summarise benchmarks/ablation.sh runs: one row per run folder under OUT (default
output/ablation), from its metrics.csv. Prints a markdown table and writes OUT/ablation.csv.
    python benchmarks/ablation_table.py [OUT] [row ...]"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROWS = [("scratch", "PPLCNet_x1_0, random start"), ("pretrained", "+ pretrained start (text-orientation PPLCNet)"),
        ("eda", "+ EDA (RandAugment p=0.5, RandomErasing p=0.5)"),
        ("distill_teacher", "+ distillation, teacher `teacher` (MobileNetV2), vww + 1000 UGI"),
        ("distill_teacher2", "+ distillation, teacher `teacher2` (MobileNetV2), vww + 1000 UGI"),
        ("searched", "+ searched hyperparameters (lr 0.02, crops 8-100%, no EDA), teacher `teacher2`"),
        ("searched_crops50", "searched lr 0.02 with the shipped recipe's crops 50-100%, teacher `teacher2`"),
        ("shipped_10ep", "the shipped recipe (lr 0.01, crops 50-100%, no EDA, teacher `teacher2`) at 10 epochs"),
        ("teacher", "teacher `teacher`: MobileNetV2 ImageNet start, lr 0.0003, crops 8-100%"),
        ("teacher2", "teacher `teacher2`: MobileNetV2 ImageNet start, lr 0.0005, crops 50-100%")]


def summary(run: Path):
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    rows = [r for r in rows if r.get("val_acc")]
    if not rows:
        return None
    last = rows[-1]
    best = max(rows, key=lambda r: (float(r["val_acc"]), -int(r["epoch"])))
    ips = sorted(float(r["images_per_s"]) for r in rows)
    return {"epochs": last["epoch"], "final_acc": float(last["val_acc"]), "final_tpr": float(last["tpr_at_fpr"]),
            "best_acc": float(best["val_acc"]), "best_epoch": best["epoch"], "best_tpr": float(best["tpr_at_fpr"]),
            "minutes": sum(float(r["seconds"]) for r in rows) / 60, "img_s": ips[len(ips) // 2]}


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "output/ablation")
    want = sys.argv[2:]
    lines = ["| run | strategy | epochs | val acc (last epoch) | TPR@FPR<=0.01 (last) | best val acc (epoch) | "
             "train min | img/s |", "|---|---|---|---|---|---|---|---|"]
    recs = []
    for name, what in ROWS:
        if want and name not in want:
            continue
        runs = [d for d in (out / name).glob("*") if (d / "metrics.csv").is_file()] if (out / name).is_dir() else []
        if not runs:
            continue
        s = summary(runs[0])
        if s is None:
            continue
        recs.append(dict(s, run=name, strategy=what))
        lines.append(f"| {name} | {what} | {s['epochs']} | {s['final_acc']:.2f} | {s['final_tpr']:.2f} | "
                     f"{s['best_acc']:.2f} ({s['best_epoch']}) | {s['minutes']:.1f} | {s['img_s']:.0f} |")
    print("\n".join(lines))
    if recs:
        with open(out / "ablation.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(recs[0]))
            w.writeheader()
            w.writerows(recs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
