"""Knowledge distillation (the tutorial's section 3.2.1.3, PaddleClas ``DistillationModel``).

Config, as in PaddleClas (``Arch.name: DistillationModel``)::

    Arch:
      name: DistillationModel
      class_num: 2
      freeze_params_list: [True, False]      # the teacher is frozen, the student trains
      infer_model_name: Student              # what eval / infer / export use
      models:
        - Teacher: {name: MobileNetV2, class_num: 2, pretrained: output/MobileNetV2/best_model,
                    padding: tf_same, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5],
                    offline: True}
        - Student: {name: PPLCNet_x1_0, class_num: 2, pretrained: ...}
    Loss:
      Train:
        - DistillationDMLLoss:  {weight: 1.0, model_name_pairs: [[Student, Teacher]], temperature: 1.0}
        - DistillationKLDivLoss: {weight: 0.0, model_name_pairs: [[Student, Teacher]], temperature: 4.0}
        - DistillationJSDivLoss: {weight: 0.0, model_name_pairs: [[Student, Teacher]], temperature: 1.0}
        - DistillationGTCELoss:  {weight: 1.0, model_names: [Student]}
        # also: DistillationDistanceLoss {weight, model_name_pairs}: mean squared logit difference
        # and DistillationMapLoss {weight, cell_area, sharpness}: person map per feature-map cell
        # (External teacher with a segmenter; see map_loss_entry)
        # and DistillationFeatureLoss {weight}: the teacher's pooled feature vector (online Paddle
        # teacher, or a third entry "- FeatureTeacher: {name: MobileNetV2, ...}" next to any
        # Teacher, an External one included; see feature_loss_entry)

The models see the same input tensor, normalised with the top-level ``Preprocess`` (the
student's, the one the export writes); a teacher with its own ``mean`` / ``std`` gets the
tensor re-normalised (an exact per-channel affine map), so a MobileNetV2 converted from TF
(mean = std = 0.5) can teach a student that uses ImageNet statistics.

Unlabeled images carry label ``-1`` (a list line without a label); only ``DistillationGTCELoss``
looks at labels and it skips those samples.

**Offline teacher** (``offline: True`` or ``offline_outputs: path.npz`` on the teacher): the
teacher's logits are computed once per training image on its augmentation-free view (the eval
preprocessing) and cached in an ``.npz`` file (default: ``~/.cache/personcls/teacher_outputs/
<teacher>_<key>.npz`` or ``$PERSONCLS_TEACHER_CACHE``, the key hashing the teacher weights'
sha256, the preprocessing and the image list, so runs and search trials share it); training then never runs the teacher and the distillation losses read that file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigError, ModelError
from . import config_access as C
from . import data as D
from . import augment, recipe, teachers
from .runlog import progress

log = logging.getLogger("personcls.training")

# keys of a sub-model entry that are not constructor arguments
_SUB_RESERVED = ("name", "class_num", "pretrained", "use_ssld", "mean", "std", "offline", "offline_outputs",
                 "freeze_bn", "use_sync_bn")
LOSSES = ("DistillationDMLLoss", "DistillationKLDivLoss", "DistillationJSDivLoss", "DistillationDistanceLoss",
          "DistillationGTCELoss", "CELoss", "DistillationMapLoss", "DistillationFeatureLoss")
ROLES = ("Teacher", "Student", "FeatureTeacher")
MAP_LOSS = "DistillationMapLoss"
FEAT_LOSS = "DistillationFeatureLoss"


# ----------------------------------------------------------------------------- config
def _loss_entry(cfg: Dict[str, Any], name: str) -> Optional[Tuple[str, Dict[str, Any]]]:
    """(where, args) of the loss ``name`` in ``Loss.Train`` with a weight > 0, or None."""
    for i, item in enumerate(C.get(cfg, "Loss.Train") or []):
        if isinstance(item, dict) and len(item) == 1 and name in item:
            args = dict(item[name] or {})
            where = f"Loss.Train.{i}.{name}"
            if C.number(args.get("weight", 1.0), f"{where}.weight", 0.0) > 0:
                return where, args
    return None


def map_loss_entry(cfg: Dict[str, Any]) -> Optional[Tuple[str, Dict[str, Any]]]:
    """(where, args) of the ``DistillationMapLoss`` in ``Loss.Train`` with a weight > 0, or None.

    The person map: a training-only 1x1 convolution (``MapHead``) on the student's last feature
    map predicts, per cell, whether someone is there; its target is the External teacher's
    segmenter on the same view (person-pixel fraction of the cell through the area gate,
    ``cell_area`` default 0.02, ``sharpness`` default 2.0), scored by binary cross-entropy.
    Where a person is, and 16 judgements per 128 px view instead of one. The exported network
    is the student alone, unchanged."""
    return _loss_entry(cfg, MAP_LOSS)


def feature_loss_entry(cfg: Dict[str, Any]) -> Optional[Tuple[str, Dict[str, Any]]]:
    """(where, args) of the ``DistillationFeatureLoss`` in ``Loss.Train`` with a weight > 0, or None.

    Feature distillation: a training-only linear map (``FeatHead``) from the student's pooled
    vector (the one its classifier reads, ``embed``) to the teacher's, fitted jointly with the
    student; its target is the teacher's vector on the same view, centred on the batch mean and
    divided by the batch's spread (the root mean square over the batch and all dimensions), so the
    loss is scale-free: 1.0 is what predicting the batch mean scores. A whole vector of what
    the teacher sees per view, where its logits pass on only the classes its softmax keeps. Needs
    a Paddle network run online on each view (it reads features, not cached logits): the
    ``FeatureTeacher`` entry of ``Arch.models`` when there is one (so a person teacher, External or
    not, and an ImageNet feature teacher can teach together), else the ``Teacher``. The exported
    network is the student alone, unchanged."""
    return _loss_entry(cfg, FEAT_LOSS)


def sub_models(cfg: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """``Arch.models`` as an ordered {role: entry} dict (roles Teacher, Student)."""
    arch = cfg.get("Arch") or {}
    models = arch.get("models")
    if not isinstance(models, list) or not models:
        raise ConfigError("Arch.models must list the sub-models, e.g. [{Teacher: {name: ...}}, {Student: {name: ...}}]")
    out: Dict[str, Dict[str, Any]] = {}
    for i, item in enumerate(models):
        if not isinstance(item, dict) or len(item) != 1:
            raise ConfigError(f"Arch.models.{i}: each entry is a one-key mapping like {{Student: {{name: ...}}}}, "
                              f"got {item!r}")
        (role, entry), = item.items()
        if role not in ROLES:
            raise ConfigError(f"Arch.models.{i}: unknown role {role!r} (known: {', '.join(ROLES)})")
        if role in out:
            raise ConfigError(f"Arch.models.{i}: a second {role} entry")
        if not isinstance(entry, dict) or not entry.get("name"):
            raise ConfigError(f"Arch.models.{i}.{role}.name is required")
        out[str(role)] = dict(entry, _index=i)
    if "Student" not in out:
        raise ConfigError(f"Arch.models needs a Student entry (have {', '.join(out)})")
    if "Teacher" not in out:
        raise ConfigError(f"Arch.models needs a Teacher entry (have {', '.join(out)})")
    freeze = arch.get("freeze_params_list")
    if freeze is not None:
        if not isinstance(freeze, list) or len(freeze) != len(models):
            raise ConfigError(f"Arch.freeze_params_list needs one true/false per Arch.models entry, got {freeze!r}")
        roles = list(out)
        if not freeze[roles.index("Teacher")]:
            raise ConfigError("Arch.freeze_params_list: a trainable teacher (DML between two trained models) is not "
                              "supported; set the Teacher's entry to True")
        if freeze[roles.index("Student")]:
            raise ConfigError("Arch.freeze_params_list: the Student must be trainable (False)")
        if "FeatureTeacher" in out and not freeze[roles.index("FeatureTeacher")]:
            raise ConfigError("Arch.freeze_params_list: the FeatureTeacher is frozen; set its entry to True")
    infer = str(arch.get("infer_model_name", "Student"))
    if infer != "Student":
        raise ConfigError(f"Arch.infer_model_name must be Student, got {infer!r}")
    return out


def external_teacher(cfg: Dict[str, Any]) -> Optional["teachers.ExternalTeacher"]:
    """The ``External`` teacher of a distillation config, built and checked; None for a Paddle teacher."""
    t = sub_models(cfg)["Teacher"]
    if not teachers.is_external(t):
        return None
    return teachers.ExternalTeacher({k: v for k, v in t.items() if k != "_index"}, f"Arch.models.{t['_index']}.Teacher")


def estimate_target_prior(cfg: Dict[str, Any], views: int = 2048, seed: int = 0) -> float:
    """Mean P(someone) an External teacher gives the training views (``views`` of them, drawn
    as in training): the prior the student was taught, for checkpoints that did not record it."""
    import paddle

    ext = external_teacher(cfg)
    if ext is None:
        raise ConfigError("Global.balance_prior needs an External teacher (its targets define the prior)")
    spec = C.preprocess_spec(cfg)
    ds, _, _ = D.build_train_data(cfg, spec, int(C.get(cfg, "Global.seed", 42)), with_geometry=ext.needs_geometry)
    ext.prepare_cache([e.path for e in ds.entries])
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(ds), size=min(views, len(ds)), replace=False)
    for s in range(0, len(pick), 64):
        items = [ds[(int(i), 1)] for i in pick[s:s + 64]]
        items = [it for it in items if int(it[3]) == 1]
        if not items:
            continue
        x = paddle.to_tensor(np.stack([it[0] for it in items]))
        boxes = np.stack([it[4] for it in items]) if ext.needs_geometry else None
        ext.attach({}, x, np.array([int(it[2]) for it in items]), boxes, spec)
    if ext.target_prior is None:
        raise ModelError("no readable training view to estimate the taught prior from")
    log.info("taught prior estimated on %d training views: %.4f", ext.target_count, ext.target_prior)
    return float(ext.target_prior)


def teacher_offline_path(cfg: Dict[str, Any]) -> Optional[str]:
    """None for an online teacher; else the explicit ``offline_outputs`` path or ``"auto"``."""
    t = sub_models(cfg)["Teacher"]
    if teachers.is_external(t):
        return None  # an External teacher keeps its own per-image cache (teachers.py)
    path = t.get("offline_outputs")
    if path not in (None, False, "", "null"):
        return str(path)
    return "auto" if C.as_bool(t.get("offline", False), "Arch.models.Teacher.offline") else None


def _load_sub(net, entry: Dict[str, Any], where: str, must_fit: bool) -> Optional[Dict[str, Any]]:
    pre = entry.get("pretrained")
    if must_fit and pre in (None, False, "", "null"):
        raise ConfigError(f"{where}.pretrained is required: a teacher needs trained weights "
                          f"(e.g. -o Arch.models.0.Teacher.pretrained=output/MobileNetV2/best_model)")
    return recipe.start_weights(net, pre, str(entry["name"]), bool(entry.get("use_ssld", False)),
                                f"{where}.pretrained", must_fit=must_fit)


# ----------------------------------------------------------------------------- the model
def _renorm_coeffs(cfg: Dict[str, Any], entry: Dict[str, Any]) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """(a, b) with x_teacher = a * x_student + b per channel, or None when the same."""
    spec = C.preprocess_spec(cfg)
    mean_t = entry.get("mean")
    std_t = entry.get("std")
    if mean_t is None and std_t is None:
        return None
    mean_t = np.asarray(mean_t if mean_t is not None else spec.mean, np.float64)
    std_t = np.asarray(std_t if std_t is not None else spec.std, np.float64)
    if mean_t.shape != (3,) or std_t.shape != (3,) or np.any(std_t <= 0):
        raise ConfigError(f"Arch.models Teacher mean / std must be 3 numbers (std > 0), got {entry.get('mean')} / "
                          f"{entry.get('std')}")
    ms, ss = np.asarray(spec.mean, np.float64), np.asarray(spec.std, np.float64)
    # x_s = (v - ms) / ss, x_t = (v - mt) / st  =>  x_t = (ss / st) x_s + (ms - mt) / st
    a, b = ss / std_t, (ms - mean_t) / std_t
    if np.allclose(a, 1) and np.allclose(b, 0):
        return None
    return a.astype(np.float32), b.astype(np.float32)


def set_bn_eval(layer) -> None:
    """Put every BatchNorm of ``layer`` in inference mode (statistics frozen)."""
    import paddle.nn as nn

    for sub in layer.sublayers(include_self=True):
        if isinstance(sub, (nn.BatchNorm, nn.BatchNorm1D, nn.BatchNorm2D, nn.BatchNorm3D, nn.SyncBatchNorm)):
            sub.eval()


def _make_model_class():
    import paddle
    import paddle.nn as nn

    class DistillationModel(nn.Layer):
        """``Student`` (a sub-layer) and ``Teacher`` (frozen; absent in offline mode and at inference).
        Training mode returns ``{"Student": logits, "Teacher": logits}`` (Teacher only when held;
        ``StudentMap`` [N, h, w] person-map logits too with a ``MapHead``; ``StudentFeat`` and
        ``TeacherFeat`` [N, teacher embed_dim] with a ``FeatHead``);
        eval mode returns the student's logits, so evaluation and export see a plain classifier."""

        def __init__(self, student, teacher=None, renorm=None, map_head=False, feat_dims=None,
                     feat_teacher=None, feat_renorm=None):
            super().__init__()
            self.Student = student
            self.MapHead = None
            if map_head:  # DistillationMapLoss: person map per cell of the student's last feature map
                ch = getattr(student, "feature_channels", None)
                if ch is None or not hasattr(student, "forward_head"):
                    raise ConfigError(f"{MAP_LOSS}: the student {type(student).__name__} exposes no feature map "
                                      f"(forward_features / forward_head)")
                self.MapHead = nn.Conv2D(int(ch), 1, 1)
            self.FeatHead = None
            if feat_dims is not None:  # DistillationFeatureLoss: student vector -> teacher vector
                self.FeatHead = nn.Linear(int(feat_dims[0]), int(feat_dims[1]))
            # The frozen teacher is kept outside the layer tree: it is not in parameters() (the
            # optimizer never sees it) nor in state_dict() (checkpoints hold Student.* only, the
            # same in online and offline mode; a resume reloads the teacher from its weights).
            # The same holds for a FeatureTeacher (DistillationFeatureLoss's source of vectors).
            object.__setattr__(self, "_teacher", teacher)
            object.__setattr__(self, "_feat_teacher", feat_teacher)
            for net in (teacher, feat_teacher):
                if net is not None:
                    for p in net.parameters():
                        p.stop_gradient = True
                    net.eval()

            def affine(coeffs):
                if coeffs is None:
                    return None
                a, b = coeffs
                return paddle.to_tensor(a.reshape(1, 3, 1, 1)), paddle.to_tensor(b.reshape(1, 3, 1, 1))

            self._renorm = affine(renorm)
            self._feat_renorm = affine(feat_renorm)

        @property
        def Teacher(self):
            return self._teacher

        def train(self):
            super().train()
            for net in (self._teacher, self._feat_teacher):
                if net is not None:
                    net.eval()  # frozen: BN statistics and dropout stay in inference mode
            return self

        @staticmethod
        def _renormed(x, coeffs):
            """``x`` in a frozen network's own normalisation (``coeffs`` from _renorm_coeffs)."""
            return x if coeffs is None else x * coeffs[0] + coeffs[1]

        def teacher_outputs(self, x):
            """(logits, pooled vector or None): the frozen teacher on ``x``, vector with a FeatHead."""
            if self.Teacher is None:
                raise ModelError("this DistillationModel holds no teacher (offline mode or inference)")
            x = self._renormed(x, self._renorm)
            with paddle.no_grad():
                if self.FeatHead is None or self._feat_teacher is not None:
                    return self.Teacher(x).detach(), None
                e = self.Teacher.embed(self.Teacher.forward_features(x))
                return self.Teacher.classify(e).detach(), e.detach()

        def feature_teacher_vectors(self, x):
            """The FeatureTeacher's pooled vectors on ``x`` (re-normalised to its mean / std)."""
            x = self._renormed(x, self._feat_renorm)
            with paddle.no_grad():
                return self._feat_teacher.embed(self._feat_teacher.forward_features(x)).detach()

        def teacher_logits(self, x):
            return self.teacher_outputs(x)[0]

        def forward(self, x):
            if not self.training:
                return self.Student(x)
            if self.MapHead is None and self.FeatHead is None:
                out = {"Student": self.Student(x)}
            else:
                f = self.Student.forward_features(x)
                e = self.Student.embed(f)
                out = {"Student": self.Student.classify(e)}
                if self.MapHead is not None:
                    out["StudentMap"] = self.MapHead(f).squeeze(1)
                if self.FeatHead is not None:
                    out["StudentFeat"] = self.FeatHead(e)
            if self.Teacher is not None:
                out["Teacher"], feat = self.teacher_outputs(x)
                if feat is not None:
                    out["TeacherFeat"] = feat
            if self._feat_teacher is not None:
                out["TeacherFeat"] = self.feature_teacher_vectors(x)
            return out

    return DistillationModel


def build_distillation_model(cfg: Dict[str, Any], for_training: bool, with_teacher: Optional[bool] = None):
    """The model for ``Arch.name: DistillationModel``. The teacher is built (and must load its
    weights completely) only for online training, or when ``with_teacher`` asks for it."""
    subs = sub_models(cfg)
    st, te = subs["Student"], subs["Teacher"]
    st_where, te_where = f"Arch.models.{st['_index']}.Student", f"Arch.models.{te['_index']}.Teacher"
    student = recipe.build_arch(st, st_where, _SUB_RESERVED)
    sources: Dict[str, Any] = {}
    if for_training:
        sources["student_pretrained"] = _load_sub(student, st, st_where, must_fit=False)
    if with_teacher is None:
        with_teacher = for_training and teacher_offline_path(cfg) is None
    if teachers.is_external(te):  # not a Paddle network: the engine runs it (external_teacher)
        with_teacher = False
    teacher = renorm = None
    if with_teacher:
        teacher = recipe.build_arch(te, te_where, _SUB_RESERVED)
        sources["teacher"] = _load_sub(teacher, te, te_where, must_fit=True)
        renorm = _renorm_coeffs(cfg, te)
    feat_dims = feat_teacher = feat_renorm = None
    feat = feature_loss_entry(cfg)
    ft = subs.get("FeatureTeacher")
    if ft is not None and feat is None:
        raise ConfigError(f"Arch.models.{ft['_index']}.FeatureTeacher is read only by {FEAT_LOSS}; add it to "
                          f"Loss.Train with a weight > 0, or remove the entry")
    if feat is not None:
        if ft is not None:  # the vectors come from the FeatureTeacher, whatever the Teacher is
            ft_where = f"Arch.models.{ft['_index']}.FeatureTeacher"
            if teachers.is_external(ft):
                raise ConfigError(f"{ft_where}: must be a Paddle network (e.g. MobileNetV2), not External")
            shape_of = recipe.build_arch(ft, ft_where, _SUB_RESERVED)
            if for_training:  # a frozen network run on every training view
                sources["feature_teacher"] = _load_sub(shape_of, ft, ft_where, must_fit=True)
                feat_teacher, feat_renorm = shape_of, _renorm_coeffs(cfg, ft)
            src_where = ft_where
        else:
            if for_training and teacher is None:
                why = ("an External teacher has no feature vector; declare a FeatureTeacher in Arch.models"
                       if teachers.is_external(te)
                       else "the teacher is offline (cached logits only); set " + te_where + ".offline=False")
                raise ConfigError(f"{feat[0]}: needs a Paddle teacher run online: {why}")
            shape_of = teacher if teacher is not None else recipe.build_arch(te, te_where, _SUB_RESERVED)
            src_where = te_where
        for net, where in ((student, st_where), (shape_of, src_where)):
            if not hasattr(net, "embed") or not hasattr(net, "embed_dim"):
                raise ConfigError(f"{feat[0]}: {where} ({type(net).__name__}) exposes no pooled vector (embed)")
        feat_dims = (student.embed_dim, shape_of.embed_dim)
    model = _make_model_class()(student, teacher, renorm, map_head=map_loss_entry(cfg) is not None,
                                feat_dims=feat_dims, feat_teacher=feat_teacher, feat_renorm=feat_renorm)
    model._weights_sources = sources
    return model


# ----------------------------------------------------------------------------- losses
def _pairs(args: Dict[str, Any], where: str) -> List[Tuple[str, str]]:
    pairs = args.get("model_name_pairs", [["Student", "Teacher"]])
    try:
        out = [(str(a), str(b)) for a, b in pairs]
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.model_name_pairs must be a list of [model, model] pairs, got {pairs!r}") from None
    for a, b in out:
        for n in (a, b):
            if n not in ("Student", "Teacher"):
                raise ConfigError(f"{where}.model_name_pairs: unknown model {n!r} (Student or Teacher)")
    return out


def soft_losses(kind: str, s_logits, t_logits, temperature: float):
    """Per-sample divergence between softmax(s/T) and softmax(t/T); KL and JS scaled by T^2
    (Hinton), DML is PaddleClas's symmetric form (KL(s||t) + KL(t||s)) / 2.
    ``DistillationDistanceLoss`` compares the logits themselves: the mean over classes of
    (s - t)^2 (T is not used). Every logit carries gradient, not only the few classes a softmax
    leaves mass on, which is what a teacher with many classes has to pass on."""
    import paddle
    import paddle.nn.functional as F

    if s_logits.shape[-1] != t_logits.shape[-1]:
        raise ConfigError(f"{kind}: the student outputs {s_logits.shape[-1]} classes but the teacher "
                          f"{t_logits.shape[-1]}; set the same class_num on both Arch.models entries")
    if kind == "DistillationDistanceLoss":
        d = s_logits.astype("float32") - t_logits.astype("float32")
        return (d * d).mean(axis=-1)
    T = float(temperature)
    ls = F.log_softmax(s_logits.astype("float32") / T, axis=-1)
    lt = F.log_softmax(t_logits.astype("float32") / T, axis=-1)
    ps, pt = paddle.exp(ls), paddle.exp(lt)
    if kind == "DistillationKLDivLoss":      # KL(teacher || student)
        return (pt * (lt - ls)).sum(axis=-1) * (T * T)
    if kind == "DistillationDMLLoss":        # symmetric KL
        return 0.5 * ((pt * (lt - ls)).sum(axis=-1) + (ps * (ls - lt)).sum(axis=-1)) * (T * T)
    if kind == "DistillationJSDivLoss":      # Jensen-Shannon
        m = 0.5 * (ps + pt)
        lm = paddle.log(paddle.clip(m, min=1e-12))
        return 0.5 * ((pt * (lt - lm)).sum(axis=-1) + (ps * (ls - lm)).sum(axis=-1)) * (T * T)
    raise ConfigError(f"unknown distillation loss {kind!r}")


def build_loss(cfg: Dict[str, Any]):
    """``f(out, labels) -> (total, {name: value})`` for a DistillationModel's output dict."""
    import paddle
    import paddle.nn.functional as F

    items = C.get(cfg, "Loss.Train") or []
    if not items:
        raise ConfigError("Loss.Train is empty: a distillation run needs at least one Distillation*Loss")
    terms = []
    for i, item in enumerate(items):
        where = f"Loss.Train.{i}"
        if not isinstance(item, dict) or len(item) != 1:
            raise ConfigError(f"{where}: each loss is a one-key mapping, got {item!r}")
        (name, args), = item.items()
        args = dict(args or {})
        if name not in LOSSES:
            raise ConfigError(f"{where}: loss {name!r} is not supported in distillation (known: {', '.join(LOSSES)})")
        w = C.number(args.get("weight", 1.0), f"{where}.{name}.weight", 0.0)
        if name == MAP_LOSS:
            area = C.number(args.get("cell_area", 0.02), f"{where}.{name}.cell_area", 1e-6)
            sharp = C.number(args.get("sharpness", 2.0), f"{where}.{name}.sharpness", 1e-6)
            terms.append(("map", name, w, (area, sharp), None))
        elif name == FEAT_LOSS:
            terms.append(("feat", name, w, None, None))
        elif name in ("DistillationGTCELoss", "CELoss"):
            names = [str(n) for n in args.get("model_names", ["Student"])]
            if names != ["Student"]:
                raise ConfigError(f"{where}.{name}.model_names: only [Student] trains, got {names}")
            eps = C.number(args.get("epsilon", 0.0) or 0.0, f"{where}.{name}.epsilon", 0.0)
            terms.append(("gt", name, w, eps, None))
        else:
            T = C.number(args.get("temperature", 1.0), f"{where}.{name}.temperature", 1e-6)
            terms.append(("soft", name, w, T, _pairs(args, f"{where}.{name}")))

    if all(t[2] == 0 for t in terms):
        raise ConfigError("all Loss.Train weights are 0: nothing to train")

    def f(out: Dict[str, Any], labels) -> Tuple[Any, Dict[str, float]]:
        total = 0.0
        parts: Dict[str, float] = {}
        for kind, name, w, arg, pairs in terms:
            if w == 0:
                continue
            if kind == "gt":
                lab = labels.reshape([-1])
                mask = (lab >= 0)
                n = int(mask.astype("int32").sum())
                if n == 0:
                    continue  # a batch of unlabeled images only
                logits = out["Student"].astype("float32")
                logp = F.log_softmax(logits, axis=-1)
                safe = paddle.where(mask, lab, paddle.zeros_like(lab))
                nll = -paddle.take_along_axis(logp, safe.reshape([-1, 1]), axis=1).squeeze(1)
                if arg:
                    nll = (1 - arg) * nll - arg * logp.mean(axis=-1)
                v = (nll * mask.astype("float32")).sum() / n
            elif kind == "map":
                if "StudentMap" not in out or "TeacherMap" not in out:
                    raise ModelError(f"{name}: needs the student's person map and the teacher's (have "
                                     f"{', '.join(out)}); it works with an External teacher holding a segmenter")
                area, sharp = arg
                target = paddle.to_tensor(teachers.area_gate(out["TeacherMap"].numpy(), area, sharp).astype("float32"))
                v = F.binary_cross_entropy_with_logits(out["StudentMap"].astype("float32"), target)
            elif kind == "feat":
                if "StudentFeat" not in out or "TeacherFeat" not in out:
                    raise ModelError(f"{name}: needs the student's and the online teacher's feature vectors "
                                     f"(have {', '.join(out)})")
                s, t = out["StudentFeat"].astype("float32"), out["TeacherFeat"].astype("float32")
                if t.shape[0] < 2:
                    continue  # no spread to measure against in a one-view batch
                # the teacher's vectors standardised over the batch (one scale for all dimensions):
                # the map predicts them in those units, whatever the teacher's own scale
                tc = t - t.mean(axis=0, keepdim=True)
                tn = (tc / paddle.sqrt((tc * tc).mean() + 1e-12)).detach()
                v = ((s - tn) ** 2).mean()
            else:
                v = 0.0
                for a, b in pairs:
                    if a not in out or b not in out:
                        raise ModelError(f"{name}: model output {a if a not in out else b!r} is not available "
                                         f"(have {', '.join(out)})")
                    v = v + soft_losses(name, out[a], out[b], arg).mean()
            parts[name] = float(v)
            total = total + w * v
        if not isinstance(total, paddle.Tensor):  # only GT losses and a batch without labels
            total = (out["Student"] * 0.0).sum()
        return total, parts

    return f


# ----------------------------------------------------------------------------- offline teacher outputs
def _teacher_fingerprint(cfg: Dict[str, Any], paths: Sequence[str]) -> Dict[str, Any]:
    from .weights import resolve, sha256_file

    te = sub_models(cfg)["Teacher"]
    pre = te.get("pretrained")
    if pre in (None, False, "", "null"):
        raise ConfigError("Arch.models Teacher.pretrained is required for offline teacher outputs")
    wfile = resolve(str(pre))
    arch = {k: v for k, v in te.items() if k not in ("pretrained", "offline", "offline_outputs", "_index")}
    return {"teacher": arch, "weights": str(wfile), "weights_sha256": sha256_file(wfile),
            "preprocess": C.preprocess_spec(cfg).to_dict(),
            "images_sha256": hashlib.sha256("\n".join(paths).encode()).hexdigest()}


def _default_offline_path(cfg: Dict[str, Any], fp: Dict[str, Any]) -> Path:
    key = hashlib.sha256(json.dumps(fp, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return teachers.cache_root() / f"{fp['teacher']['name']}_{key}.npz"


def compute_teacher_outputs(cfg: Dict[str, Any], paths: Sequence[str], batch_size: int = 64,
                            num_workers: int = 0) -> np.ndarray:
    """Teacher logits [N, C] on the augmentation-free (eval) view of each image; rows of
    unreadable images are NaN."""
    model = build_distillation_model(cfg, for_training=False, with_teacher=True)
    model.eval()
    spec = C.preprocess_spec(cfg)
    ds = D.ListDataset([D.ListEntry(p, -1) for p in paths], D.EvalPipeline(spec))
    loader = D.make_loader(ds, D.PlainBatchSampler(len(ds), batch_size), num_workers=num_workers)
    out = None
    for x, _, idx, ok in progress(loader, len(loader), "teacher outputs"):
        t = model.teacher_logits(x).astype("float32").numpy()
        if out is None:
            out = np.full((len(paths), t.shape[1]), np.nan, np.float32)
        m = ok.numpy().astype(bool)
        out[idx.numpy()[m]] = t[m]
    return out


def load_or_compute_offline(cfg: Dict[str, Any], paths: Sequence[str], num_workers: int = 0) -> Tuple[np.ndarray, Path]:
    """The teacher-logit table for ``paths`` (row i = paths[i]), from the cache file when it
    matches the teacher weights, preprocessing and images, else computed and written (atomically)."""
    where = teacher_offline_path(cfg)
    fp = _teacher_fingerprint(cfg, paths)
    f = _default_offline_path(cfg, fp) if where == "auto" else Path(where)
    if f.is_file():
        try:
            with np.load(f, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                logits = z["logits"]
                stored = [str(p) for p in z["paths"]]
            if meta == json.loads(json.dumps(fp, default=str)) and stored == list(paths):
                log.info("offline teacher outputs: %s (%d images)", f, len(stored))
                return logits, f
            log.warning("offline teacher outputs %s were computed for another teacher / preprocessing / image list; "
                        "recomputing", f)
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
            log.warning("offline teacher outputs %s unreadable (%s); recomputing", f, e)
    log.info("computing offline teacher outputs for %d images -> %s", len(paths), f)
    logits = compute_teacher_outputs(cfg, paths, num_workers=num_workers)
    bad = int(np.isnan(logits).any(axis=1).sum())
    if bad:
        log.warning("offline teacher outputs: %d image(s) unreadable (rows left NaN; those samples get no "
                    "distillation loss)", bad)
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f".{f.name}.tmp.npz")
    np.savez(tmp, logits=logits, paths=np.asarray(list(paths)), meta=np.asarray(json.dumps(fp, default=str)))
    os.replace(tmp, f)
    return logits, f


class OfflineTeacher:
    """Looks teacher logits up by dataset index (the engine's batches carry it)."""

    def __init__(self, table: np.ndarray):
        self.table = table

    def __call__(self, idx, out: Dict[str, Any], labels):
        import paddle

        rows = self.table[np.asarray(idx).reshape(-1)]
        ok = ~np.isnan(rows).any(axis=1)
        if not ok.all():  # an image unreadable when cached (and readable now): uniform teacher
            rows = np.where(ok[:, None], rows, 0.0)
        out["Teacher"] = paddle.to_tensor(rows.astype(np.float32))
        return out, ok


# ----------------------------------------------------------------------------- in the training loop
def batch_mix(cfg: Dict[str, Any], external: Optional["teachers.ExternalTeacher"]):
    """The batch op of ``DataLoader.Train.dataset.batch_transform_ops`` (``augment.CutMix`` or
    ``augment.PersonPaste``) or None, checked against the run: a mixed view's presence target
    must come from a teacher that judges the mixed view (an online Paddle teacher, or an External
    teacher with consistent targets); pasting people needs their masks (an External teacher's
    crop-following segmenter)."""
    where = C.BATCH_OPS_KEY
    op = augment.build_batch_ops(C.get(cfg, where), where)
    if op is None:
        return None
    if not C.is_distillation(cfg):
        raise ConfigError(f"{where}: a mixed view has no ground-truth presence label (the pasted part may hold the "
                          f"only person); batch ops need a teacher (a DistillationModel config)")
    if external is not None:
        external.check_mix(where, op.needs_masks)
    elif op.needs_masks:
        raise ConfigError(f"{where}: {op.name} pastes people cut out by a segmenter's masks: it needs an External "
                          f"teacher with a segmenter member (follow_crop: true)")
    elif teacher_offline_path(cfg) is not None:
        raise ConfigError(f"{where}: offline teacher outputs judge the unmixed images; mixed views need an online "
                          f"teacher (remove Teacher.offline)")
    return op


def training_targets(cfg: Dict[str, Any], entries, external: Optional["teachers.ExternalTeacher"], spec,
                     sources: Dict[str, Any]):
    """(criterion, teach) for a distillation run over ``entries`` (the training list):
    ``criterion(outputs, labels) -> (loss, parts)`` and ``teach(outputs, x, labels, idx, boxes, mix)``,
    which adds the teacher's logits to the student's outputs where a cached (offline) or
    External teacher gives them (an online Paddle teacher runs inside the model). Prepares the
    teacher caches first and records them in ``sources``."""
    criterion = build_loss(cfg)
    ml = map_loss_entry(cfg)
    if ml is not None:
        if external is None or not external.map_members():
            raise ConfigError(f"{ml[0]}: the person map's target comes from an External teacher's segmenter member "
                              f"with follow_crop: true; this config has none")
        if C.get(cfg, C.BATCH_OPS_KEY):
            raise ConfigError(f"{ml[0]}: person maps of mixed views are not supported; drop the batch op "
                              f"({C.BATCH_OPS_KEY}) or this loss")
    paths = [e.path for e in entries]
    offline = None
    if external is not None:
        files = external.prepare_cache(paths, progress)
        sources["external_teacher"] = dict(external.describe(), cache=files)
    elif teacher_offline_path(cfg) is not None:
        table, tfile = load_or_compute_offline(cfg, paths)
        offline = OfflineTeacher(table)
        sources["offline_teacher_outputs"] = str(tfile)
    n_lab = sum(e.label >= 0 for e in entries)
    log.info("distillation: %d labeled + %d unlabeled training images, teacher %s", n_lab,
             len(entries) - n_lab, "offline (cached outputs)" if offline else
             (f"external ({external.targets} targets)" if external else "online"))

    def teach(out, x, y, idx, box, mix=None):
        """The model's outputs plus the teacher's, where a cached or external teacher gives them
        (``mix``: how the batch's views were mixed, see ``batch_mix``)."""
        if offline is not None:
            return offline(idx.numpy(), out, y)[0]  # batch_mix refuses a batch op with offline outputs
        if external is not None:
            return external.attach(out, x, idx.numpy(), box, spec, mix)
        return out  # an online Paddle teacher ran on the (mixed) batch inside the model

    return criterion, teach
