"""ImageNet top-1 of a 1000-class model on the 1000 UGI images (one per class), at a given input size.

The label of each UGI image is the index of its WordNet id (``nXXXXXXXX`` in the file name) in the
sorted list of the 1000 ids, i.e. the usual ImageNet-1k class order.

    python benchmarks/imagenet_top1_ugi.py --arch MobileNetV2 --padding tf_same --mean 0.5 --std 0.5 \
        --weights ../shared/data/pretrained/MobileNetV2_imagenet_from_coral_int8.pdparams --size 96 128 224
    python benchmarks/imagenet_top1_ugi.py --arch PPLCNet_x1_0 --weights output/ssld_like/DistillationModel/latest \
        --student --size 96 --teacher-agreement

``--student`` reads a DistillationModel checkpoint (``Student.*`` keys). ``--teacher-agreement``
also reports how often the model's top-1 equals the MobileNetV2 teacher's at the same size.
Note: a model distilled on UGI has seen these images (without labels); its figure is not held out.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from personcls.shared_data import data_root

DATA = data_root(Path(__file__).resolve().parents[1])
TEACHER = DATA / "pretrained" / "MobileNetV2_imagenet_from_coral_int8.pdparams"


def ugi_items(root: Path):
    lst = root / "ugi" / "unlabeled_list.txt"
    paths = [ln.split()[0] for ln in lst.read_text().splitlines() if ln.strip()]
    wnids = [re.search(r"n\d{8}", p).group(0) for p in paths]
    order = {w: i for i, w in enumerate(sorted(set(wnids)))}
    assert len(order) == 1000, len(order)
    return [str(lst.parent / p) for p in paths], np.array([order[w] for w in wnids])


def build(arch, weights, padding, student):
    import paddle

    from personcls.training.models import build_model

    kw = {"padding": padding} if padding else {}
    net = build_model(arch, class_num=1000, **kw)
    w = str(weights)
    sd = paddle.load(w if w.endswith(".pdparams") else w + ".pdparams")
    if student:
        sd = {k[len("Student."):]: v for k, v in sd.items() if k.startswith("Student.")}
    missing, unexpected = net.set_state_dict(sd) or ([], [])
    net.eval()
    return net


def predict(net, paths, size, mean, std, bs=100):
    """Top-1 class per image; mean / std: one value for all channels, or three."""
    import paddle

    from personcls.imageio import read_image
    from personcls.preprocess import reference_preprocess
    from personcls.spec import PreprocessSpec

    mean = tuple(mean) if isinstance(mean, (tuple, list)) else (mean,) * 3
    std = tuple(std) if isinstance(std, (tuple, list)) else (std,) * 3
    spec = PreprocessSpec(resize_short=size, crop_size=size, mean=mean, std=std)
    out = []
    with paddle.no_grad():
        for i in range(0, len(paths), bs):
            x = np.stack([reference_preprocess(read_image(p), spec, color="BGR") for p in paths[i:i + bs]])
            out.append(net(paddle.to_tensor(x)).numpy().argmax(-1))
    return np.concatenate(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="MobileNetV2")
    ap.add_argument("--weights", default=str(TEACHER))
    ap.add_argument("--padding", default=None)
    ap.add_argument("--mean", type=float, default=None, help="one value for the 3 channels (default ImageNet's)")
    ap.add_argument("--std", type=float, default=None)
    ap.add_argument("--size", type=int, nargs="+", default=[96, 128, 224])
    ap.add_argument("--student", action="store_true")
    ap.add_argument("--teacher-agreement", action="store_true")
    ap.add_argument("--data", default=str(DATA))
    a = ap.parse_args()
    paths, labels = ugi_items(Path(a.data))
    net = build(a.arch, a.weights, a.padding, a.student)
    teacher = build("MobileNetV2", TEACHER, "tf_same", False) if a.teacher_agreement else None
    for s in a.size:
        if a.mean is None:
            from personcls.spec import IMAGENET_MEAN, IMAGENET_STD

            p = predict(net, paths, s, IMAGENET_MEAN, IMAGENET_STD)
        else:
            p = predict(net, paths, s, a.mean, a.std)
        msg = f"{a.arch} {Path(a.weights).name} size {s}: top-1 {np.mean(p == labels):.3f} on {len(paths)} UGI images"
        if teacher is not None:
            pt = predict(teacher, paths, s, 0.5, 0.5)
            msg += f"; teacher top-1 {np.mean(pt == labels):.3f}, agreement with teacher {np.mean(p == pt):.3f}"
        print(msg, flush=True)


if __name__ == "__main__":
    main()
