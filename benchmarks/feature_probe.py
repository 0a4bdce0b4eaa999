"""How much does a backbone already know about people? A linear probe on its frozen pooled features.

For each weights file: the pooled vector(s) of the network on the vww images (whole image resized to
``--size``, the person stage's input; no augmentation), standardised, then a logistic regression
(scikit-learn):
- fitted on vww/train_list.txt (C by 5-fold cross-validation on train only), scored on
  vww/val_list.txt (acc at P >= 0.5, AUC);
- 10-fold cross-validation over the 600 train + val images (acc, AUC): less noisy than 100 val
  images, but it is not unseen data for a student that trained on vww train.
PPLCNet gives two vectors, the 512-d pooled last stage and the 1280-d one after ``last_conv``
(what its classifier reads); MobileNetV2 gives its 1280-d pooled vector.

    python benchmarks/feature_probe.py \\
        mnv2=../shared/data/pretrained/MobileNetV2_imagenet_from_coral_int8.pdparams \\
        start=output/ssld_big/PPLCNet_x1_0_ssld_like.pdparams \\
        student=output/pt_ssld/DistillationModel/latest.pdparams

``name=path`` per model; a name starting with ``mnv2`` is read as MobileNetV2 (TF padding, mean =
std = 0.5), any other as PPLCNet_x1_0 (ImageNet mean / std); a DistillationModel checkpoint's
``Student.`` keys are used when present. ``--json`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from personcls.shared_data import data_root

DATA = data_root(Path(__file__).resolve().parents[1])
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def load_list(path: Path):
    """(image paths, labels) of a labeled list file, read as training reads it."""
    from personcls.training.data import read_list

    entries = read_list(path, labeled=True, class_num=2)
    return [e.path for e in entries], np.array([e.label for e in entries])


def vectors(fns, paths, mean, std, size, bs=100):
    """{name: [N, d]} for each ``fns`` entry (a function of the input batch)."""
    import paddle

    from personcls.imageio import read_image
    from personcls.preprocess import reference_preprocess
    from personcls.spec import PreprocessSpec

    spec = PreprocessSpec(resize_short=0, resize_size=(size, size), crop_size=(size, size), mean=mean, std=std)
    out = {k: [] for k in fns}
    with paddle.no_grad():
        for i in range(0, len(paths), bs):
            x = paddle.to_tensor(np.stack([reference_preprocess(read_image(p), spec, color="BGR")
                                           for p in paths[i:i + bs]]))
            for k, fn in fns.items():
                out[k].append(fn(x).numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def probe(Xtr, ytr, Xva, yva):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def model(C=1.0):
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, C=C))

    gs = GridSearchCV(model(), {"logisticregression__C": [1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1]}, cv=5)
    gs.fit(Xtr, ytr)
    C = gs.best_params_["logisticregression__C"]
    p_va = gs.best_estimator_.predict_proba(Xva)[:, 1]
    X, y = np.concatenate([Xtr, Xva]), np.concatenate([ytr, yva])
    p = cross_val_predict(model(C), X, y, cv=StratifiedKFold(10, shuffle=True, random_state=0),
                          method="predict_proba")[:, 1]
    return {"C": C, "val_acc": float(((p_va >= 0.5) == yva).mean()), "val_auc": float(roc_auc_score(yva, p_va)),
            "cv_acc": float(((p >= 0.5) == y).mean()), "cv_auc": float(roc_auc_score(y, p))}


def networks(name: str, path: str):
    """(mean, std, {vector name: fn}) for one weights file."""
    import paddle

    from personcls.errors import ModelError
    from personcls.training.models import build_model
    from personcls.training.weights import CORAL_MNV2_MEAN_STD, CORAL_MNV2_PADDING, load_state

    try:
        state, _ = load_state(path)
    except ModelError as e:
        raise SystemExit(f"{name}: {e}") from None
    if any(k.startswith("Student.") for k in state):
        state = {k[len("Student."):]: v for k, v in state.items() if k.startswith("Student.")}
    if name.startswith("mnv2"):
        net = build_model("MobileNetV2", class_num=1000, padding=CORAL_MNV2_PADDING)
        head = "out."
        mean, std = CORAL_MNV2_MEAN_STD
    else:
        net = build_model("PPLCNet_x1_0", class_num=2)
        head = "fc."
        mean, std = IMAGENET
    state = {k: v for k, v in state.items() if not k.startswith(head)}
    missing = [k for k in net.state_dict() if k not in state and not k.startswith(head)]
    if missing:
        raise SystemExit(f"{path}: not a {type(net).__name__} file (missing {missing[:3]})")
    net.set_state_dict(state)
    net.eval()
    if name.startswith("mnv2"):
        return mean, std, {"1280": lambda x: net.embed(net.forward_features(x))}
    return mean, std, {"512": lambda x: paddle.flatten(net.avg_pool(net.forward_features(x)), 1),
                       "1280": lambda x: net.embed(net.forward_features(x))}


def main():
    import paddle

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="name=path.pdparams")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--json")
    a = ap.parse_args()
    paddle.set_device("cpu")
    vww = Path(a.data) / "vww"
    trp, ytr = load_list(vww / "train_list.txt")
    vap, yva = load_list(vww / "val_list.txt")
    results = {}
    for spec in a.models:
        name, _, path = spec.partition("=")
        if not path:
            raise SystemExit(f"{spec!r}: expected name=path")
        mean, std, fns = networks(name, path)
        tr, va = vectors(fns, trp, mean, std, a.size), vectors(fns, vap, mean, std, a.size)
        for k in fns:
            r = probe(tr[k], ytr, va[k], yva)
            results[f"{name} {k}"] = dict(r, weights=path)
            print(f"{name + ' ' + k:24s} C {r['C']:.0e}  val acc {r['val_acc']:.2f} AUC {r['val_auc']:.3f}  "
                  f"10-fold on 600: acc {r['cv_acc']:.3f} AUC {r['cv_auc']:.3f}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"size": a.size, "results": results}, indent=1))


if __name__ == "__main__":
    main()
