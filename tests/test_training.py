"""Training package: models vs the official key layout, pretrained loading, data, the
train / eval / infer / export commands on the .debug lists, exact resume, 2-process training.

Everything here trains tiny (32 images at 32-64 px) so that the file runs in about a minute
on two CPU cores. Needs ../shared/data (or $PERSONCLS_DATA); skipped with a reason otherwise.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

paddle = pytest.importorskip("paddle", reason="training needs PaddlePaddle (pip install 'personcls[train]')")

from personcls.errors import ConfigError, ModelError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(data_dir) -> Path:
    for sub in ("vww/train_list.txt.debug", "vww/val_list.txt.debug", "pretrained/PPLCNet_x1_0_textori_init.pdparams"):
        if not (data_dir / sub).exists():
            pytest.skip(f"{data_dir / sub} is missing (incomplete shared data folder)")
    return data_dir


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def debug_overrides(data: Path, out: Path, size: int = 64, epochs: int = 2, workers: int = 2, **extra) -> list:
    ov = {
        "DataLoader.Train.dataset.cls_label_path": data / "vww/train_list.txt.debug",
        "DataLoader.Eval.dataset.cls_label_path": data / "vww/val_list.txt.debug",
        "Arch.pretrained": data / "pretrained/PPLCNet_x1_0_textori_init.pdparams",
        "Global.output_dir": out,
        "Global.epochs": epochs,
        "Preprocess.resize_short": size,
        "Preprocess.crop_size": size,
        "Optimizer.lr.warmup_epoch": 1,
        "DataLoader.Train.sampler.batch_size": 8,
        "DataLoader.Train.loader.num_workers": workers,
        "DataLoader.Eval.loader.num_workers": 0,
    }
    ov.update(extra)
    return [f"{k}={v}" for k, v in ov.items()]


# ----------------------------------------------------------------------------- models
def test_pplcnet_matches_official_key_layout(data):
    from personcls.training.models import build_model

    state = paddle.load(str(data / "pretrained/PPLCNet_x1_0_textori_init.pdparams"))
    own = build_model("PPLCNet_x1_0", class_num=4).state_dict()
    assert list(own) == list(state)  # same names, same order
    assert all(list(own[k].shape) == list(state[k].shape) for k in own)
    for k in ("conv1.conv.weight", "blocks2.0.dw_conv.bn._mean", "blocks6.1.se.conv2.bias", "last_conv.weight"):
        assert k in own


@pytest.mark.parametrize("name,first,last_c", [("PPLCNet_x0_25", 8, 128), ("PPLCNet_x0_35", 8, 176),
                                               ("PPLCNet_x0_5", 8, 256), ("PPLCNet_x0_75", 16, 384),
                                               ("PPLCNet_x1_5", 24, 768), ("PPLCNet_x2_0", 32, 1024),
                                               ("PPLCNet_x2_5", 40, 1280)])
def test_pplcnet_scales(name, first, last_c):
    from personcls.training.models import build_model

    m = build_model(name, class_num=2)
    sd = m.state_dict()
    assert list(sd["conv1.conv.weight"].shape) == [first, 3, 3, 3]
    assert list(sd["last_conv.weight"].shape) == [1280, last_c, 1, 1]
    assert list(sd["fc.weight"].shape) == [1280, 2]
    m.eval()
    assert m(paddle.zeros([1, 3, 32, 32])).shape == [1, 2]


@pytest.mark.parametrize("name,depth_blocks", [("ResNet50_vd", 16), ("ResNet101_vd", 33)])
def test_resnet_vd_key_layout(name, depth_blocks):
    from personcls.training.models import build_model

    sd = build_model(name, class_num=2).state_dict()
    assert list(sd["stem.0.conv.weight"].shape) == [32, 3, 3, 3]
    assert list(sd["stem.2.conv.weight"].shape) == [64, 32, 3, 3]
    assert list(sd["blocks.0.short.conv.weight"].shape) == [256, 64, 1, 1]
    assert list(sd["blocks.3.short.conv.weight"].shape) == [512, 256, 1, 1]
    assert f"blocks.{depth_blocks - 1}.conv2.bn._variance" in sd and f"blocks.{depth_blocks}.conv0.conv.weight" not in sd
    assert "blocks.1.short.conv.weight" not in sd  # identity shortcut
    assert list(sd["fc.weight"].shape) == [2048, 2]


def test_mobilenetv2_tf_same_padding_matches_imagenet_weights(data):
    """The converted TF weights classify real ImageNet photos; TF SAME padding is needed."""
    import cv2

    from personcls.preprocess import reference_preprocess
    from personcls.spec import PreprocessSpec
    from personcls.training.models import build_model
    from personcls.training.weights import load_pretrained

    f = data / "pretrained/MobileNetV2_imagenet_from_coral_int8.pdparams"
    if not f.is_file() or not (data / "ugi/images").is_dir():
        pytest.skip("MobileNetV2 weights or ugi images missing")
    names = sorted(os.listdir(data / "ugi/images"))  # one per class, sorted wnid = class index
    assert len(names) == 1000
    idx = list(range(0, 1000, 50))
    spec = PreprocessSpec(resize_short=256, crop_size=224, mean=(0.5,) * 3, std=(0.5,) * 3)
    x = np.stack([reference_preprocess(cv2.imread(str(data / "ugi/images" / names[i])), spec) for i in idx])
    m = build_model("MobileNetV2", class_num=1000, padding="tf_same")
    rep = load_pretrained(m, str(f))
    assert len(rep.loaded) == 267 and not rep.missing and not rep.unexpected
    m.eval()
    with paddle.no_grad():
        top1 = m(paddle.to_tensor(x)).numpy().argmax(1)
    acc = float((top1 == np.array(idx)).mean())
    assert acc >= 0.7, acc


def test_build_model_unknown_name():
    from personcls.training.models import build_model

    with pytest.raises(ValueError, match="PPLCNet_x1_0"):
        build_model("PPLCNet_x1_O")


# ----------------------------------------------------------------------------- weights
def test_shared_weight_checksums(data):
    from personcls.training.weights import KNOWN_SHA256

    for name, want in KNOWN_SHA256.items():
        p = data / "pretrained" / name
        if p.is_file():
            assert sha256(p) == want, name


def test_pretrained_head_skipped_with_warning(data, caplog, monkeypatch):
    import logging

    from personcls.training.models import build_model
    from personcls.training.weights import load_pretrained

    m = build_model("PPLCNet_x1_0", class_num=2)
    before = m.state_dict()["fc.weight"].numpy().copy()
    # A training run in this process (another test) turns propagation off for its own handlers.
    monkeypatch.setattr(logging.getLogger("personcls.training"), "propagate", True)
    with caplog.at_level("WARNING", logger="personcls.training"):
        rep = load_pretrained(m, str(data / "pretrained/PPLCNet_x1_0_textori_init"))  # no suffix
    assert [k for k, _, _ in rep.shape_mismatch] == ["fc.weight", "fc.bias"]
    assert len(rep.loaded) == 144 and not rep.missing and not rep.unexpected
    assert "fc.weight [1280, 4]->[1280, 2]" in caplog.text
    np.testing.assert_array_equal(m.state_dict()["fc.weight"].numpy(), before)
    ref = paddle.load(str(data / "pretrained/PPLCNet_x1_0_textori_init.pdparams"))
    np.testing.assert_array_equal(m.state_dict()["blocks5.3.dw_conv.conv.weight"].numpy(),
                                  ref["blocks5.3.dw_conv.conv.weight"].numpy())
    # the backbone-only file: fc reported missing, nothing skipped
    rep = load_pretrained(build_model("PPLCNet_x1_0", class_num=2), str(data / "pretrained/PPLCNet_x1_0_textori_backbone.pdparams"))
    assert rep.missing == ["fc.weight", "fc.bias"] and not rep.shape_mismatch


def test_pretrained_errors(data, tmp_path, monkeypatch):
    from personcls.training.models import build_model
    from personcls.training.weights import load_pretrained

    with pytest.raises(ModelError, match="another architecture"):
        load_pretrained(build_model("ResNet50_vd", 2), str(data / "pretrained/PPLCNet_x1_0_textori_init.pdparams"))
    with pytest.raises(ModelError, match="not found"):
        load_pretrained(build_model("PPLCNet_x0_25", 2), str(tmp_path / "nope"))
    bad = tmp_path / "PPLCNet_x1_0_textori_init.pdparams"  # known name, wrong content
    bad.write_bytes(b"not weights")
    with pytest.raises(ModelError, match="sha256"):
        load_pretrained(build_model("PPLCNet_x1_0", 2), str(bad))
    monkeypatch.setenv("PERSONCLS_WEIGHTS_CACHE", str(tmp_path / "cache"))
    url = "http://127.0.0.1:9/PPLCNet_x1_0_ssld_pretrained.pdparams"  # nothing listens on port 9
    with pytest.raises(ModelError, match="127.0.0.1:9/PPLCNet_x1_0_ssld"):
        load_pretrained(build_model("PPLCNet_x1_0", 2), url)
    assert not any((tmp_path / "cache").glob("*"))  # no partial download left


def test_url_served_from_cache(data, tmp_path, monkeypatch):
    from personcls.training.models import build_model
    from personcls.training.weights import load_pretrained

    monkeypatch.setenv("PERSONCLS_WEIGHTS_CACHE", str(tmp_path))
    shutil.copy(data / "pretrained/PPLCNet_x1_0_textori_backbone.pdparams", tmp_path / "PPLCNet_x1_0_textori_backbone.pdparams")
    rep = load_pretrained(build_model("PPLCNet_x1_0", 2), "https://example.invalid/x/PPLCNet_x1_0_textori_backbone.pdparams")
    assert len(rep.loaded) == 144


# ----------------------------------------------------------------------------- data
def test_list_parsing_and_errors(data, tmp_path):
    from personcls.training.data import read_list

    ents = read_list(data / "vww/train_list.txt.debug", class_num=2)
    assert len(ents) == 32 and all(Path(e.path).is_file() for e in ents) and {e.label for e in ents} == {0, 1}
    ul = data / "ugi/unlabeled_list.txt"
    if ul.is_file():
        assert read_list(ul)[0].label == -1
    bad = tmp_path / "l.txt"
    bad.write_text("a.png 0\nb.png 7\n")
    with pytest.raises(ConfigError, match=r"l.txt:2: label 7"):
        read_list(bad, class_num=2)
    bad.write_text("a.png 0\nb.png\n")
    with pytest.raises(ConfigError, match="mixes"):
        read_list(bad)


def test_augment_deterministic_per_sample(data):
    from personcls.spec import PreprocessSpec
    from personcls.training.data import ListDataset, TrainPipeline, read_list

    ops = [{"RandCropImage": {"size": None}}, {"RandFlipImage": {"flip_code": 1}},
           {"TimmAutoAugment": {"prob": 1.0, "config_str": "rand-m9-mstd0.5-inc1"}}, {"NormalizeImage": None},
           {"RandomErasing": {"EPSILON": 1.0, "sh": "1.0/3.0"}}]
    ds = ListDataset(read_list(data / "vww/train_list.txt.debug"), TrainPipeline(ops, PreprocessSpec(resize_short=48, crop_size=48)), seed=3)
    a, b, c = ds[(5, 1)], ds[(5, 1)], ds[(5, 2)]
    assert a[0].shape == (3, 48, 48) and a[3] == 1
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    with pytest.raises(ConfigError, match="Preprocess"):
        TrainPipeline(ops[:3] + [{"NormalizeImage": {"mean": [0.5, 0.5, 0.5]}}], PreprocessSpec())


def test_rand_low_res_keeps_size_and_removes_detail():
    """RandLowRes: same size out, the detail of a small image (high frequencies gone), drawn
    from the sample's generator; prob 0 is the identity; bad settings name the op."""
    from personcls.training.augment import RandLowRes

    rng0 = np.random.default_rng(0)
    img = rng0.integers(0, 256, (128, 160, 3), dtype=np.uint8)  # noise: all detail
    op = RandLowRes(prob=1.0, min_size=32, max_size=48)
    out = op(img, np.random.default_rng(1))
    assert out.shape == img.shape and out.dtype == np.uint8
    # neighbouring pixels of an image enlarged from <= 48 px are nearly equal; of noise, not
    def roughness(a):
        return float(np.abs(np.diff(a.astype(np.int16), axis=1)).mean())
    assert roughness(out) < 0.35 * roughness(img)
    np.testing.assert_array_equal(out, op(img, np.random.default_rng(1)))
    assert RandLowRes(prob=0.0)(img, np.random.default_rng(1)) is img
    small = img[:40, :40]
    assert RandLowRes(prob=1.0, min_size=48, max_size=96)(small, np.random.default_rng(1)) is small  # already small
    with pytest.raises(ConfigError, match="RandLowRes"):
        RandLowRes(min_size=96, max_size=48)
    with pytest.raises(ConfigError, match="RandLowRes.prob"):
        RandLowRes(prob=1.5)


def test_flip_mirrors_the_crop_box_and_cutmix_pastes_with_unknown_labels():
    """RandFlipImage swaps the flipped axis's ends in the geometry (so a view pixel still maps to
    its source pixel); CutmixOperator pastes the partner's unmixed pixels, drops the mixed views'
    labels to -1 and reports the pixel-snapped rectangles; both are functions of their generator."""
    import paddle

    from personcls.training import augment
    from personcls.training.config_access import BATCH_OPS_KEY
    from personcls.training.loop import _mix_batch

    img = np.zeros((10, 20, 3), np.uint8)
    img[:, :5] = 255  # the left quarter is white
    geom = {"box": (0.0, 0.0, 1.0, 1.0)}
    out = augment.RandFlipImage(flip_code=1, prob=1.0)(img, np.random.default_rng(0), geom)
    assert geom["box"] == (1.0, 0.0, 0.0, 1.0) and out[:, -5:].min() == 255 and out[:, :15].max() == 0
    geom = {"box": (0.1, 0.2, 0.5, 0.6)}
    augment.RandFlipImage(flip_code=-1, prob=1.0)(img, np.random.default_rng(0), geom)
    assert geom["box"] == (0.5, 0.6, 0.1, 0.2)

    op = augment.build_batch_ops([{"CutmixOperator": {"alpha": 1.0, "prob": 1.0}}], BATCH_OPS_KEY)
    x = np.stack([np.full((3, 16, 16), v, np.float32) for v in range(6)])
    y = np.array([0, 1, -1, 1, 0, -1], np.int64)
    xm, ym, mix = _mix_batch(op, paddle.to_tensor(x), paddle.to_tensor(y), np.random.default_rng(3))
    partner, rect = mix.partner, mix.rect
    xm, ym = xm.numpy(), ym.numpy()
    mixed = np.flatnonzero(partner >= 0)
    assert len(mixed) >= 4 and (ym[mixed] == -1).all() and (ym[partner < 0] == y[partner < 0]).all()
    for i in mixed:
        assert partner[i] != i
        x0, y0, x1, y1 = (int(round(v * 16)) for v in rect[i])
        inside = np.zeros((16, 16), bool)
        inside[y0:y1, x0:x1] = True
        assert (xm[i][:, inside] == partner[i]).all() and (xm[i][:, ~inside] == i).all()
    a = _mix_batch(op, paddle.to_tensor(x), paddle.to_tensor(y), np.random.default_rng(3))
    np.testing.assert_array_equal(a[0].numpy(), xm)
    assert augment.build_batch_ops(None, BATCH_OPS_KEY) is None
    assert _mix_batch(augment.CutMix(prob=0.0), paddle.to_tensor(x), paddle.to_tensor(y), np.random.default_rng(0))[2] is None
    for bad, match in (([{"MixupOperator": {"alpha": 0.2}}], "batch_transform_ops.0: unknown batch op 'MixupOperator'"),
                       ([{"CutmixOperator": {"alpha": 0}}], "CutmixOperator.alpha"),
                       ([{"CutmixOperator": {"prob": 2}}], "CutmixOperator.prob"),
                       ([{"CutmixOperator": {"beta": 1}}], "batch_transform_ops.0.CutmixOperator"),
                       ({"CutmixOperator": {}}, "a list of one op")):
        with pytest.raises(ConfigError, match=match):
            augment.build_batch_ops(bad, BATCH_OPS_KEY)


def test_person_paste_copies_the_donors_person_with_its_mask():
    """PersonPasteOperator: a pasted view holds the donor's person (scaled, blended by its mask)
    at the reported opacity, its label becomes 1, unpasted views are untouched, views without a
    person are never donors, and the draw is a function of its generator."""
    import paddle

    from personcls.training import augment
    from personcls.training.config_access import BATCH_OPS_KEY
    from personcls.training.loop import _mix_batch

    n, h, w = 8, 32, 32
    masks = np.zeros((n, h, w), np.float32)
    masks[1, 4:28, 10:18] = 1.0  # view 1: a standing person, 24 x 8 px
    masks[5, 20:30, 2:22] = 1.0  # view 5: a lying one, 10 x 20 px
    x = np.stack([np.full((3, h, w), -1.0 - v, np.float32) for v in range(n)])
    x[1][:, masks[1] > 0] = 5.0  # the people's pixels
    x[5][:, masks[5] > 0] = 7.0
    y = np.array([0, 1, -1, 0, -1, 1, 0, -1], np.int64)
    op = augment.build_batch_ops([{"PersonPasteOperator": {"prob": 1.0, "height": [0.5, 0.5]}}], BATCH_OPS_KEY)
    calls = []

    def views(hh, ww):
        calls.append((hh, ww))
        return masks

    xm, ym, mix = _mix_batch(op, paddle.to_tensor(x), paddle.to_tensor(y), np.random.default_rng(0), views)
    xm, ym = xm.numpy(), ym.numpy()
    assert calls == [(h, w)]
    pasted = np.flatnonzero(mix.partner >= 0)
    assert len(pasted) == n  # every view got a person (views 1 and 5 each the other's)
    assert set(mix.partner.tolist()) == {1, 5} and mix.partner[1] == 5 and mix.partner[5] == 1
    assert (ym == 1).all() and mix.rect is None
    for i in pasted:
        j, a = int(mix.partner[i]), mix.alpha[i]
        person = {1: 5.0, 5: 7.0}[j]
        expect = a * person + (1 - a) * x[i]
        np.testing.assert_allclose(xm[i], expect, atol=1e-5)
        ys, xs = np.nonzero(a >= 0.5)
        assert ys.max() - ys.min() + 1 == 16  # height 0.5 of the view
        full = a >= 0.999
        assert full.sum() >= 0.8 * (a > 0).sum() and (xm[i][:, full] == person).all()
    xa = _mix_batch(op, paddle.to_tensor(x), paddle.to_tensor(y), np.random.default_rng(0), views)[0].numpy()
    np.testing.assert_array_equal(xa, xm)
    # max_zoom keeps a small person small; without any person there is no donor
    small = augment.PersonPaste(prob=1.0, height=[0.9, 0.9], max_zoom=1.0)
    mix = small.mix_batch(x, y, np.random.default_rng(1), lambda hh, ww: masks)[2]
    assert (mix.alpha[0] >= 0.5).sum() in (24 * 8, 10 * 20)
    empty = np.zeros_like(masks)
    assert op.mix_batch(x, y, np.random.default_rng(0), lambda hh, ww: empty)[2] is None
    for bad, match in (({"prob": -0.1}, "PersonPasteOperator.prob"), ({"height": [0.5, 0.2]}, "PersonPasteOperator.height"),
                       ({"height": 0.5}, "PersonPasteOperator.height"), ({"min_area": 0}, "PersonPasteOperator.min_area"),
                       ({"max_zoom": 0}, "PersonPasteOperator.max_zoom"), ({"area": 1}, "batch_transform_ops.0.PersonPasteOperator")):
        with pytest.raises(ConfigError, match=match):
            augment.build_batch_ops([{"PersonPasteOperator": bad}], BATCH_OPS_KEY)


def test_batch_op_needs_a_teacher_that_sees_the_mixed_view(data):
    """A mixed view has no presence label: a plain run and offline teacher outputs refuse a batch op."""
    from personcls.training import distill
    from personcls.training import config_access as C

    op = "[{CutmixOperator: {alpha: 1.0, prob: 0.5}}]"
    plain = C.load(str(REPO / "training/configs/PPLCNet_x1_0.yaml"), [f"DataLoader.Train.dataset.batch_transform_ops={op}"])
    with pytest.raises(ConfigError, match="batch_transform_ops: a mixed view has no ground-truth"):
        distill.batch_mix(plain, None)
    dist = C.load(str(REPO / "training/configs/PPLCNet_x1_0_distillation.yaml"),
                  [f"DataLoader.Train.dataset.batch_transform_ops={op}"])
    assert distill.batch_mix(dist, None).prob == 0.5  # an online Paddle teacher runs on the mixed batch
    dist["Arch"]["models"][0]["Teacher"]["offline"] = True
    with pytest.raises(ConfigError, match="offline teacher outputs judge the unmixed images"):
        distill.batch_mix(dist, None)
    paste = C.load(str(REPO / "training/configs/PPLCNet_x1_0_distillation.yaml"),
                   ["DataLoader.Train.dataset.batch_transform_ops=[{PersonPasteOperator: {prob: 0.25}}]"])
    with pytest.raises(ConfigError, match="PersonPasteOperator pastes people cut out by a segmenter's masks"):
        distill.batch_mix(paste, None)


def _tail_rows(csv_path: Path):
    with open(csv_path, newline="") as f:
        return list(csv.DictReader(f))


def test_corrupt_images_skipped(data, tmp_path, caplog):
    from personcls.training.cli import run

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    lines = []
    for i, ln in enumerate((data / "vww/train_list.txt.debug").read_text().splitlines()[:10]):
        rel, lab = ln.split()
        shutil.copy(data / "vww" / rel, imgs / f"{i}.png")
        lines.append(f"imgs/{i}.png {lab}")
    good = (imgs / "0.png").read_bytes()
    (imgs / "truncated.png").write_bytes(good[: len(good) // 2])
    (imgs / "text.png").write_text("this is not an image")
    lines += ["imgs/truncated.png 1", "imgs/text.png 0", "imgs/missing.png 1"]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    ov = debug_overrides(data, tmp_path / "out", size=32, epochs=1, workers=2)
    ov = [o for o in ov if not o.startswith("DataLoader.Train.dataset.cls_label_path")]
    ov += [f"DataLoader.Train.dataset.cls_label_path={tmp_path / 'train.txt'}", "DataLoader.Train.sampler.batch_size=4",
           f"DataLoader.Eval.dataset.cls_label_path={tmp_path / 'train.txt'}"]
    with caplog.at_level("WARNING", logger="personcls.training"):
        assert run("train", "PPLCNet_x1_0.yaml", ov) == 0
    rows = _tail_rows(tmp_path / "out/PPLCNet_x1_0/metrics.csv")
    assert rows[-1]["bad_images"] == "3"
    assert rows[-1]["val_acc"] != ""  # eval ran too, on the readable 10
    log = (tmp_path / "out/PPLCNet_x1_0/train.log").read_text()
    assert "skipped 3 unreadable image(s)" in log
    for name in ("truncated.png", "text.png", "missing.png"):
        assert name in log


# ----------------------------------------------------------------------------- commands
def test_train_eval_infer_export_debug(data, tmp_path, capsys):
    import cv2

    from personcls.imageio import read_image
    from personcls.preprocess import reference_preprocess
    from personcls.modelfolder import ModelMeta
    from personcls.training.cli import run
    from personcls.training.config_access import load, preprocess_spec
    from personcls.training.data import EvalPipeline, read_list
    from personcls.training.engine import train
    from personcls.training.nets import build_net

    out = tmp_path / "output"
    ov = debug_overrides(data, out, size=64, epochs=2, workers=2)
    t0 = time.time()
    res = train(load("PPLCNet_x1_0.yaml", ov))
    rd = out / "PPLCNet_x1_0"
    for f in ("config.yaml", "metrics.csv", "train.log", "latest.pdparams", "latest.pdopt", "latest.json",
              "best_model.pdparams", "best_model.json"):
        assert (rd / f).is_file(), f
    assert any((rd / "vdl").iterdir())
    rows = _tail_rows(rd / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"] and float(rows[0]["images_per_s"]) > 0
    assert set(rows[0]) >= {"lr", "train_loss", "train_acc", "val_acc", "precision", "recall", "f1", "tpr_at_fpr",
                            "threshold", "seconds", "images_per_s"}
    assert not list(rd.glob("*.tmp")) and not list(rd.glob(".*.tmp"))
    # train() returns the run's metrics: every epoch's row as numbers, and the best epoch
    assert res["run_dir"] == str(rd) and res["epochs"] == 2 and res["trained_epochs"] == 2
    assert [h["epoch"] for h in res["history"]] == [1, 2]
    for h, r in zip(res["history"], rows):
        assert h["val_acc"] == float(r["val_acc"]) and h["train_loss"] == float(r["train_loss"])
    assert res["best"] == json.loads((rd / "best_model.json").read_text())["best"]
    assert res["best"]["value"] == pytest.approx(max(h["val_acc"] for h in res["history"]), abs=1e-6)
    # a second identical command finds the run finished and does nothing (and returns the same figures)
    again = train(load("PPLCNet_x1_0.yaml", ov))
    assert again["trained_epochs"] == 0 and again["history"] == res["history"] and again["best"] == res["best"]
    assert run("train", "PPLCNet_x1_0.yaml", ov) == 0
    best = [f"Global.pretrained_model={rd / 'best_model'}"]
    # eval / infer / export name only the checkpoint and the list: the 64 px network and
    # preprocessing come from the run's own config.yaml, not the packaged 224 px config
    evl = [f"DataLoader.Eval.dataset.cls_label_path={data / 'vww/val_list.txt.debug'}",
           "DataLoader.Eval.loader.num_workers=0"]
    assert run("eval", "PPLCNet_x1_0.yaml", evl + best) == 0
    ed = rd / "eval" / "best_model-val_list.txt.debug"
    em = json.loads((ed / "eval_metrics.json").read_text())
    assert em["n"] == 16 and 0 <= em["acc"] <= 1
    assert em["preprocess"]["crop_size"] == [64, 64]
    assert (ed / "roc.png").read_bytes()[:4] == b"\x89PNG" and (ed / "pr.png").stat().st_size > 1000
    assert not (rd / "eval_metrics.json").exists()
    capsys.readouterr()
    assert run("infer", "PPLCNet_x1_0.yaml", best + [f"Infer.infer_imgs={data / 'demo'}"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "class id(s)" in ln]
    assert len(lines) == len([p for p in (data / "demo").iterdir() if p.suffix == ".jpg"])
    exp = tmp_path / "inference"
    assert run("export", "PPLCNet_x1_0.yaml", best + [f"Global.save_inference_dir={exp}"]) == 0
    print(f"debug train+eval+infer+export: {time.time() - t0:.1f}s")
    for f in ("inference.pdmodel", "inference.pdiparams", "inference.xml", "inference.bin", "personcls.json"):
        assert (exp / f).is_file(), f
    meta = ModelMeta.load(exp)
    cfg = load("PPLCNet_x1_0.yaml", ov)
    spec = preprocess_spec(cfg)
    assert meta.preprocess == spec and meta.preprocess.crop_size == (64, 64)
    assert meta.provenance["source_checkpoint"].endswith("best_model.pdparams") and meta.metrics["val"]["n"] == 16
    assert meta.files["paddle"] == {"program": "inference.pdmodel", "params": "inference.pdiparams"}
    # the exported preprocessing is the evaluation's, number for number ...
    paths = [e.path for e in read_list(data / "vww/val_list.txt.debug")][:6] + [str(data / "demo/objects365_02035329.jpg")]
    evp = EvalPipeline(spec)
    x = np.stack([evp(read_image(p)) for p in paths])
    x_ref = np.stack([reference_preprocess(cv2.imread(p), meta.preprocess, color="BGR") for p in paths])
    np.testing.assert_array_equal(x, x_ref)
    # ... and the exported networks give the checkpoint's probabilities
    model = build_net(cfg)
    model.set_state_dict(paddle.load(str(rd / "best_model.pdparams")))
    model.eval()
    with paddle.no_grad():
        ref = paddle.nn.functional.softmax(model(paddle.to_tensor(x)), axis=-1).numpy()
    import openvino as ov_

    # f32: OpenVINO's CPU default on bf16-capable CPUs is bf16 inference (differs by ~3e-3)
    got = ov_.Core().compile_model(str(exp / "inference.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(x)[0]
    np.testing.assert_allclose(got, ref, atol=1e-4)
    from paddle import inference as pi

    c = pi.Config(str(exp / "inference.pdmodel"), str(exp / "inference.pdiparams"))
    c.disable_gpu()
    c.disable_glog_info()
    pred = pi.create_predictor(c)
    h = pred.get_input_handle(pred.get_input_names()[0])
    h.reshape(list(x.shape))
    h.copy_from_cpu(x)
    pred.run()
    np.testing.assert_allclose(pred.get_output_handle(pred.get_output_names()[0]).copy_to_cpu(), ref, atol=1e-4)


def test_a_loss_that_is_not_finite_stops_the_run_before_the_step():
    """A NaN loss (here a real one: log of a negative number) raises, naming where and which part,
    and the weights are left as they were (the step never ran)."""
    from personcls.training import loop
    from personcls.training.models import build_model

    paddle.seed(0)
    net = build_model("PPLCNet_x0_25", 2)
    opt = paddle.optimizer.Momentum(learning_rate=0.1, parameters=net.parameters())
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}

    def criterion(out, y):
        v = paddle.log(out.sum() * 0.0 - 1.0)
        return v, {"CELoss": float(v)}

    step = loop.Step(net=net, opt=opt, criterion=criterion, teach=lambda out, *a: out, cfg={}, steps_per_epoch=1)
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype("float32"))
    with pytest.raises(ModelError, match=r"diverged at epoch 3 step 7: loss nan \(CELoss nan\)"):
        loop._step(step, x, paddle.to_tensor(np.array([0, 1])), None, None, where="epoch 3 step 7")
    after = net.state_dict()
    assert all(np.array_equal(before[k], after[k].numpy()) for k in before if "_mean" not in k and "_variance" not in k)


def test_warmup_covering_the_run_warns(data, tmp_path, caplog):
    """5 warm-up epochs (the packaged config) with -o Global.epochs=1: the lr never reaches its value."""
    from personcls.training.cli import run

    ov = [f"Global.output_dir={tmp_path}", "Global.epochs=1", "Global.use_visualdl=False",
          f"DataLoader.Train.dataset.cls_label_path={tmp_path / 'missing_list.txt'}"]
    with caplog.at_level("WARNING", logger="personcls.training"):
        with pytest.raises(ConfigError, match="missing_list.txt"):  # stops before any data is read
            run("train", "PPLCNet_x1_0.yaml", ov)
    log = (tmp_path / "PPLCNet_x1_0" / "train.log").read_text()
    assert "warmup_epoch 5 >= Global.epochs 1" in log and "peaks at 0.002" in log


def test_export_leaves_no_half_folder(tmp_path):
    from personcls.modelfolder import ModelMeta
    from personcls.spec import PostprocessSpec, PreprocessSpec
    from personcls.training.export import export_model, export_random_model
    from personcls.training.models import build_model

    out = export_random_model(tmp_path / "m", crop=64, resize_short=72)
    assert ModelMeta.load(out).preprocess.resize_short == 72
    before = sorted(os.listdir(tmp_path))
    meta = ModelMeta(arch="PPLCNet_x0_25", preprocess=PreprocessSpec(resize_short=64, crop_size=64),
                     postprocess=PostprocessSpec(label_names=("a", "b", "c")))
    with pytest.raises(ModelError, match="3 labels"):
        export_model(build_model("PPLCNet_x0_25", 2), tmp_path / "m", meta)  # 2 outputs, 3 labels
    assert sorted(os.listdir(tmp_path)) == before  # old folder intact, no temp left
    assert ModelMeta.load(tmp_path / "m").preprocess.resize_short == 72
    (tmp_path / "notmodel").mkdir()
    (tmp_path / "notmodel" / "keep.txt").write_text("x")
    with pytest.raises(ModelError, match="not a personcls model folder"):
        export_random_model(tmp_path / "notmodel", crop=32, resize_short=32)


def test_config_resolution_and_errors(data, tmp_path, monkeypatch):
    from personcls.training.cli import run
    from personcls.training.config_access import DEFAULT_CONFIG, load, resolve_config_path
    from personcls.training.nets import build_net

    assert resolve_config_path("PPLCNet_x1_0.yaml") == DEFAULT_CONFIG  # bare name -> packaged
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config_path("no/such.yaml")
    with pytest.raises(ConfigError, match="did you mean"):
        load("PPLCNet_x1_0.yaml", ["Global.epoch=3"])
    cfg = load("PPLCNet_x1_0.yaml", ["Arch.name=ResNet101_vd", "DataLoader.Train.dataset.transform_ops.3.TimmAutoAugment.prob=0.5"])
    assert type(build_net(cfg)).__name__ == "ResNetVd"
    assert cfg["DataLoader"]["Train"]["dataset"]["transform_ops"][3]["TimmAutoAugment"]["prob"] == 0.5
    # relative list paths resolve against the working directory, as in PaddleClas
    monkeypatch.chdir(data.parent)
    ov = debug_overrides(data, tmp_path / "o", size=32, epochs=1, workers=0)
    ov = [o for o in ov if "cls_label_path" not in o] + [
        "DataLoader.Train.dataset.cls_label_path=data/vww/train_list.txt.debug",
        "DataLoader.Eval.dataset.cls_label_path=data/vww/val_list.txt.debug"]
    # the student's start weights do not fit the teacher: a clear error, not a silent random start
    with pytest.raises(ModelError, match="another architecture"):
        run("train", "PPLCNet_x1_0.yaml", ov + ["Arch.name=ResNet50_vd"])
    assert run("train", "PPLCNet_x1_0.yaml", ov + ["Arch.name=PPLCNet_x0_25", "Arch.pretrained=False"]) == 0
    with pytest.raises(ConfigError, match="pretrained_model"):
        run("eval", "PPLCNet_x1_0.yaml", ov)


def _train_cmd(data: Path, out: Path, epochs: int, *extra: str) -> list:
    ov = debug_overrides(data, out, size=32, epochs=epochs, workers=2,
                         **{"DataLoader.Train.dataset.transform_ops.3.TimmAutoAugment.prob": 0.5,
                            "DataLoader.Train.dataset.transform_ops.5.RandomErasing.EPSILON": 0.5})
    ov += list(extra)
    cmd = [sys.executable, "-m", "personcls", "train", "-c", "PPLCNet_x1_0.yaml"]
    for o in ov:
        cmd += ["-o", o]
    return cmd


def test_exact_resume_after_kill(data, tmp_path):
    """Kill -9 a run after its first epoch; rerunning the same command resumes it and ends with
    exactly the weights of an uninterrupted run. The uninterrupted run also keeps every epoch's
    checkpoint (``Global.keep_epoch_checkpoints``), and a new run started from its epoch 1
    (``Global.checkpoints``) ends with the same weights too."""
    env = dict(os.environ)
    full = subprocess.run(_train_cmd(data, tmp_path / "full", 3, "Global.keep_epoch_checkpoints=True"), env=env,
                          capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stdout + full.stderr
    latest = tmp_path / "cut/PPLCNet_x1_0/latest.json"
    # Own process group, so the kill also takes the run's data-loader workers (a kill -9 of
    # the trainer alone would leave them orphaned).
    proc = subprocess.Popen(_train_cmd(data, tmp_path / "cut", 3), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            try:
                if json.loads(latest.read_text())["epoch"] >= 1:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=60)
    cut_epoch = json.loads(latest.read_text())["epoch"]
    if proc.returncode == 0 or cut_epoch >= 3:
        pytest.skip("the run finished before it could be killed (machine too fast for this test)")
    again = subprocess.run(_train_cmd(data, tmp_path / "cut", 3), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"epoch {cut_epoch} done" in again.stdout
    a = paddle.load(str(tmp_path / "full/PPLCNet_x1_0/latest.pdparams"))
    b = paddle.load(str(tmp_path / "cut/PPLCNet_x1_0/latest.pdparams"))
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k].numpy(), b[k].numpy(), err_msg=k)
    rows = _tail_rows(tmp_path / "cut/PPLCNet_x1_0/metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    ja = json.loads((tmp_path / "full/PPLCNet_x1_0/latest.json").read_text())
    jb = json.loads((tmp_path / "cut/PPLCNet_x1_0/latest.json").read_text())
    assert ja["best"] == jb["best"] and ja["metrics"] == jb["metrics"]
    # every epoch kept, as a full checkpoint (weights, optimizer state, record); off by default
    fd = tmp_path / "full/PPLCNet_x1_0"
    for e in (1, 2, 3):
        assert json.loads((fd / f"epoch_{e}.json").read_text())["epoch"] == e
        assert (fd / f"epoch_{e}.pdopt").is_file()
    assert not list((tmp_path / "cut/PPLCNet_x1_0").glob("epoch_*"))
    assert (fd / "epoch_3.pdparams").read_bytes() == (fd / "latest.pdparams").read_bytes()
    assert (fd / "epoch_1.pdparams").read_bytes() != (fd / "epoch_2.pdparams").read_bytes()
    branch = subprocess.run(_train_cmd(data, tmp_path / "branch", 3, f"Global.checkpoints={fd / 'epoch_1'}"),
                            env=env, capture_output=True, text=True, timeout=300)
    assert branch.returncode == 0, branch.stdout + branch.stderr
    c = paddle.load(str(tmp_path / "branch/PPLCNet_x1_0/latest.pdparams"))
    for k in a:
        np.testing.assert_array_equal(a[k].numpy(), c[k].numpy(), err_msg=k)


def test_two_process_cpu_data_parallel(data, tmp_path):
    """paddle.distributed.launch with 2 CPU processes (gloo): sharded sampler, DataParallel."""
    script = tmp_path / "entry.py"
    script.write_text("import sys\nfrom personcls.training.cli import run\nsys.exit(run('train', 'PPLCNet_x1_0.yaml', sys.argv[1:]))\n")
    ov = debug_overrides(data, tmp_path / "out", size=32, epochs=1, workers=0) + ["Global.device=cpu"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADDLE_")}
    r = subprocess.run([sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node=2",
                        f"--log_dir={tmp_path / 'log'}", str(script)] + ov, env=env, capture_output=True, text=True,
                       timeout=300, cwd=tmp_path)
    log0 = (tmp_path / "log/workerlog.0").read_text() if (tmp_path / "log/workerlog.0").exists() else ""
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:] + log0[-3000:]
    assert "device cpu x2" in log0 and "2 steps/epoch" in log0  # 32 images / (8 per process x 2)
    assert (tmp_path / "out/PPLCNet_x1_0/latest.pdparams").is_file()


def test_export_records_how_a_checkpoint_was_made(tmp_path):
    """A checkpoint not made by `personcls train` (benchmarks/fit_head.py) carries a "recipe" in
    its side file; the exported personcls.json keeps it, so the model says how it was made."""
    import paddle

    from personcls.modelfolder import ModelMeta
    from personcls.training.cli import run
    from personcls.training.config_access import load
    from personcls.training.nets import build_net

    ov = ["Preprocess.resize_short=40", "Preprocess.crop_size=32", "Arch.pretrained=null"]
    net = build_net(load("PPLCNet_x1_0.yaml", ov), for_training=False)
    ckpt = tmp_path / "ck" / "head"
    ckpt.parent.mkdir()
    paddle.save(net.state_dict(), str(ckpt) + ".pdparams")
    recipe = {"method": "fitted head", "C": 0.001, "images": 12}
    (tmp_path / "ck" / "head.json").write_text(json.dumps({"recipe": recipe}))
    out = tmp_path / "model"
    assert run("export", "PPLCNet_x1_0.yaml", ov + [f"Global.pretrained_model={ckpt}",
                                                     f"Global.save_inference_dir={out}"]) == 0
    prov = ModelMeta.load(out).provenance
    assert prov["recipe"] == recipe
    assert prov["source_checkpoint"].endswith("head.pdparams")
