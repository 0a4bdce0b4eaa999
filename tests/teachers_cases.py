"""External teachers (python/personcls/training/teachers.py): start-up checks of a declared teacher, the output
mappings, crop-following targets, and a short distillation run on the vww debug lists with the
real teachers in ../shared/data/pretrained/teachers.

Run by tests/test_teachers.py in an interpreter of their own (``python -m pytest
tests/teachers_cases.py`` also works directly)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("paddle", reason="training needs PaddlePaddle")

from personcls.errors import ConfigError  # noqa: E402
from personcls.training import teachers  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "training" / "configs" / "PPLCNet_x1_0_person_teachers.yaml"

@pytest.fixture(scope="module")
def tdir(data_dir) -> Path:
    d = data_dir / "pretrained" / "teachers"
    if not (d / "vww_96_float.tflite").is_file():
        pytest.skip(f"teacher models not found in {d}")
    return d

def _vww(tdir, **kw):
    e = {"path": str(tdir / "vww_96_float.tflite"), "kind": "classifier", "layout": "NHWC", "color": "RGB",
         "scale": "1/255", "person_index": 1}
    e.update(kw)
    return e

def _deeplab(tdir, **kw):
    e = {"path": str(tdir / "deeplabv3_mnv2_pascal_quant.tflite"), "kind": "segmenter", "layout": "NHWC",
         "dtype": "uint8", "scale": 1, "person_class": 15, "follow_crop": True, "threads": 2}
    e.update(kw)
    return e

def _teacher(*members, **kw):
    return teachers.ExternalTeacher(dict({"name": "External", "members": list(members)}, **kw), "Arch.models.0.Teacher")

@pytest.mark.parametrize("change, key", [
    ({"path": "no/such/teacher.tflite"}, "members.0.path"),
    ({"layout": "NCHW"}, "members.0.layout"),
    ({"person_index": 5}, "members.0.person_index"),
    ({"kind": "detector"}, "members.0.kind"),
    ({"kind": "segmentation"}, "members.0.kind"),
    ({"follow_crop": True}, "members.0.follow_crop"),
    ({"size": [128, 128]}, "members.0.size"),
    ({"colour": "RGB"}, "members.0"),
])
def test_wrongly_declared_teacher_names_the_key(tdir, change, key):
    with pytest.raises(ConfigError) as e:
        _teacher(_vww(tdir, **change))
    assert f"Arch.models.0.Teacher.{key}" in str(e.value)

def test_unreadable_teacher_file_names_the_key(tdir, tmp_path):
    for name, data in (("broken.tflite", bytes(range(256)) * 20), ("empty.onnx", b"")):
        f = tmp_path / name
        f.write_bytes(data)
        with pytest.raises(ConfigError, match=r"members\.0\.path: OpenVINO cannot read .*Unable to read the model"):
            _teacher(_vww(tdir, path=str(f)))


def test_teacher_level_errors(tdir):
    with pytest.raises(ConfigError, match=r"Teacher\.combine"):
        _teacher(_vww(tdir), combine="median")
    with pytest.raises(ConfigError, match=r"Teacher\.members"):
        teachers.ExternalTeacher({"name": "External", "members": []}, "Arch.models.0.Teacher")
    with pytest.raises(ConfigError, match=r"Teacher\.targets"):
        _teacher(_vww(tdir), targets="sometimes")
    with pytest.raises(ConfigError, match=r"members\.0\.person_class"):
        _teacher(_deeplab(tdir, person_class=-1))
    with pytest.raises(ConfigError, match=r"members\.0\.kind segmenter"):
        _teacher(_vww(tdir, kind="segmenter", follow_crop=False))  # a classifier's [N, 2] is no class map

def test_area_gate_and_crop_fraction():
    assert teachers.area_gate(0.005, 0.005, 2.0) == pytest.approx(0.5, abs=1e-2)
    assert teachers.area_gate(0.1, 0.005, 2.0) > 0.99
    assert teachers.area_gate(0.0, 0.005, 2.0) < 0.01
    g = np.zeros((teachers.MASK_GRID,) * 2, np.float32)
    g[:10, :10] = 1.0  # a person in the top-left corner
    assert teachers.crop_fraction(g, (0, 0, 1, 1)) == pytest.approx(100 / g.size)
    assert teachers.crop_fraction(g, (0, 0, 10 / 96, 10 / 96)) == pytest.approx(1.0)
    assert teachers.crop_fraction(g, (0.5, 0.5, 1, 1)) == 0.0
    # half-cell overlap is weighted
    assert teachers.crop_fraction(g, (9.5 / 96, 0, 10.5 / 96, 10 / 96)) == pytest.approx(0.5)

def _random_person_mask(rng) -> np.ndarray:
    """A 240x150 uint8 mask (255 = person) with three random rectangles."""
    m = np.zeros((150, 240), np.uint8)
    for _ in range(3):
        x0, y0 = rng.integers(0, 220), rng.integers(0, 130)
        m[y0:y0 + rng.integers(5, 60), x0:x0 + rng.integers(5, 80)] = 255
    return m

def _two_views(rng0, trial):
    """Two 64x64 views (real crop and flip ops) of random person masks: (views [2, 64, 64] person
    pixels 0..1, their crop boxes [2, 4], the masks' cached-style grids)."""
    import cv2

    from personcls.training import augment

    crop = augment.RandCropImage(size=64, scale=(0.25, 1.0), ratio=(0.75, 1.78))
    flip = augment.RandFlipImage(flip_code=1, prob=0.5)
    views, boxes, grids = [], [], []
    for k in range(2):
        m = _random_person_mask(rng0)
        geom = {}
        rng = np.random.default_rng([trial, k])
        v = flip(crop(np.repeat(m[:, :, None], 3, axis=2), rng, geom), rng, geom)
        views.append(v[:, :, 0].astype(np.float32) / 255)
        boxes.append(np.asarray(geom["box"], np.float64))
        grids.append(cv2.resize(m.astype(np.float32) / 255, (teachers.MASK_GRID,) * 2, interpolation=cv2.INTER_AREA))
    return np.stack(views), np.array(boxes), grids

def test_cutmix_segmenter_target_is_the_mixed_views_person_fraction():
    """A CutMix view's segmenter target: its own crop's person fraction, less its part under the
    pasted rectangle, plus the partner crop's part there. Checked against the pixels of views made
    by the real crop / flip / CutMix ops from random person masks (a flip must be followed too)."""
    from personcls.training import augment

    cut = augment.CutMix(alpha=1.0, prob=1.0)
    rng0 = np.random.default_rng(0)
    err, err_unflipped = [], []
    for trial in range(60):
        views, boxes, grids = _two_views(rng0, trial)
        partner, rect = cut(2, np.random.default_rng(trial))
        truth = cut.apply(views[:, None], partner, rect)[:, 0].mean(axis=(1, 2))
        for boxes_used, errs in ((boxes, err), (np.array([teachers._ordered(b) for b in boxes]), err_unflipped)):
            own = np.array([teachers.crop_fraction(grids[k], boxes_used[k]) for k in range(2)])
            errs.append(np.abs(teachers.ExternalTeacher._mixed_fractions(own, grids, boxes_used, partner, rect) - truth).max())
    assert max(err) < 0.01  # the grid's resolution
    assert max(err_unflipped) > 0.05  # a flip ignored puts the pasted part's people in the wrong place


def test_person_paste_segmenter_target_is_the_composites_person_fraction():
    """A view with a person pasted in (PersonPasteOperator): the segmenter target, from the
    cached grids (the pasted opacity plus the view's own mask where it stays visible), equals the
    person fraction of the composite's pixels, made by the real crop / flip / paste ops from
    random person masks; a flip ignored misreads the view's own people."""
    from personcls.training import augment

    paste = augment.PersonPaste(prob=1.0, height=(0.3, 0.9), min_area=0.01)
    rng0 = np.random.default_rng(2)
    err, err_unflipped, pasted = [], [], 0
    for trial in range(60):
        views, boxes, grids = _two_views(rng0, trial)

        def masks(h, w):
            return np.stack([teachers.cell_fractions(grids[k], boxes[k], h, w) for k in range(2)])

        xm, _, mix = paste.mix_batch(views[:, None], np.array([-1, -1]), np.random.default_rng(trial), masks)
        if mix is None:
            continue
        truth = xm[:, 0].mean(axis=(1, 2))  # channel 0 holds the (pasted) person pixels
        for boxes_used, errs in ((boxes, err), (np.array([teachers._ordered(b) for b in boxes]), err_unflipped)):
            own = np.array([teachers.crop_fraction(grids[k], boxes_used[k]) for k in range(2)])
            fr = teachers.ExternalTeacher._pasted_fractions(own, grids, boxes_used, mix.partner, mix.alpha)
            errs.append(np.abs(fr - truth)[mix.partner >= 0].max())
        pasted += int((mix.partner >= 0).sum())
    assert pasted > 40
    assert max(err) < 0.03  # the grid's resolution at the pasted person's edges
    assert max(err_unflipped) > 0.05


def test_cell_fractions_are_the_views_cells():
    """The person map's target: per cell of a cropped, maybe flipped view, the person fraction
    computed from the source image's grid and the view's box equals the view's own pixels."""
    import cv2

    from personcls.training import augment

    crop = augment.RandCropImage(size=64, scale=(0.25, 1.0), ratio=(0.75, 1.78))
    flip = augment.RandFlipImage(flip_code=1, prob=0.5)
    rng0 = np.random.default_rng(1)
    err, err_unflipped, flips = [], [], 0
    for trial in range(40):
        m = _random_person_mask(rng0)
        geom = {}
        rng = np.random.default_rng(trial)
        v = flip(crop(np.repeat(m[:, :, None], 3, axis=2), rng, geom), rng, geom)[:, :, 0].astype(np.float32) / 255
        truth = v.reshape(4, 16, 4, 16).mean(axis=(1, 3))
        grid = cv2.resize(m.astype(np.float32) / 255, (teachers.MASK_GRID,) * 2, interpolation=cv2.INTER_AREA)
        box = np.asarray(geom["box"], np.float64)
        flips += int(box[0] > box[2])
        err.append(np.abs(teachers.cell_fractions(grid, box, 4, 4) - truth).max())
        err_unflipped.append(np.abs(teachers.cell_fractions(grid, teachers._ordered(box), 4, 4) - truth).max())
        assert teachers.crop_fraction(grid, box) == pytest.approx(teachers.cell_fractions(grid, box, 4, 4).mean(), abs=1e-9)
    assert flips > 5
    assert max(err) < 0.06  # a 16x16-pixel cell against a 96x96 grid of a 240x150 mask
    assert max(err_unflipped) > 0.2  # a flip ignored puts the people in the mirrored cells

def test_classifier_member_on_real_photos(tdir, demo_dir):
    import cv2

    t = _teacher(_vww(tdir))
    rgb = [cv2.imread(str(demo_dir / n))[:, :, ::-1] for n in ("grace_hopper.jpg", "sunflower.jpg")]
    p = t.member_probs(np.stack([cv2.resize(im, (96, 96), interpolation=cv2.INTER_AREA) for im in rgb]).astype(np.float32), np.arange(2), None)
    assert p.shape == (1, 2)
    assert p[0, 0] > 0.5 > p[0, 1]  # a portrait vs a flower

def test_segmenter_target_follows_the_crop(tdir, demo_dir, tmp_path, monkeypatch):
    """One segmenter pass per image; a crop around the person and a crop away from it get
    different targets; offline targets ignore the crop."""
    monkeypatch.setenv("PERSONCLS_TEACHER_CACHE", str(tmp_path / "cache"))
    path = str(demo_dir / "grace_hopper.jpg")
    t = _teacher(_deeplab(tdir))
    files = t.prepare_cache([path])
    assert Path(next(iter(files.values()))).is_file()
    grid = t.cached[0][0].astype(np.float32) / 255
    assert grid.mean() > 0.05  # a portrait: many person pixels
    iy, ix = np.unravel_index(np.argmin(grid), grid.shape)
    g = teachers.MASK_GRID
    empty = (ix / g, iy / g, (ix + 1) / g, (iy + 1) / g)
    person = (0.0, 0.0, 1.0, 1.0)
    p = t.member_probs(None, np.array([0, 0]), np.array([person, empty], np.float32))[0]
    assert p[0] > 0.9 and p[1] < 0.1
    off = _teacher(_deeplab(tdir), targets="offline")
    off.prepare_cache([path])  # same cache file (same member, same images)
    p2 = off.member_probs(None, np.array([0, 0]), np.array([person, empty], np.float32))[0]
    assert p2[0] == p2[1] == pytest.approx(p[0])
    # mean / max of members
    both = teachers.ExternalTeacher({"name": "External", "combine": "max",
                                     "members": [_deeplab(tdir), _vww(tdir)]}, "T")
    assert both.combine_probs(np.array([[0.2], [0.6]])) == pytest.approx([0.6])
    assert teachers.ExternalTeacher({"name": "External", "members": [_deeplab(tdir), _vww(tdir)]},
                                    "T").combine_probs(np.array([[0.2], [0.6]])) == pytest.approx([0.4])

def test_teacher_cache_is_per_image_reused_across_lists_and_resumes(tdir, demo_dir, tmp_path, monkeypatch):
    """A member's cached rows are keyed by image: another list (in another order, with
    repeats) runs only the images the store lacks, and a pass killed after a chunk keeps that chunk."""
    monkeypatch.setenv("PERSONCLS_TEACHER_CACHE", str(tmp_path / "cache"))
    a, b, c = (str(demo_dir / n) for n in ("grace_hopper.jpg", "sunflower.jpg", "cat_720p.jpg"))
    ran = []
    real = teachers.ExternalTeacher._compute_table

    def counting(self, m, paths, progress=None):
        ran.append(list(paths))
        return real(self, m, paths, progress)

    monkeypatch.setattr(teachers.ExternalTeacher, "_compute_table", counting)
    t1 = _teacher(_deeplab(tdir))
    f = Path(next(iter(t1.prepare_cache([a, b]).values())))
    assert f.is_file() and ran == [[a, b]]
    t2 = _teacher(_deeplab(tdir))
    t2.prepare_cache([b, c, b, a])
    assert ran[1:] == [[c]]  # only the new image
    np.testing.assert_array_equal(t2.cached[0][[3, 0, 2]], np.stack([t1.cached[0][0], t1.cached[0][1], t1.cached[0][1]]))

    # killed during the second chunk: the first chunk's rows are in the store
    monkeypatch.setenv("PERSONCLS_TEACHER_CACHE", str(tmp_path / "cache2"))
    calls = []

    def dies_second(self, m, paths, progress=None):
        calls.append(list(paths))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, m, paths, progress)

    monkeypatch.setattr(teachers.ExternalTeacher, "_compute_table", dies_second)
    with pytest.raises(KeyboardInterrupt):
        _teacher(_deeplab(tdir)).prepare_cache([a, b, c], chunk=1)
    calls.clear()
    monkeypatch.setattr(teachers.ExternalTeacher, "_compute_table", counting)
    ran.clear()
    t3 = _teacher(_deeplab(tdir))
    t3.prepare_cache([a, b, c], chunk=1)
    assert len(ran) == 2 and sorted(p for r in ran for p in r) == sorted([a, b, c])[1:]  # the first chunk was kept
    np.testing.assert_array_equal(t3.cached[0], t2.cached[0][[3, 0, 1]])

def _short_run(data_dir, tdir, tmp_path):
    """Overrides that run the shipped recipe's config for 1 epoch at 64 px on the vww debug lists."""
    vww = data_dir / "vww"
    return [f"Global.output_dir={tmp_path / 'out'}", "Global.epochs=1",
            "Preprocess.resize_size=[64,64]", "Preprocess.crop_size=[64,64]",
            f"Arch.models.0.Teacher.members.0.path={tdir / 'deeplabv3_mnv2_pascal_quant.tflite'}",
            f"Arch.models.0.Teacher.members.1.path={tdir / 'vww_96_float.tflite'}",
            f"Arch.models.1.Student.pretrained={data_dir / 'pretrained' / 'PPLCNet_x1_0_textori_init.pdparams'}",
            f"DataLoader.Train.dataset.cls_label_path=[{vww / 'train_list.txt.debug'}]",
            f"DataLoader.Eval.dataset.cls_label_path={vww / 'val_list.txt.debug'}",
            "DataLoader.Train.sampler.batch_size=16", "DataLoader.Train.loader.num_workers=0"]

def test_short_distillation_with_external_teachers(data_dir, tdir, tmp_path, monkeypatch):
    """The shipped recipe's config on the vww debug lists: 1 epoch at 64 px, both teachers."""
    from personcls.training import cli

    monkeypatch.setenv("PERSONCLS_TEACHER_CACHE", str(tmp_path / "cache"))
    ov = _short_run(data_dir, tdir, tmp_path)
    assert cli.run("train", str(CONFIG), ov) == 0
    run = tmp_path / "out" / "DistillationModel"
    info = json.loads((run / "latest.json").read_text())
    ext = info["weights_source"]["external_teacher"]
    assert ext["targets"] == "consistent" and [m["kind"] for m in ext["members"]] == ["segmenter", "classifier"]
    assert (run / "metrics.csv").read_text().count("\n") == 2
    # the student exports like any other model
    assert cli.run("export", str(CONFIG), ov + [f"Global.pretrained_model={run / 'latest'}",
                                                f"Global.save_inference_dir={tmp_path / 'model'}"]) == 0
    meta = json.loads((tmp_path / "model" / "personcls.json").read_text())
    assert meta["preprocess"]["crop_size"] == [64, 64] and meta["preprocess"]["resize_short"] == 0

def test_short_distillation_with_person_map(data_dir, tdir, tmp_path, monkeypatch):
    """DistillationMapLoss on the shipped recipe's config (debug lists, 64 px): the map head
    trains beside the student, is kept in checkpoints, and stays out of the export; a config whose
    teacher has no crop-following segmenter, or that mixes views, is refused before training."""
    import paddle

    from personcls.training import cli
    from personcls.training import config_access as C
    from personcls.training import distill

    monkeypatch.setenv("PERSONCLS_TEACHER_CACHE", str(tmp_path / "cache"))
    losses = ("Loss.Train=[{DistillationKLDivLoss: {weight: 1.0}}, {DistillationGTCELoss: {weight: 0.5}}, "
              "{DistillationMapLoss: {weight: 1.0}}]")
    ov = _short_run(data_dir, tdir, tmp_path) + [losses]
    assert cli.run("train", str(CONFIG), ov) == 0
    run = tmp_path / "out" / "DistillationModel"
    state = paddle.load(str(run / "latest.pdparams"))
    assert list(state["MapHead.weight"].shape) == [1, 512, 1, 1]  # one map channel from the last stage
    assert cli.run("export", str(CONFIG), ov + [f"Global.pretrained_model={run / 'latest'}",
                                                f"Global.save_inference_dir={tmp_path / 'model'}"]) == 0
    plain = tmp_path / "plain"
    assert cli.run("export", str(CONFIG), _short_run(data_dir, tdir, tmp_path) + [
        f"Global.pretrained_model={run / 'latest'}", f"Global.save_inference_dir={plain}"]) == 0
    # the export is the student alone: the same answers with or without the map loss in the config
    from personcls.classifier import Classifier

    imgs = [str(p) for p in sorted((data_dir / "demo").glob("*.jpg"))[:4]]
    with Classifier(tmp_path / "model", backend="paddle") as a, Classifier(plain, backend="paddle") as b:
        pa, pb = ([r.person_score for r in c.predict_batch(imgs)] for c in (a, b))
    assert pa == pb and len(set(pa)) > 1
    cfg = C.load(str(CONFIG), ov + ["Arch.models.0.Teacher.members.0.follow_crop=false"])
    with pytest.raises(ConfigError, match="Loss.Train.2.DistillationMapLoss: the person map's target"):
        distill.training_targets(cfg, [], distill.external_teacher(cfg), None, {})
    cfg = C.load(str(CONFIG), ov + ["DataLoader.Train.dataset.batch_transform_ops=[{CutmixOperator: {alpha: 1.0}}]"])
    with pytest.raises(ConfigError, match="Loss.Train.2.DistillationMapLoss: person maps of mixed views"):
        distill.training_targets(cfg, [], distill.external_teacher(cfg), None, {})

def test_short_distillation_with_a_feature_teacher(data_dir, tdir, tmp_path, monkeypatch):
    """The person teachers and an ImageNet feature teacher together (debug lists, 64 px): the
    External teachers give each view's target, the ImageNet MobileNetV2 each view's vector; the
    feature map trains and stays out of the export."""
    import paddle

    from personcls.training import cli

    monkeypatch.setenv("PERSONCLS_TEACHER_CACHE", str(tmp_path / "cache"))
    mnv2 = data_dir / "pretrained" / "MobileNetV2_imagenet_from_coral_int8.pdparams"
    ov = _short_run(data_dir, tdir, tmp_path) + [
        "Loss.Train.2={DistillationFeatureLoss: {weight: 5.0}}",
        "Arch.models.2={FeatureTeacher: {name: MobileNetV2, class_num: 1000, padding: tf_same, "
        f"mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], pretrained: {mnv2}}}}}",
        "Arch.freeze_params_list=[True, False, True]"]
    assert cli.run("train", str(CONFIG), ov) == 0
    run = tmp_path / "out" / "DistillationModel"
    state = paddle.load(str(run / "latest.pdparams"))
    assert list(state["FeatHead.weight"].shape) == [1280, 1280]
    info = json.loads((run / "latest.json").read_text())
    assert {"external_teacher", "feature_teacher"} <= set(info["weights_source"])
    row = (run / "metrics.csv").read_text().splitlines()[1].split(",")
    assert np.isfinite(float(row[2]))  # train_loss
    assert cli.run("export", str(CONFIG), ov + [f"Global.pretrained_model={run / 'latest'}",
                                                f"Global.save_inference_dir={tmp_path / 'model'}"]) == 0

def test_short_distillation_with_cutmix(data_dir, tdir, tmp_path, monkeypatch):
    """CutMix on the shipped recipe's config (debug lists, 64 px): trains and records the mixed
    views' teacher prior; a teacher that cannot judge mixed views is refused before training."""
    from personcls.training import cli
    from personcls.training import config_access as C
    from personcls.training import distill

    monkeypatch.setenv("PERSONCLS_TEACHER_CACHE", str(tmp_path / "cache"))
    ov = _short_run(data_dir, tdir, tmp_path) + [
        "DataLoader.Train.dataset.batch_transform_ops=[{CutmixOperator: {alpha: 1.0, prob: 0.5}}]"]
    assert cli.run("train", str(CONFIG), ov) == 0
    run = tmp_path / "out" / "DistillationModel"
    assert 0.0 < json.loads((run / "latest.json").read_text())["teacher_prior"] < 1.0
    row = (run / "metrics.csv").read_text().splitlines()[-1].split(",")
    assert 4 <= int(row[-1]) <= 28  # mixed_views: about half of the 32 debug views
    cfg = C.load(str(CONFIG), ov + ["Arch.models.0.Teacher.targets=offline"])
    with pytest.raises(ConfigError, match="batch_transform_ops: mixed views need Arch.models.0.Teacher.targets: consistent"):
        distill.batch_mix(cfg, distill.external_teacher(cfg))
    det = {"path": str(tdir / "person-detection-retail-0013" / "person-detection-retail-0013.xml"), "kind": "detector",
           "layout": "NCHW", "color": "BGR", "scale": 1, "person_label": 1, "follow_crop": True}
    with pytest.raises(ConfigError, match="members.0 is a detector following crops"):
        _teacher(det).check_mix("DataLoader.Train.dataset.batch_transform_ops")


def test_short_distillation_with_person_paste(data_dir, tdir, tmp_path, monkeypatch):
    """PersonPasteOperator on the shipped recipe's config (debug lists, 64 px): trains with the
    pasted views counted; a teacher without a crop-following segmenter is refused before training."""
    from personcls.training import cli
    from personcls.training import config_access as C
    from personcls.training import distill

    monkeypatch.setenv("PERSONCLS_TEACHER_CACHE", str(tmp_path / "cache"))
    ov = _short_run(data_dir, tdir, tmp_path) + [
        "DataLoader.Train.dataset.batch_transform_ops=[{PersonPasteOperator: {prob: 0.5}}]"]
    assert cli.run("train", str(CONFIG), ov) == 0
    run = tmp_path / "out" / "DistillationModel"
    row = (run / "metrics.csv").read_text().splitlines()[-1].split(",")
    assert 2 <= int(row[-1]) <= 28  # mixed_views: up to half of the 32 debug views, where a donor was found
    cfg = C.load(str(CONFIG), ov + ["Arch.models.0.Teacher.members.0.follow_crop=false"])
    with pytest.raises(ConfigError, match="batch_transform_ops: pasting people needs their masks: a segmenter member"):
        distill.batch_mix(cfg, distill.external_teacher(cfg))


def test_balance_prior_shifts_the_someone_logit():
    import math

    import paddle

    from personcls.training.models import build_model

    paddle.seed(0)
    net = build_model("PPLCNet_x0_25", class_num=2)
    net.eval()
    x = paddle.rand([3, 3, 32, 32])
    before = net(x).numpy()
    delta = teachers.balance_prior(net, 0.25)
    after = net(x).numpy()
    assert delta == pytest.approx(math.log(3.0))
    np.testing.assert_allclose((after[:, 1] - after[:, 0]) - (before[:, 1] - before[:, 0]), delta, rtol=1e-5)
    with pytest.raises(ValueError):
        teachers.balance_prior(net, 1.0)
