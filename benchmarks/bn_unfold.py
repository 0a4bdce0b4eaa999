"""Give a BatchNorm-folded network real BatchNorm statistics, without changing what it computes.

The shared ImageNet MobileNetV2 (``MobileNetV2_imagenet_from_coral_int8.pdparams``) comes from a
TFLite file whose BatchNorms were folded into the convolutions: every BN holds mean 0, variance
1 - 1e-5, weight 1 and the folded bias. In inference that is exact; but fine-tuning runs BN in
training mode, where each channel is normalised by its batch statistics, and with such a BN the
first step already rescales every channel to unit variance: the ImageNet features are gone before
any gradient arrives.

This script measures, for every BN, the per-channel mean and variance of its input over images
seen as training will see them (whole image, ``--size``, the network's own mean / std), and
rewrites each BN so that in inference it computes exactly the same function as before, now with
those statistics:

    y = (x - m0) / sqrt(v0 + eps) * g0 + b0        (before)
    y = (x - mu) / sqrt(var + eps) * g  + b        (after; mu, var measured)
    g = g0 * sqrt(var + eps) / sqrt(v0 + eps),   b = b0 + (mu - m0) * g0 / sqrt(v0 + eps)

so a batch whose statistics are close to (mu, var) gives nearly the same output in training mode.
The convolution before each BN is also rescaled, per output channel, to the weight norm sqrt(2)
(what He initialisation gives; its BN statistics scaled to match: the same function). A conv
followed by BN is scale-invariant, so it learns at a rate that grows as 1 / |w|^2: the folded
weights carry the folded BN scale, some channels tiny, and the first fine-tuning run without this
blew up within an epoch (conv weights x10, BN variances x1000, vww val 0.48).
Statistics are measured layer by layer in one pass (each BN sees the input its predecessors
produce with their original parameters, which the rewrite leaves unchanged in inference).

    python benchmarks/bn_unfold.py --out output/mnv2_unfolded/MobileNetV2_imagenet_unfolded
        [--weights ../shared/data/pretrained/MobileNetV2_imagenet_from_coral_int8.pdparams]
        [--list ../shared/data/ugi/unlabeled_list.txt] [--images 512] [--size 128]

Prints the largest output difference (inference mode, before vs after) and how far training-mode
outputs move, before and after, on held-back images.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

from personcls.shared_data import data_root

DATA = data_root(Path(__file__).resolve().parents[1])


def batches(paths, size, bs=64):
    import paddle

    from personcls.imageio import read_image
    from personcls.preprocess import reference_preprocess
    from personcls.spec import PreprocessSpec

    from personcls.training.weights import CORAL_MNV2_MEAN_STD

    mean, std = CORAL_MNV2_MEAN_STD
    spec = PreprocessSpec(resize_short=0, resize_size=(size, size), crop_size=(size, size), mean=mean, std=std)
    for i in range(0, len(paths), bs):
        yield paddle.to_tensor(np.stack([reference_preprocess(read_image(p), spec, color="BGR")
                                         for p in paths[i:i + bs]]))


def bn_layers(net):
    import paddle.nn as nn

    return [(n, m) for n, m in net.named_sublayers() if isinstance(m, nn.BatchNorm2D)]


def measure(net, xs):
    """{bn name: (mean, var)} of each BN's input over the input batches ``xs`` (inference mode,
    float64 sums)."""
    import paddle

    sums = {}

    def hook_for(name):
        def hook(layer, inputs):
            x = inputs[0].numpy().astype(np.float64)
            s = sums.setdefault(name, [0.0, 0.0, 0])
            s[0] = s[0] + x.sum(axis=(0, 2, 3))
            s[1] = s[1] + (x * x).sum(axis=(0, 2, 3))
            s[2] += x.shape[0] * x.shape[2] * x.shape[3]
        return hook

    handles = [m.register_forward_pre_hook(hook_for(n)) for n, m in bn_layers(net)]
    net.eval()
    with paddle.no_grad():
        for x in xs:
            net(x)
    for h in handles:
        h.remove()
    out = {}
    for n, (s1, s2, cnt) in sums.items():
        mu = s1 / cnt
        out[n] = (mu, np.maximum(s2 / cnt - mu * mu, 0.0))
    return out


def rewrite(net, stats):
    """Each ConvBN's conv weights rescaled per output channel to the norm sqrt(2) (He
    initialisation's), its BN given the measured statistics in that scale: the same function in
    inference mode (module docstring)."""
    import paddle

    convs = {n: m for n, m in net.named_sublayers() if isinstance(m, paddle.nn.Conv2D)}
    for n, m in bn_layers(net):
        conv = convs[n.rsplit(".", 1)[0] + "._conv"]
        mu, var = stats[n]
        eps = float(m._epsilon)
        m0 = m._mean.numpy().astype(np.float64)
        v0 = m._variance.numpy().astype(np.float64)
        g0 = m.weight.numpy().astype(np.float64)
        b0 = m.bias.numpy().astype(np.float64)
        k0 = g0 / np.sqrt(v0 + eps)
        w = conv.weight.numpy().astype(np.float64)
        norm = np.sqrt((w.reshape(w.shape[0], -1) ** 2).sum(1))
        c = np.sqrt(2.0) / np.maximum(norm, 1e-12)  # x' = c x
        mu_c, var_c = c * mu, c * c * var
        g = k0 * np.sqrt(var_c + eps) / c
        b = b0 + (mu - m0) * k0
        for p, v in ((conv.weight, w * c.reshape(-1, 1, 1, 1)), (m._mean, mu_c), (m._variance, var_c),
                     (m.weight, g), (m.bias, b)):
            p.set_value(paddle.to_tensor(v.astype(np.float32)))


def outputs(net, x, train_mode):
    import paddle

    if not train_mode:
        net.eval()
        with paddle.no_grad():
            return net(x).numpy()
    saved = {k: v.numpy().copy() for k, v in net.state_dict().items()}  # training mode moves BN statistics
    net.train()
    with paddle.no_grad():
        y = net(x).numpy()
    net.eval()
    net.set_state_dict({k: paddle.to_tensor(v) for k, v in saved.items()})
    return y


def main():
    from personcls.training.weights import CORAL_MNV2_FILE

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=str(DATA / "pretrained" / CORAL_MNV2_FILE))
    ap.add_argument("--list", default=str(DATA / "ugi/unlabeled_list.txt"),
                    help="images to measure on (a list file, labeled or not)")
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="output prefix (.pdparams is added)")
    args = ap.parse_args()

    import paddle

    from personcls.training.data import read_list
    from personcls.training.models import MobileNetV2
    from personcls.training.weights import CORAL_MNV2_PADDING, load_pretrained

    paths = [e.path for e in read_list(args.list, labeled=None, class_num=2)]
    random.Random(args.seed).shuffle(paths)
    check, paths = paths[:64], paths[64:64 + args.images]
    if len(paths) < 64:
        raise SystemExit(f"--list {args.list}: {len(paths)} images after the 64 held back; need at least 64")

    net = MobileNetV2(class_num=1000, padding=CORAL_MNV2_PADDING)
    load_pretrained(net, args.weights, min_fraction=1.0, strict_shapes=True)
    x = next(batches(check, args.size, bs=len(check)))
    before_eval = outputs(net, x, False)
    before_train = outputs(net, x, True)
    rewrite(net, measure(net, batches(paths, args.size)))
    after_eval = outputs(net, x, False)
    after_train = outputs(net, x, True)

    def top1(a, b):
        return float(np.mean(a.argmax(1) == b.argmax(1)))

    print(f"statistics from {len(paths)} images of {args.list} at {args.size} px; checked on 64 others")
    print(f"inference mode, after vs before: max |logit diff| {np.abs(after_eval - before_eval).max():.2e}, "
          f"same top-1 {top1(after_eval, before_eval):.3f}")
    print(f"training mode (batch statistics) vs inference before: same top-1 "
          f"{top1(before_train, before_eval):.3f} with folded BN, {top1(after_train, before_eval):.3f} after")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.pdparams")
    paddle.save(net.state_dict(), str(tmp))
    tmp.replace(out.with_name(out.name + ".pdparams"))
    print(f"saved {out}.pdparams")


if __name__ == "__main__":
    main()
