"""A stronger teacher without fine-tuning the backbone: a linear probe on the frozen ImageNet MobileNetV2.

Features: the pooled 1280-d output of MobileNetV2 (TF padding, mean = std = 0.5, the weights of
../shared/data/pretrained) on vww/train_list.txt at the student's input size (the un-augmented
view, plus its horizontal flip); a logistic regression (scikit-learn, C picked by 5-fold
cross-validation on train only) fitted on them. The fitted head is written into the model's 2-class
``out`` layer, so the file is a complete MobileNetV2 checkpoint that the distillation config takes as
``Arch.models.0.Teacher.pretrained`` (or ``personcls train`` as a fine-tuning start).

    python benchmarks/teacher_probe.py --out output/teacher_probe/MobileNetV2/best_model --size 96
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from personcls.shared_data import data_root

DATA = data_root(Path(__file__).resolve().parents[1])


def load_list(path: Path):
    items = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    return [str(path.parent / p) for p, _ in items], np.array([int(l) for _, l in items])


def features(net, paths, size, flip=False, bs=100):
    import paddle

    from personcls.imageio import read_image
    from personcls.preprocess import reference_preprocess
    from personcls.spec import PreprocessSpec

    spec = PreprocessSpec(resize_short=size, crop_size=size, mean=(0.5,) * 3, std=(0.5,) * 3)
    out = []
    with paddle.no_grad():
        for i in range(0, len(paths), bs):
            x = np.stack([reference_preprocess(read_image(p), spec, color="BGR") for p in paths[i:i + bs]])
            if flip:
                x = x[:, :, :, ::-1].copy()
            f = net.pool(net.forward_features(paddle.to_tensor(x)))
            out.append(paddle.flatten(f, start_axis=1).numpy())
    return np.concatenate(out)


def main():
    import paddle
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    from personcls.training.models import build_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="output/teacher_probe/MobileNetV2/best_model")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--data", default=str(DATA))
    a = ap.parse_args()
    data = Path(a.data)
    net = build_model("MobileNetV2", class_num=2, padding="tf_same")
    sd = paddle.load(str(data / "pretrained" / "MobileNetV2_imagenet_from_coral_int8.pdparams"))
    sd = {k: v for k, v in sd.items() if not k.startswith("out.")}
    net.set_state_dict(sd)
    net.eval()
    tr_p, tr_y = load_list(data / "vww" / "train_list.txt")
    va_p, va_y = load_list(data / "vww" / "val_list.txt")
    Xtr = np.concatenate([features(net, tr_p, a.size), features(net, tr_p, a.size, flip=True)])
    ytr = np.concatenate([tr_y, tr_y])
    Xva = features(net, va_p, a.size)
    # C by 5-fold cross-validation on the original train images only (an image and its flip must not
    # sit in different folds); the final head is fitted on both views
    gs = GridSearchCV(LogisticRegression(max_iter=5000), {"C": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]}, cv=5)
    gs.fit(Xtr[: len(tr_y)], tr_y)
    C = gs.best_params_["C"]
    clf = LogisticRegression(max_iter=5000, C=C).fit(Xtr, ytr)
    acc_tr = clf.score(Xtr, ytr)
    acc_va = clf.score(Xva, va_y)
    w, b = clf.coef_[0].astype(np.float32), float(clf.intercept_[0])
    # 2-class softmax with logits (-z/2, z/2) equals the logistic sigmoid(z)
    W = np.stack([-w / 2, w / 2], axis=1)  # paddle Linear weight: [in, out]
    B = np.array([-b / 2, b / 2], np.float32)
    state = net.state_dict()
    state["out.weight"] = paddle.to_tensor(W)
    state["out.bias"] = paddle.to_tensor(B)
    net.set_state_dict(state)
    # check: the model's own forward reproduces the probe
    from personcls.imageio import read_image  # noqa: F401
    with paddle.no_grad():
        logits = net.out(paddle.to_tensor(Xva)).numpy()
    assert np.mean(logits.argmax(-1) == clf.predict(Xva)) == 1.0
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paddle.save(net.state_dict(), str(out) + ".pdparams")
    rep = {"size": a.size, "C": C, "cv_acc": float(gs.best_score_), "train_acc": float(acc_tr),
           "val_acc": float(acc_va), "weights": str(out) + ".pdparams"}
    Path(str(out) + "_probe.json").write_text(json.dumps(rep, indent=1))
    print(json.dumps(rep))


if __name__ == "__main__":
    main()
