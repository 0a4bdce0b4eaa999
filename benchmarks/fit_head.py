"""A person classifier from a frozen ImageNet MobileNetV2: a linear head fitted to the teachers.

The ImageNet MobileNetV2's pooled features already separate the vww classes far better than any
distilled PPLCNet (linear probe on 500 labels: val 0.87, docs/ablation.md). This script keeps that
backbone frozen and fits only its 1280 -> 2 head, over the person-teacher recipe's transfer set
(the training config's ``DataLoader.Train.dataset.cls_label_path``):

- inputs: each whole image at ``--size`` (the student's input: whole-image resize, mean = std = 0.5)
  and its mirror image;
- targets: the config's External teacher ensemble on the whole image (offline targets:
  ``Teacher.targets: offline``), and on labeled images the recipe's mix of teacher and label
  (KL weight 1 + label CE weight 0.5, i.e. the soft target (p_teacher + 0.5 y) / 1.5);
- fit: L2-regularised logistic regression on standardised features, soft targets as two weighted
  rows per view; C picked by 5-fold cross-validation (folds by image, both views together) on the
  transfer set's soft log-loss: no vww val image is used for any choice.

The head (standardisation folded in) and the backbone are written as a DistillationModel checkpoint
(``Student.*`` keys), ready for ``personcls export`` with the MobileNetV2 student options:

    python benchmarks/fit_head.py --out output/mnv2_head/DistillationModel/latest
    personcls export -c training/configs/PPLCNet_x1_0_person_teachers.yaml \\
        -o "Arch.models.1.Student={name: MobileNetV2, class_num: 2, padding: tf_same}" \\
        -o "Preprocess.mean=[0.5, 0.5, 0.5]" -o "Preprocess.std=[0.5, 0.5, 0.5]" \\
        -o Global.pretrained_model=output/mnv2_head/DistillationModel/latest -o Global.save_inference_dir=DIR

``--weights`` is the backbone (default: the BN-unfolded file of benchmarks/bn_unfold.py, whose
inference function equals the shared TFLite-derived weights).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LABEL_WEIGHT = 0.5  # the recipe's DistillationGTCELoss weight next to KL weight 1


def features(paths, size, weights, bs=64):
    """[N, 2, 1280] pooled vectors of each image and its mirror image."""
    import paddle

    from personcls.imageio import read_image
    from personcls.preprocess import reference_preprocess
    from personcls.spec import PreprocessSpec
    from personcls.training.models import MobileNetV2
    from personcls.training.weights import CORAL_MNV2_MEAN_STD, CORAL_MNV2_PADDING, load_pretrained

    net = MobileNetV2(class_num=1000, padding=CORAL_MNV2_PADDING)
    load_pretrained(net, weights, min_fraction=1.0, strict_shapes=True)
    net.eval()
    mean, std = CORAL_MNV2_MEAN_STD
    spec = PreprocessSpec(resize_short=0, resize_size=(size, size), crop_size=(size, size), mean=mean, std=std)

    def prep(p):
        return reference_preprocess(read_image(p), spec, color="BGR")

    out = np.zeros((len(paths), 2, 1280), np.float32)
    t0 = time.time()
    with ThreadPoolExecutor(2) as pool, paddle.no_grad():
        for i in range(0, len(paths), bs):
            x = np.stack(list(pool.map(prep, paths[i:i + bs])))
            x2 = np.concatenate([x, x[:, :, :, ::-1]])
            e = net.embed(net.forward_features(paddle.to_tensor(np.ascontiguousarray(x2)))).numpy()
            n = len(x)
            out[i:i + n, 0], out[i:i + n, 1] = e[:n], e[n:]
            if (i // bs) % 20 == 0:
                print(f"features {i + n}/{len(paths)} ({time.time() - t0:.0f} s)", flush=True)
    return out


def soft_rows(f, t):
    """Rows for a soft-target logistic fit: each view twice, labels 1 / 0, weights t / 1 - t."""
    return (np.concatenate([f, f]), np.concatenate([np.ones(len(f)), np.zeros(len(f))]),
            np.concatenate([t, 1 - t]))


def soft_logloss(p, t):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))


def fit(feats, targets, cs, folds=5, seed=0):
    """(C, cv losses, fitted LogisticRegression, mean, std) over views of ``feats`` [N, 2, d]."""
    from sklearn.linear_model import LogisticRegression

    n = len(feats)
    d = feats.shape[-1]
    mu = feats.reshape(-1, d).mean(0)
    sd = feats.reshape(-1, d).std(0) + 1e-6
    z = (feats - mu) / sd
    fold = np.random.default_rng(seed).permutation(n) % folds
    cv = {}
    for c in cs:
        losses = []
        for k in range(folds):
            tr, te = fold != k, fold == k
            x, y, w = soft_rows(z[tr].reshape(-1, d), np.repeat(targets[tr], 2))
            m = LogisticRegression(C=c, max_iter=2000).fit(x, y, sample_weight=w)
            losses.append(soft_logloss(m.predict_proba(z[te].reshape(-1, d))[:, 1], np.repeat(targets[te], 2)))
        cv[c] = float(np.mean(losses))
        print(f"C {c:g}: CV soft log-loss {cv[c]:.4f}", flush=True)
    best = min(cv, key=cv.get)
    x, y, w = soft_rows(z.reshape(-1, d), np.repeat(targets, 2))
    m = LogisticRegression(C=best, max_iter=4000).fit(x, y, sample_weight=w)
    return best, cv, m, mu, sd


def _rel(path):
    p = Path(path).resolve()
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p)


def recipe(args, report):
    """How this checkpoint was made, for the exported model's provenance."""
    return {"method": "frozen backbone, linear head fitted to teacher targets (benchmarks/fit_head.py)",
            "backbone": _rel(args.weights), "input": f"whole image at {args.size} px and its mirror",
            "targets": f"External teacher of {Path(args.config).name}, offline (whole image); labeled images "
                       f"(p + {LABEL_WEIGHT} y) / {1 + LABEL_WEIGHT}",
            "fit": "L2 logistic regression on standardised pooled vectors, C by 5-fold CV on the transfer set",
            **report}


def fold_head(m, mu, sd):
    """(weight [d, 2], bias [2]) of a 2-class Linear on the raw vectors that gives the fitted
    model's probabilities: the standardisation folded in, and since softmax over two logits is the
    sigmoid of their difference, the fitted logit split evenly over the two classes."""
    w = m.coef_[0] / sd
    b = float(m.intercept_[0] - (m.coef_[0] * mu / sd).sum())
    return (np.stack([-w / 2, w / 2], axis=1).astype(np.float32), np.array([-b / 2, b / 2], np.float32))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(REPO / "training/configs/PPLCNet_x1_0_person_teachers.yaml"))
    ap.add_argument("--weights", default=str(REPO / "output/mnv2_unfolded/MobileNetV2_imagenet_unfolded"))
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--c", type=float, nargs="+", default=[0.001, 0.01, 0.1])
    ap.add_argument("--out", required=True, help="checkpoint prefix (.pdparams is added)")
    ap.add_argument("--json", help="write what was fitted and the CV figures here")
    args = ap.parse_args()

    import paddle

    from personcls.training import config_access as C
    from personcls.training import data as D
    from personcls.training import distill
    from personcls.training.teachers import ExternalTeacher

    cfg = C.load(args.config, [])
    entries = D.read_lists(C.get(cfg, "DataLoader.Train.dataset.cls_label_path"), None, C.class_num(cfg))
    seen, uniq = set(), []
    for e in entries:  # a list named twice counts once: the head sees each image once
        if e.path not in seen:
            seen.add(e.path)
            uniq.append(e)
    paths = [e.path for e in uniq]
    labels = np.array([e.label for e in uniq])
    te = {k: v for k, v in distill.sub_models(cfg)["Teacher"].items() if k != "_index"}
    te["targets"] = "offline"
    teacher = ExternalTeacher(te, "Arch.models.0.Teacher")
    teacher.prepare_cache(paths)
    p_t = teacher.combine_probs(teacher.member_probs(None, np.arange(len(paths)), None)).astype(np.float64)
    lab = labels >= 0
    targets = p_t.copy()
    targets[lab] = (p_t[lab] + LABEL_WEIGHT * labels[lab]) / (1 + LABEL_WEIGHT)
    print(f"{len(paths)} images ({lab.sum()} labeled); mean target {targets.mean():.3f}", flush=True)

    t0 = time.time()
    feats = features(paths, args.size, args.weights)
    t_feat = time.time() - t0
    best, cv, m, mu, sd = fit(feats, targets, args.c)
    head_w, head_b = fold_head(m, mu, sd)

    state = {f"Student.{k}": v for k, v in paddle.load(str(args.weights) + ".pdparams").items()
             if not k.startswith("out.")}
    state["Student.out.weight"] = paddle.to_tensor(head_w)
    state["Student.out.bias"] = paddle.to_tensor(head_b)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.pdparams")
    paddle.save(state, str(tmp))
    tmp.replace(out.with_name(out.name + ".pdparams"))
    fitted = m.predict_proba(((feats - mu) / sd).reshape(-1, feats.shape[-1]))[:, 1].reshape(-1, 2).mean(1)
    report = {"images": len(paths), "labeled": int(lab.sum()), "size": args.size, "C": best, "cv_soft_logloss": cv,
              "train_agreement_with_teacher": float(((fitted >= 0.5) == (p_t >= 0.5)).mean()),
              "train_acc_labeled": float(((fitted[lab] >= 0.5) == (labels[lab] == 1)).mean()),
              "feature_seconds": round(t_feat, 1)}
    print(json.dumps(report, indent=1))
    # beside the checkpoint: `personcls export` records "recipe" in the model's personcls.json
    side = out.with_name(out.name + ".json")
    side.write_text(json.dumps({"recipe": recipe(args, report)}, indent=1) + "\n")
    print(f"saved {out}.pdparams and {side.name}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
