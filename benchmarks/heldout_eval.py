"""Score an exported model on the selection set and on data no choice touched, and its agreement
with the person-aware teachers.

    python benchmarks/heldout_eval.py [--model DIR] [--teachers] [--json FILE]

Sets (labels: 1 someone, 0 nobody):
  val      ../shared/data/vww/val_list.txt: 100 96x96 images; epochs, thresholds and recipes were
           picked on it, so its figures are optimistic (selection)
  demo     ../shared/data/demo: 14 full-resolution photos (unselected)
  video    output/transfer/video_heldout_list.txt: every frame of car-detection (nobody) and of six
           ASL clips (someone), clips no training frame came from (unselected; made by
           benchmarks/make_transfer_set.py, which this script runs when the list is missing)

Each set is scored as ``personcls predict`` prints it: the first class id of the Topk line (the
class with the higher score), as balanced accuracy (mean of the two classes' recall) and
accuracy; ``at_threshold`` uses the model's stored threshold instead. ``--teachers`` adds the
agreement of those decisions with the teacher ensemble of the training config (whole image).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from personcls.shared_data import data_root

REPO = Path(__file__).resolve().parents[1]


def scores(decisions: np.ndarray, labels: np.ndarray) -> dict:
    pos, neg = labels == 1, labels == 0
    rec1 = float(decisions[pos].mean()) if pos.any() else float("nan")
    rec0 = float((1 - decisions[neg]).mean()) if neg.any() else float("nan")
    ba = np.nanmean([rec1, rec0])
    return {"n": int(len(labels)), "someone": int(pos.sum()), "balanced_acc": round(float(ba), 4),
            "acc": round(float((decisions == labels).mean()), 4), "recall_someone": round(rec1, 4),
            "recall_nobody": round(rec0, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="exported model folder (default: the shipped model)")
    ap.add_argument("--data", default=str(data_root(REPO)))
    ap.add_argument("--transfer", default=str(REPO / "output" / "transfer"))
    ap.add_argument("--teachers", action="store_true", help="also report agreement with the teachers")
    ap.add_argument("--config", default=str(REPO / "training" / "configs" / "PPLCNet_x1_0_person_teachers.yaml"),
                    help="training config whose External teacher is used for --teachers")
    ap.add_argument("--precision", default="fp32", help="native engine CPU precision: fp32, bf16 or int8")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import personcls
    from personcls.evaluate import read_labeled_list as read_labeled

    data, transfer = Path(args.data), Path(args.transfer)
    held = transfer / "video_heldout_list.txt"
    if not held.is_file():
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "make_transfer_set.py"), "--data", str(data),
                        "--out", str(transfer)], check=True)
    sets = {
        "val (selection)": read_labeled(data / "vww" / "val_list.txt"),
        "demo (unselected)": read_labeled(data / "demo" / "labels.txt"),
        "video (unselected)": read_labeled(held),
    }
    from personcls.backends import RuntimeOptions

    opts = RuntimeOptions(cpu_precision=args.precision) if args.precision != "fp32" else None
    clf = personcls.Classifier(args.model, backend="auto" if opts is None else "native", options=opts)
    thr = clf.postprocessor.threshold
    teacher = None
    if args.teachers:
        import yaml

        from personcls.training import distill

        cfg = yaml.safe_load(Path(args.config).read_text())
        te = {k: v for k, v in distill.sub_models(cfg)["Teacher"].items() if k != "_index"}
        te["targets"] = "offline"
        from personcls.training.teachers import ExternalTeacher

        teacher = ExternalTeacher(te, "teacher")
    report = {"model": str(clf.model_dir), "threshold": thr, "backend": clf.backend, "precision": args.precision,
              "sets": {}}
    for name, items in sets.items():
        paths = [p for p, _ in items]
        labels = np.array([lab for _, lab in items])
        res = clf.predict(paths)
        errs = [r for r in res if r.error is not None]
        if errs:
            raise SystemExit(f"{name}: {len(errs)} image(s) failed, first: {errs[0].error}")
        first = np.array([r.class_ids[0] for r in res])
        row = scores(first, labels)
        row["at_threshold"] = scores(np.array([r.someone for r in res]).astype(int), labels)
        if teacher is not None:
            teacher.cached.clear()
            teacher.prepare_cache(paths)
            tp = teacher.combine_probs(teacher.member_probs(None, np.arange(len(paths)), None))
            td = (tp >= 0.5).astype(int)
            row["teacher"] = scores(td, labels)
            row["agreement_with_teacher"] = round(float((td == first).mean()), 4)
        report["sets"][name] = row
        line = (f"{name:20s} n={row['n']:4d}  balanced acc {row['balanced_acc']:.3f}  acc {row['acc']:.3f}  "
                f"(at thr {thr:.3f}: {row['at_threshold']['balanced_acc']:.3f})")
        if teacher is not None:
            line += f"  teacher {row['teacher']['balanced_acc']:.3f}  agreement {row['agreement_with_teacher']:.3f}"
        print(line, flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
