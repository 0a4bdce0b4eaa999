"""Distillation (online / offline teacher, unlabeled images, losses, student export) and the
greedy hyperparameter search, on small real runs. Images: synthetic PNGs written per test (so
these run without ../shared/data), except the search test which uses the vww ``.debug`` lists."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

paddle = pytest.importorskip("paddle", reason="training needs PaddlePaddle")

from personcls.errors import ConfigError, ModelError  # noqa: E402
from personcls.training import cli, config_access, distill  # noqa: E402
from personcls.training import data as D  # noqa: E402
from personcls.training.config_access import preprocess_spec  # noqa: E402

from conftest import data_root  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = data_root()  # $PERSONCLS_DATA or ../shared/data


def _images(folder: Path, n: int, labeled: bool, seed: int) -> Path:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        img = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"img{i}.png"), img)
        lines.append(f"img{i}.png {i % 2}" if labeled else f"img{i}.png")
    lst = folder / "list.txt"
    lst.write_text("\n".join(lines) + "\n")
    return lst


@pytest.fixture()
def setup(tmp_path):
    """A saved 2-class MobileNetV2 teacher (random weights, TF padding, its own mean / std), 12
    labeled + 8 unlabeled images, and -o overrides for a tiny PPLCNet_x0_25 student."""
    paddle.seed(1)
    from personcls.training.models import build_model

    teacher = build_model("MobileNetV2", 2, padding="tf_same")
    paddle.save(teacher.state_dict(), str(tmp_path / "teacher.pdparams"))
    lab = _images(tmp_path / "lab", 12, True, 0)
    unl = _images(tmp_path / "unl", 8, False, 1)
    ov = [f"Global.output_dir={tmp_path / 'out'}", "Global.epochs=1", "Global.use_visualdl=False",
          "Preprocess.resize_short=40", "Preprocess.crop_size=32",
          "Arch.models.0.Teacher.name=MobileNetV2", "Arch.models.0.Teacher.padding=tf_same",
          "Arch.models.0.Teacher.mean=[0.5,0.5,0.5]", "Arch.models.0.Teacher.std=[0.5,0.5,0.5]",
          f"Arch.models.0.Teacher.pretrained={tmp_path / 'teacher.pdparams'}",
          "Arch.models.1.Student.name=PPLCNet_x0_25", "Arch.models.1.Student.pretrained=null",
          f"DataLoader.Train.dataset.cls_label_path=[{lab},{unl}]",
          f"DataLoader.Eval.dataset.cls_label_path={lab}",
          "DataLoader.Train.sampler.batch_size=8", "DataLoader.Train.loader.num_workers=0",
          "DataLoader.Eval.loader.num_workers=0", "Loss.Train.1.DistillationKLDivLoss.weight=0.5",
          "Loss.Train.2.DistillationJSDivLoss.weight=0.5", f"Global.save_inference_dir={tmp_path / 'inference'}"]
    return tmp_path, ov


def test_offline_and_online_teacher_agree(setup, monkeypatch):
    tmp, ov = setup
    monkeypatch.setenv("PERSONCLS_TEACHER_CACHE", str(tmp / "cache"))
    cfg = config_access.load("PPLCNet_x1_0_distillation.yaml", ov + ["Arch.models.0.Teacher.offline=True"])
    entries = D.read_lists(cfg["DataLoader"]["Train"]["dataset"]["cls_label_path"], None, 2)
    assert [e.label for e in entries].count(-1) == 8
    paths = [e.path for e in entries]
    table, f = distill.load_or_compute_offline(cfg, paths)
    assert f.is_file() and str(tmp / "cache") in str(f) and table.shape == (20, 2)
    # cached: a second call reads the file back
    mtime = f.stat().st_mtime_ns
    table2, _ = distill.load_or_compute_offline(cfg, paths)
    assert f.stat().st_mtime_ns == mtime and np.array_equal(table, table2)

    # online: the teacher inside the DistillationModel on the same augmentation-free views
    model = distill.build_distillation_model(cfg, for_training=False, with_teacher=True)
    ds = D.ListDataset(entries, D.EvalPipeline(preprocess_spec(cfg)))
    x = paddle.to_tensor(np.stack([ds[i][0] for i in range(len(ds))]))
    online = model.teacher_logits(x).numpy()
    assert np.abs(online - table).max() < 1e-4

    # ... and the losses computed from either agree
    loss = distill.build_loss(cfg)
    s = paddle.to_tensor(np.random.default_rng(0).standard_normal((20, 2)).astype("float32"))
    y = paddle.to_tensor(np.array([e.label for e in entries], np.int64))
    l_on, parts_on = loss({"Student": s, "Teacher": paddle.to_tensor(online)}, y)
    out_off, _ = distill.OfflineTeacher(table)(np.arange(20), {"Student": s}, y)
    l_off, parts_off = loss(out_off, y)
    assert abs(float(l_on) - float(l_off)) < 1e-5
    assert set(parts_on) == {"DistillationDMLLoss", "DistillationKLDivLoss", "DistillationJSDivLoss",
                             "DistillationGTCELoss"}


def test_losses_math_and_unlabeled():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((6, 3)).astype("float32")
    t = rng.standard_normal((6, 3)).astype("float32")

    def sm(z, T):
        e = np.exp(z / T - (z / T).max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    T = 2.0
    ps, pt = sm(s, T), sm(t, T)
    kl_ts = (pt * np.log(pt / ps)).sum(1)
    kl_st = (ps * np.log(ps / pt)).sum(1)
    m = (ps + pt) / 2
    js = 0.5 * ((pt * np.log(pt / m)).sum(1) + (ps * np.log(ps / m)).sum(1))
    S, Tt = paddle.to_tensor(s), paddle.to_tensor(t)
    np.testing.assert_allclose(distill.soft_losses("DistillationKLDivLoss", S, Tt, T).numpy(), kl_ts * T * T, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(distill.soft_losses("DistillationDMLLoss", S, Tt, T).numpy(),
                               (kl_ts + kl_st) / 2 * T * T, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(distill.soft_losses("DistillationJSDivLoss", S, Tt, T).numpy(), js * T * T, rtol=1e-4, atol=1e-5)
    # logit distance: mean squared difference, the same at any temperature
    for temp in (1.0, T):
        np.testing.assert_allclose(distill.soft_losses("DistillationDistanceLoss", S, Tt, temp).numpy(),
                                   ((s - t) ** 2).mean(1), rtol=1e-5, atol=1e-6)
    # GT cross-entropy only where a label exists
    cfg = {"Loss": {"Train": [{"DistillationGTCELoss": {"weight": 1.0}}]}}
    f = distill.build_loss(cfg)
    y = np.array([0, -1, 2, -1, 1, -1])
    total, _ = f({"Student": S}, paddle.to_tensor(y))
    lp = np.log(sm(s, 1.0))
    want = -np.mean([lp[i, y[i]] for i in range(6) if y[i] >= 0])
    assert abs(float(total) - want) < 1e-5
    total, parts = f({"Student": S}, paddle.to_tensor(np.full(6, -1)))  # no label at all: no GT term
    assert float(total) == 0.0 and parts == {}
    with pytest.raises(ConfigError, match="class"):
        distill.soft_losses("DistillationDMLLoss", S, paddle.to_tensor(np.zeros((6, 2), "float32")), 1.0)
    # person map: BCE of the map logits against the gated person fraction of each cell
    cfg = {"Loss": {"Train": [{"DistillationMapLoss": {"weight": 2.0, "cell_area": 0.02, "sharpness": 2.0}}]}}
    f = distill.build_loss(cfg)
    z = rng.standard_normal((2, 4, 4)).astype("float32")
    fr = rng.uniform(0, 0.2, (2, 4, 4)).astype("float32")
    tgt = 1 / (1 + np.exp(-2.0 * (np.log(fr + 1e-4) - np.log(0.02))))
    p = 1 / (1 + np.exp(-z))
    want = -(tgt * np.log(p) + (1 - tgt) * np.log(1 - p)).mean()
    total, parts = f({"StudentMap": paddle.to_tensor(z), "TeacherMap": paddle.to_tensor(fr), "Student": S},
                     paddle.to_tensor(y))
    assert parts["DistillationMapLoss"] == pytest.approx(want, rel=1e-4) and float(total) == pytest.approx(2 * want, rel=1e-4)
    with pytest.raises(ModelError, match="person map"):
        f({"Student": S}, paddle.to_tensor(y))


def test_config_errors(setup):
    tmp, ov = setup
    with pytest.raises(ConfigError, match="Teacher.pretrained is required"):
        distill.build_distillation_model(config_access.load("PPLCNet_x1_0_distillation.yaml",
                                                  ov + ["Arch.models.0.Teacher.pretrained=null"]), for_training=True)
    with pytest.raises(ConfigError, match="not supported in distillation"):
        distill.build_loss({"Loss": {"Train": [{"FocalLoss": {}}]}})
    with pytest.raises(ConfigError, match="needs a Teacher"):
        distill.sub_models({"Arch": {"name": "DistillationModel", "models": [{"Student": {"name": "PPLCNet_x1_0"}}]}})


@pytest.mark.parametrize("offline", [False, True])
def test_distillation_train_resume_export(setup, monkeypatch, offline):
    tmp, ov = setup
    monkeypatch.setenv("PERSONCLS_TEACHER_CACHE", str(tmp / "cache"))
    ov = ov + [f"Arch.models.0.Teacher.offline={offline}"]
    assert cli.run("train", "PPLCNet_x1_0_distillation.yaml", ov) == 0
    run = tmp / "out" / "DistillationModel"
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert len(rows) == 1 and rows[0]["val_acc"]
    keys = paddle.load(str(run / "best_model.pdparams")).keys()
    assert any(k.startswith("Student.") for k in keys)
    assert not any(k.startswith("Teacher.") for k in keys)  # the frozen teacher is not checkpointed
    info = json.loads((run / "latest.json").read_text())
    assert ("offline_teacher_outputs" in info["weights_source"]) == offline
    # a second epoch resumes from latest (same config otherwise)
    assert cli.run("train", "PPLCNet_x1_0_distillation.yaml", [o for o in ov if o != "Global.epochs=1"]
                   + ["Global.epochs=2", "Global.resume=true"]) == 0
    assert [r["epoch"] for r in csv.DictReader(open(run / "metrics.csv"))] == ["1", "2"]
    if offline:
        return  # export checked once (it is the same student either way)
    assert cli.run("export", "PPLCNet_x1_0_distillation.yaml",
                   ov + [f"Global.pretrained_model={run / 'best_model'}"]) == 0
    meta = json.loads((tmp / "inference" / "personcls.json").read_text())
    assert meta["arch"] == "PPLCNet_x0_25"
    from personcls import Classifier

    clf = Classifier(str(tmp / "inference"))
    r = clf.predict(str(tmp / "lab" / "img0.png"))
    assert r.someone in (True, False) and 0.0 <= r.person_score <= 1.0


@pytest.mark.skipif(not (DATA / "vww" / "train_list.txt.debug").is_file(), reason=f"{DATA / 'vww'} is missing (set PERSONCLS_DATA)")
def test_search_debug_and_resume(tmp_path, capsys):
    vww = DATA / "vww"
    ov = [f"output_dir={tmp_path / 'search'}",
          "base_overrides=[Global.epochs=1, Global.use_visualdl=False, Arch.name=PPLCNet_x0_25, Arch.pretrained=null,"
          f" DataLoader.Train.dataset.cls_label_path={vww / 'train_list.txt.debug'},"
          f" DataLoader.Eval.dataset.cls_label_path={vww / 'val_list.txt.debug'},"
          " DataLoader.Train.loader.num_workers=0, DataLoader.Eval.loader.num_workers=0,"
          " DataLoader.Train.sampler.batch_size=16, Optimizer.lr.warmup_epoch=0]",
          "search_dict=[{search_key: lrs, replace_config: [Optimizer.lr.learning_rate], search_values: [0.01, 0.05]},"
          " {search_key: resolutions, replace_config: [Preprocess.resize_short, Preprocess.crop_size],"
          " search_values: [32, 48]}]", "teacher=null"]
    assert cli.run("search", "PPLCNet_x1_0_search.yaml", ov) == 0
    out = capsys.readouterr().out
    assert "best:" in out and "| trial |" in out
    rows = list(csv.DictReader(open(tmp_path / "search" / "results.csv")))
    assert len(rows) == 4 and all(r["status"] == "trained" for r in rows)
    assert sum(r["key"] == "lrs" for r in rows) == 2
    trials = sorted(p.name for p in (tmp_path / "search" / "trials").iterdir())
    assert len(trials) == 4
    best = (tmp_path / "search" / "best_config.yaml").read_text()
    assert "PPLCNet_x0_25" in best
    # resume: finished trials are read back, not re-trained
    assert cli.run("search", "PPLCNet_x1_0_search.yaml", ov) == 0
    rows2 = list(csv.DictReader(open(tmp_path / "search" / "results.csv")))
    assert [r["status"] for r in rows2] == ["cached"] * 4
    assert [r["metric"] for r in rows2] == [r["metric"] for r in rows]


def test_search_config_errors(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("output_dir: x\nsearch_dict: []\n")
    with pytest.raises(ConfigError, match="base_config_file"):
        cli.run("search", str(bad), [])
    bad.write_text("base_config_file: PPLCNet_x1_0.yaml\nsearch_dict: [{search_key: a}]\n")
    with pytest.raises(ConfigError, match="replace_config"):
        cli.run("search", str(bad), [])


def test_search_checks_its_teachers_before_any_trial(tmp_path, monkeypatch):
    """The docs' debug search: a missing teacher is named before the student trials run."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t1.pdparams").write_bytes(b"")  # present (with the suffix added)
    ov = [f"output_dir={tmp_path / 'search'}", "teacher.search_values=[t1, output/nope/MobileNetV2/best_model]"]
    with pytest.raises(ConfigError, match="teacher weights not found: output/nope/MobileNetV2/best_model"):
        cli.run("search", "PPLCNet_x1_0_search.yaml", ov)
    assert not (tmp_path / "search").exists()  # no trial ran


def _feature_overrides(ov):
    """The setup's overrides with DistillationFeatureLoss in the JS entry's place."""
    return [o for o in ov if not o.startswith("Loss.Train.2.")] + [
        "Loss.Train.2={DistillationFeatureLoss: {weight: 1.0}}"]


def test_feature_loss_math():
    f = distill.build_loss({"Loss": {"Train": [{"DistillationFeatureLoss": {"weight": 2.0}}]}})
    rng = np.random.default_rng(3)
    t = rng.standard_normal((8, 16)).astype("float32") * 3 + 5
    S = paddle.to_tensor(np.zeros((8, 2), "float32"))
    y = paddle.to_tensor(np.full(8, -1))
    tn = (t - t.mean(0)) / np.sqrt(((t - t.mean(0)) ** 2).mean())  # centred, one scale
    for s, want in ((tn, 0.0), (np.zeros_like(t), 1.0), (2 * tn, 1.0), (tn + 0.5, 0.25)):
        total, parts = f({"Student": S, "StudentFeat": paddle.to_tensor(s), "TeacherFeat": paddle.to_tensor(t)}, y)
        assert parts["DistillationFeatureLoss"] == pytest.approx(want, rel=1e-4, abs=1e-6)
        assert float(total) == pytest.approx(2 * want, rel=1e-4, abs=1e-6)
    # one view: no spread to compare with, the term is left out of that batch
    total, parts = f({"Student": S[:1], "StudentFeat": paddle.to_tensor(tn[:1] + 9),
                      "TeacherFeat": paddle.to_tensor(t[:1])}, y[:1])
    assert parts == {}
    with pytest.raises(ModelError, match="feature vectors"):
        f({"Student": S}, y)


def test_feature_distillation_outputs_train_resume_export(setup):
    tmp, ov = setup
    ov = _feature_overrides(ov)
    cfg = config_access.load("PPLCNet_x1_0_distillation.yaml", ov)
    model = distill.build_distillation_model(cfg, for_training=True)
    model.train()
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype("float32"))
    out = model(x)
    # the teacher's vector is its pooled features on the re-normalised view; its logits are unchanged
    xt = x * model._renorm[0] + model._renorm[1]
    want = model.Teacher.embed(model.Teacher.forward_features(xt)).numpy()
    np.testing.assert_allclose(out["TeacherFeat"].numpy(), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["Teacher"].numpy(), model.Teacher(xt).numpy(), rtol=1e-4, atol=1e-5)
    assert out["StudentFeat"].shape == [4, 1280] and out["Student"].shape == [4, 2]
    # the map is trained with the student: it gets gradient
    loss, _ = distill.build_loss(cfg)(out, paddle.to_tensor(np.full(4, -1)))
    loss.backward()
    assert model.FeatHead.weight.grad is not None and float(model.FeatHead.weight.grad.abs().sum()) > 0

    assert cli.run("train", "PPLCNet_x1_0_distillation.yaml", ov) == 0
    run = tmp / "out" / "DistillationModel"
    state = paddle.load(str(run / "latest.pdparams"))
    assert list(state["FeatHead.weight"].shape) == [1280, 1280]  # PPLCNet vector -> MobileNetV2 vector
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert np.isfinite(float(rows[0]["train_loss"]))
    assert cli.run("train", "PPLCNet_x1_0_distillation.yaml", [o for o in ov if o != "Global.epochs=1"]
                   + ["Global.epochs=2", "Global.resume=true"]) == 0
    assert [r["epoch"] for r in csv.DictReader(open(run / "metrics.csv"))] == ["1", "2"]
    assert cli.run("export", "PPLCNet_x1_0_distillation.yaml",
                   ov + [f"Global.pretrained_model={run / 'latest'}"]) == 0
    from personcls import Classifier

    r = Classifier(str(tmp / "inference")).predict(str(tmp / "lab" / "img0.png"))
    assert 0.0 <= r.person_score <= 1.0


def test_feature_loss_needs_an_online_paddle_teacher(setup):
    tmp, ov = setup
    cfg = config_access.load("PPLCNet_x1_0_distillation.yaml",
                             _feature_overrides(ov) + ["Arch.models.0.Teacher.offline=True"])
    with pytest.raises(ConfigError, match=r"Loss\.Train\.2\.DistillationFeatureLoss: needs a Paddle teacher run online"):
        distill.build_distillation_model(cfg, for_training=True)
    # evaluation and export do not run the teacher: the student alone, no error
    assert distill.build_distillation_model(cfg, for_training=False).FeatHead is not None


def _feature_teacher(tmp):
    """-o overrides appending a FeatureTeacher (the setup's MobileNetV2 file) as a third model."""
    return ["Arch.models.2={FeatureTeacher: {name: MobileNetV2, padding: tf_same, mean: [0.5, 0.5, 0.5], "
            f"std: [0.5, 0.5, 0.5], pretrained: {tmp / 'teacher.pdparams'}}}}}",
            "Arch.freeze_params_list=[True, False, True]"]


def test_feature_teacher_beside_an_offline_teacher(setup, monkeypatch):
    """A FeatureTeacher supplies the vectors while the Teacher's logits come from its offline
    cache: both teach in one run, and the FeatureTeacher is not checkpointed."""
    tmp, ov = setup
    monkeypatch.setenv("PERSONCLS_TEACHER_CACHE", str(tmp / "cache"))
    ov = _feature_overrides(ov) + _feature_teacher(tmp) + ["Arch.models.0.Teacher.offline=True"]
    cfg = config_access.load("PPLCNet_x1_0_distillation.yaml", ov)
    model = distill.build_distillation_model(cfg, for_training=True)
    assert model.Teacher is None and model._feat_teacher is not None
    model.train()
    x = paddle.to_tensor(np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype("float32"))
    out = model(x)
    ft = model._feat_teacher
    want = ft.embed(ft.forward_features(x * model._feat_renorm[0] + model._feat_renorm[1])).numpy()
    np.testing.assert_allclose(out["TeacherFeat"].numpy(), want, rtol=1e-4, atol=1e-5)
    assert "Teacher" not in out  # the offline table adds the logits in the engine
    assert cli.run("train", "PPLCNet_x1_0_distillation.yaml", ov) == 0
    run = tmp / "out" / "DistillationModel"
    keys = paddle.load(str(run / "latest.pdparams")).keys()
    assert "FeatHead.weight" in keys and not any(k.startswith(("Teacher.", "FeatureTeacher.")) for k in keys)
    info = json.loads((run / "latest.json").read_text())
    assert "feature_teacher" in info["weights_source"] and "offline_teacher_outputs" in info["weights_source"]


def test_feature_teacher_config_errors(setup):
    tmp, ov = setup
    load = lambda extra: config_access.load("PPLCNet_x1_0_distillation.yaml", ov + extra)  # noqa: E731
    with pytest.raises(ConfigError, match=r"Arch.models.2.FeatureTeacher is read only by DistillationFeatureLoss"):
        distill.build_distillation_model(load(_feature_teacher(tmp)), for_training=True)
    with pytest.raises(ConfigError, match=r"Arch.models.2: unknown role 'Helper' \(known: Teacher, Student, FeatureTeacher\)"):
        distill.sub_models(load(["Arch.models.2={Helper: {name: MobileNetV2}}"]))
    with pytest.raises(ConfigError, match="FeatureTeacher is frozen"):
        distill.sub_models(load(_feature_teacher(tmp)[:1] + ["Arch.freeze_params_list=[True, False, False]"]))
    with pytest.raises(ConfigError, match="one true/false per Arch.models entry"):
        distill.sub_models(load(_feature_teacher(tmp)[:1]))  # the two-entry list of the config file
    with pytest.raises(ConfigError, match=r"index 3 out of range \(list has 2 items; index 2 appends\)"):
        load(["Arch.models.3={FeatureTeacher: {name: MobileNetV2}}"])
