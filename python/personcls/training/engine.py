"""The training engine behind ``personcls train | eval | infer | export``.

Run folder: ``<Global.output_dir>/<Arch.name>/`` holds ``config.yaml`` (the resolved config),
``train.log``, ``metrics.csv`` (one row per epoch), ``vdl/`` (VisualDL scalars), the
checkpoints ``latest.{pdparams,pdopt,json}`` and ``best_model.{pdparams,pdopt,json}`` (each
file written to a temporary name and renamed, the ``.json`` last; it records the sha256 of the
other two), and from ``eval``: ``eval/<checkpoint>-<list>/`` with ``eval_metrics.json``,
``roc.png``, ``pr.png``. ``eval`` / ``infer`` / ``export`` of a run's checkpoint use the network
and preprocessing of that run's ``config.yaml`` (``cli.py``).

Exact resume: the optimizer state is saved by parameter *structure* name, the learning rate
is a pure function of the step, and every random stream is re-derived at the start of each
epoch from (``Global.seed``, epoch): the shuffle order, each sample's augmentation (seeded by
(seed, epoch, index), so independent of loader workers) and Paddle's generator (dropout).
A run killed at any point and resumed from ``latest`` (written at the end of each epoch)
therefore ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import copy
import csv
import datetime as _dt
import json
import logging
import math
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import yaml

from ..errors import ConfigError, InputError, ModelError
from ..spec import ModelMeta, PostprocessSpec, PreprocessSpec, _parse_scale
from . import data as D
from .metrics import binary_metrics, save_curves
from .weights import sha256_file

log = logging.getLogger("personcls.training")
# Paddle warns on every BatchNorm in train mode that it tracks global statistics (it always has)
warnings.filterwarnings("ignore", message="When training, we now always track global mean and variance")

CSV_FIELDS = ["epoch", "lr", "train_loss", "train_acc", "val_acc", "precision", "recall", "f1", "tpr_at_fpr",
              "threshold", "seconds", "images_per_s", "bad_images"]
BEST_METRICS = ("acc", "f1", "tpr_at_fpr")
_ARCH_RESERVED = ("name", "class_num", "pretrained", "use_ssld", "use_sync_bn", "freeze_bn")
# parts of the config that must match for a resume to continue the same run
_FINGERPRINT_KEYS = ("Arch", "Optimizer", "Loss", "Preprocess", "DataLoader.Train.dataset", "DataLoader.Train.sampler",
                     "Global.seed", "Global.epochs")


# ----------------------------------------------------------------------------- small helpers
def _get(cfg: Dict[str, Any], path: str, default: Any = None) -> Any:
    node: Any = cfg
    for p in path.split("."):
        if isinstance(node, dict) and p in node:
            node = node[p]
        else:
            return default
    return node


def _need(cfg: Dict[str, Any], path: str) -> Any:
    v = _get(cfg, path)
    if v is None:
        raise ConfigError(f"config key {path} is required")
    return v


def _as_bool(v: Any, key: str) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false", "yes", "no", "1", "0"):
        return v.lower() in ("true", "yes", "1")
    if isinstance(v, int):
        return bool(v)
    raise ConfigError(f"{key} must be true or false, got {v!r}")


def _num(v: Any, key: str, lo: Optional[float] = None) -> float:
    try:
        x = _parse_scale(v) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, got {v!r}") from None
    if lo is not None and x < lo:
        raise ConfigError(f"{key} must be >= {lo}, got {v!r}")
    return x


def _int(v: Any, key: str, lo: Optional[int] = None) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
        raise ConfigError(f"{key} must be an integer, got {v!r}")
    if lo is not None and v < lo:
        raise ConfigError(f"{key} must be >= {lo}, got {v!r}")
    return int(v)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def fingerprint(cfg: Dict[str, Any]) -> Dict[str, Any]:
    return {k: copy.deepcopy(_get(cfg, k)) for k in _FINGERPRINT_KEYS}


def _diff_keys(a: Any, b: Any, prefix: str = "") -> List[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff_keys(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += _diff_keys(x, y, f"{prefix}.{i}")
        return out
    return [] if a == b else [prefix]


def setup_logging(run_dir: Optional[Path] = None, rank: int = 0) -> None:
    log.setLevel(logging.INFO)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    fmt = logging.Formatter("[%(asctime)s] %(levelname)s %(message)s", "%H:%M:%S")
    sh = logging.StreamHandler(sys.stdout)
    sh.setFormatter(fmt)
    log.addHandler(sh)
    if run_dir is not None and rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(run_dir / "train.log")
        fh.setFormatter(fmt)
        log.addHandler(fh)
    if rank != 0:
        log.setLevel(logging.WARNING)


# ----------------------------------------------------------------------------- config pieces
def preprocess_spec(cfg: Dict[str, Any]) -> PreprocessSpec:
    p = dict(_get(cfg, "Preprocess") or {})
    if "scale" in p and isinstance(p["scale"], str):
        p["scale"] = _parse_scale(p["scale"])
    try:
        return PreprocessSpec.from_dict(p)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"Preprocess: {e}") from None


def postprocess_spec(cfg: Dict[str, Any]) -> PostprocessSpec:
    pp = _get(cfg, "Infer.PostProcess") or {}
    n = _int(_get(cfg, "Arch.class_num", 2), "Arch.class_num", 2)
    defaults = ("nobody", "someone") + tuple(f"class_{i}" for i in range(2, n))
    names = tuple(str(pp.get(f"label_{i}", defaults[i])) for i in range(n))
    thr = _num(pp.get("threshold", 0.5), "Infer.PostProcess.threshold")
    try:
        return PostprocessSpec(label_names=names, positive_class=1, threshold=thr, topk=min(n, 2))
    except ValueError as e:
        raise ConfigError(f"Infer.PostProcess: {e}") from None


def resolve_device(cfg: Dict[str, Any]) -> str:
    import paddle

    want = str(_get(cfg, "Global.device", "auto")).lower()
    has_gpu = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    if want == "auto":
        return "gpu" if has_gpu else "cpu"
    if want == "gpu" and not has_gpu:
        raise ConfigError("Global.device is gpu but this Paddle has no usable CUDA device "
                          "(install paddlepaddle-gpu, or -o Global.device=cpu)")
    if want not in ("cpu", "gpu"):
        raise ConfigError(f"Global.device must be auto, cpu or gpu, got {want!r}")
    return want


def build_net(cfg: Dict[str, Any], for_training: bool = False):
    from .models import build_model
    from . import distill

    if distill.is_distillation(cfg):
        return distill.build_distillation_model(cfg, for_training=for_training)

    arch = dict(_need(cfg, "Arch"))
    name = arch.get("name")
    if not name:
        raise ConfigError("Arch.name is required")
    kw = {k: v for k, v in arch.items() if k not in _ARCH_RESERVED}
    try:
        return build_model(str(name), class_num=_int(arch.get("class_num", 2), "Arch.class_num", 2), **kw)
    except ValueError as e:
        raise ConfigError(f"Arch: {e}") from None


def _resolve_weights_prefix(p: str) -> str:
    """'output/X/best_model' or '.../best_model.pdparams' -> a path load_pretrained accepts."""
    return p[: -len(".pdparams")] if p.endswith(".pdparams") else p


def init_weights(model, cfg: Dict[str, Any], for_training: bool) -> Dict[str, Any]:
    """Arch.pretrained (start weights) then Global.pretrained_model (a trained checkpoint)."""
    from .weights import is_url, load_pretrained, official_url

    src: Dict[str, Any] = dict(getattr(model, "_weights_sources", None) or {})
    pre = _get(cfg, "Arch.pretrained")
    if for_training and pre not in (None, False, "", "null"):
        if pre is True:
            pre = official_url(str(_get(cfg, "Arch.name")), bool(_get(cfg, "Arch.use_ssld", False)))
        log.info("Arch.pretrained: %s", pre)
        rep = load_pretrained(model, str(pre))
        src["pretrained"] = {"source": rep.source, "loaded": len(rep.loaded),
                             "skipped_shape": [k for k, _, _ in rep.shape_mismatch]}
    pm = _get(cfg, "Global.pretrained_model")
    if pm not in (None, False, ""):
        target = _resolve_weights_prefix(str(pm))
        log.info("Global.pretrained_model: %s", target)
        # a trained checkpoint must fit completely (the head included)
        rep = load_pretrained(model, target, min_fraction=1.0 if not is_url(target) else 0.5,
                              strict_shapes=not for_training)
        src["pretrained_model"] = rep.source
    return src


def lr_at(step: int, steps_per_epoch: int, cfg: Dict[str, Any]) -> float:
    lr = _get(cfg, "Optimizer.lr") or {}
    name = str(lr.get("name", "Cosine"))
    base = _num(lr.get("learning_rate", 0.01), "Optimizer.lr.learning_rate", 0.0)
    epochs = _int(_get(cfg, "Global.epochs"), "Global.epochs", 1)
    warm = int(round(_num(lr.get("warmup_epoch", 0), "Optimizer.lr.warmup_epoch", 0) * steps_per_epoch))
    start = _num(lr.get("warmup_start_lr", 0.0), "Optimizer.lr.warmup_start_lr", 0.0)
    total = epochs * steps_per_epoch
    if step < warm:
        return start + (base - start) * step / warm
    if name == "Cosine":
        span = max(1, total - warm)
        return 0.5 * base * (1.0 + math.cos(math.pi * min(step - warm, span) / span))
    if name == "Constant":
        return base
    raise ConfigError(f"Optimizer.lr.name {name!r} is not supported (Cosine or Constant)")


def warmup_warning(cfg: Dict[str, Any]) -> Optional[str]:
    """A warning when the warm-up covers the whole run (the lr never reaches its set value)."""
    lr = _get(cfg, "Optimizer.lr") or {}
    warm = _num(lr.get("warmup_epoch", 0), "Optimizer.lr.warmup_epoch", 0)
    epochs = _int(_get(cfg, "Global.epochs"), "Global.epochs", 1)
    if warm < epochs:
        return None
    base = _num(lr.get("learning_rate", 0.01), "Optimizer.lr.learning_rate", 0.0)
    start = _num(lr.get("warmup_start_lr", 0.0), "Optimizer.lr.warmup_start_lr", 0.0)
    peak = start + (base - start) * epochs / warm
    return (f"Optimizer.lr.warmup_epoch {warm:g} >= Global.epochs {epochs}: the whole run is warm-up, the learning "
            f"rate rises from {start:g} and peaks at {peak:.3g} instead of {base:g} (e.g. -o Optimizer.lr.warmup_epoch="
            f"{max(0, epochs - 1)})")


def build_optimizer(model, cfg: Dict[str, Any]):
    import paddle

    o = _get(cfg, "Optimizer") or {}
    if str(o.get("name", "Momentum")) != "Momentum":
        raise ConfigError(f"Optimizer.name {o.get('name')!r} is not supported (Momentum)")
    reg = o.get("regularizer") or {}
    wd = None
    if reg:
        if str(reg.get("name", "L2")) != "L2":
            raise ConfigError(f"Optimizer.regularizer.name {reg.get('name')!r} is not supported (L2)")
        wd = paddle.regularizer.L2Decay(_num(reg.get("coeff", 0.0), "Optimizer.regularizer.coeff", 0.0))
    return paddle.optimizer.Momentum(learning_rate=_num((o.get("lr") or {}).get("learning_rate", 0.01),
                                                        "Optimizer.lr.learning_rate", 0.0),
                                     momentum=_num(o.get("momentum", 0.9), "Optimizer.momentum", 0.0),
                                     parameters=model.parameters(), weight_decay=wd)


def loss_fn(cfg: Dict[str, Any]):
    import paddle
    import paddle.nn.functional as F

    losses = _get(cfg, "Loss.Train") or [{"CELoss": {"weight": 1.0}}]
    terms = []
    for i, item in enumerate(losses):
        if not isinstance(item, dict) or len(item) != 1:
            raise ConfigError(f"Loss.Train.{i}: each loss is a one-key mapping, got {item!r}")
        (name, args), = item.items()
        args = args or {}
        if name != "CELoss":
            raise ConfigError(f"Loss.Train.{i}: loss {name!r} is not supported (CELoss)")
        terms.append((_num(args.get("weight", 1.0), f"Loss.Train.{i}.CELoss.weight"),
                      _num(args.get("epsilon", 0.0) or 0.0, f"Loss.Train.{i}.CELoss.epsilon", 0.0)))

    def f(logits, labels):
        logp = F.log_softmax(logits.astype("float32"), axis=-1)
        nll = -paddle.take_along_axis(logp, labels.reshape([-1, 1]), axis=1).squeeze(1)
        total = 0.0
        for w, eps in terms:
            per = nll if eps == 0 else (1 - eps) * nll - eps * logp.mean(axis=-1)
            total = total + w * per.mean()
        return total

    return f


# ----------------------------------------------------------------------------- data
def _dataset_cfg(cfg, split):
    ds = _get(cfg, f"DataLoader.{split}.dataset") or {}
    path = ds.get("cls_label_path")
    if not path:
        raise ConfigError(f"DataLoader.{split}.dataset.cls_label_path is required")
    return ds, (str(path) if not isinstance(path, list) else ", ".join(map(str, path)))


def build_train_data(cfg, spec: PreprocessSpec, seed: int, with_geometry: bool = False):
    ds_cfg, path = _dataset_cfg(cfg, "Train")
    n_cls = _int(_get(cfg, "Arch.class_num", 2), "Arch.class_num", 2)
    from . import distill

    if distill.is_distillation(cfg):  # unlabeled lines allowed (label -1); several list files allowed
        entries = distill.read_lists(ds_cfg.get("cls_label_path"), ds_cfg.get("image_root"), n_cls)
    else:
        entries = D.read_list(path, ds_cfg.get("image_root"), labeled=True, class_num=n_cls)
    missing = [e.path for e in entries if not os.path.isfile(e.path)]
    if missing:
        log.warning("%s: %d of %d listed images do not exist and will be skipped (first: %s)", path, len(missing),
                    len(entries), missing[0])
    pipe = D.TrainPipeline(ds_cfg.get("transform_ops") or [], spec)
    ds = D.ListDataset(entries, pipe, seed=seed, with_geometry=with_geometry)
    s = _get(cfg, "DataLoader.Train.sampler") or {}
    bs = _int(s.get("batch_size", 64), "DataLoader.Train.sampler.batch_size", 1)
    pds = D._make_paddle_dataset(ds)
    sampler = D.EpochBatchSampler(pds, bs, shuffle=_as_bool(s.get("shuffle", True), "sampler.shuffle"),
                                  drop_last=_as_bool(s.get("drop_last", False), "sampler.drop_last"), seed=seed)
    ld = _get(cfg, "DataLoader.Train.loader") or {}
    import paddle

    loader = paddle.io.DataLoader(pds, batch_sampler=sampler,
                                  num_workers=_int(ld.get("num_workers", 0), "DataLoader.Train.loader.num_workers", 0),
                                  use_shared_memory=_as_bool(ld.get("use_shared_memory", True), "use_shared_memory"),
                                  worker_init_fn=D._worker_init, return_list=True)
    return ds, sampler, loader


def build_eval_data(cfg, spec: PreprocessSpec):
    ds_cfg, path = _dataset_cfg(cfg, "Eval")
    n_cls = _int(_get(cfg, "Arch.class_num", 2), "Arch.class_num", 2)
    if ds_cfg.get("transform_ops"):
        raise ConfigError("DataLoader.Eval.dataset.transform_ops is not used: evaluation preprocesses with the "
                          "Preprocess section (the same numbers the export writes); remove transform_ops")
    entries = D.read_list(path, ds_cfg.get("image_root"), labeled=True, class_num=n_cls)
    ds = D.ListDataset(entries, D.EvalPipeline(spec))
    s = _get(cfg, "DataLoader.Eval.sampler") or {}
    bs = _int(s.get("batch_size", 64), "DataLoader.Eval.sampler.batch_size", 1)
    ld = _get(cfg, "DataLoader.Eval.loader") or {}
    loader = D.make_loader(ds, D.PlainBatchSampler(len(ds), bs),
                           num_workers=_int(ld.get("num_workers", 0), "DataLoader.Eval.loader.num_workers", 0),
                           use_shared_memory=_as_bool(ld.get("use_shared_memory", True), "use_shared_memory"))
    return ds, loader


def _progress(it, total: int, desc: str):
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm

            return tqdm(it, total=total, desc=desc, leave=False, dynamic_ncols=True)
        except ImportError:
            pass
    return it


def max_fpr(cfg) -> float:
    for m in _get(cfg, "Metric.Eval") or []:
        if isinstance(m, dict) and "TprAtFpr" in m:
            return _num((m["TprAtFpr"] or {}).get("max_fpr", 0.001), "Metric.Eval.TprAtFpr.max_fpr", 0.0)
    return 0.001


def run_eval(model, ds: D.ListDataset, loader, cfg) -> Tuple[Dict[str, Any], np.ndarray, np.ndarray, List[int]]:
    """Evaluate; returns (metrics, probs of readable images, labels, indices of unreadable images)."""
    import paddle
    import paddle.nn.functional as F

    model.eval()
    probs, labels, bad = [], [], []
    with paddle.no_grad():
        for x, y, idx, ok in _progress(loader, len(loader), "eval"):
            m = ok.numpy().astype(bool)
            if not m.all():
                bad += [int(i) for i in idx.numpy()[~m]]
            if not m.any():
                continue
            if not m.all():
                x = paddle.to_tensor(x.numpy()[m])
            p = F.softmax(model(x).astype("float32"), axis=-1).numpy()
            probs.append(p)
            labels.append(y.numpy()[m])
    if not probs:
        raise InputError(f"no evaluation image could be read ({len(bad)} failed)")
    P, L = np.concatenate(probs), np.concatenate(labels)
    met = binary_metrics(P, L, positive=1, max_fpr=max_fpr(cfg))
    met["bad_images"] = len(bad)
    return met, P, L, bad


def _report_bad(ds: D.ListDataset, bad: List[int], what: str) -> None:
    if not bad:
        return
    uniq = sorted(set(bad))
    log.warning("%s: skipped %d unreadable image(s):", what, len(uniq))
    for i in uniq[:20]:
        log.warning("  %s", ds.describe_failure(i))
    if len(uniq) > 20:
        log.warning("  ... and %d more", len(uniq) - 20)


# ----------------------------------------------------------------------------- checkpoints
def _opt_state_by_structure(model, opt) -> Dict[str, Any]:
    """Optimizer state with accumulator keys renamed from Paddle's per-process parameter names
    (``conv2d_3.w_0_velocity_0``) to structural names (``conv1.conv.weight@velocity_0``)."""
    state = opt.state_dict()
    names = {p.name: k for k, p in model.named_parameters()}
    out: Dict[str, Any] = {}
    for key, val in state.items():
        new = key
        for pname, sname in names.items():
            if key.startswith(pname + "_"):
                new = f"{sname}@{key[len(pname) + 1:]}"
                break
        out[new] = val
    return out


def _opt_state_from_structure(model, state: Dict[str, Any]) -> Dict[str, Any]:
    names = {k: p.name for k, p in model.named_parameters()}
    out = {}
    for key, val in state.items():
        if "@" in key:
            sname, rest = key.split("@", 1)
            if sname not in names:
                raise ModelError(f"optimizer state names parameter {sname!r} that this model lacks")
            key = f"{names[sname]}_{rest}"
        out[key] = val
    return out


def save_checkpoint(run_dir: Path, prefix: str, model, opt, info: Dict[str, Any]) -> None:
    import paddle

    files = {}
    for ext, obj in (("pdparams", model.state_dict()), ("pdopt", _opt_state_by_structure(model, opt))):
        final = run_dir / f"{prefix}.{ext}"
        tmp = run_dir / f".{prefix}.{ext}.tmp"
        paddle.save(obj, str(tmp))
        files[ext] = sha256_file(tmp)
        os.replace(tmp, final)
    info = dict(info, files=files, saved=_dt.datetime.now().isoformat(timespec="seconds"))
    _atomic_write_text(run_dir / f"{prefix}.json", json.dumps(info, indent=2, default=float) + "\n")


def load_checkpoint(prefix: Path, model, opt) -> Dict[str, Any]:
    import paddle

    js = Path(str(prefix) + ".json")
    pp, po = Path(str(prefix) + ".pdparams"), Path(str(prefix) + ".pdopt")
    for f in (js, pp, po):
        if not f.is_file():
            raise ModelError(f"checkpoint {prefix}: {f.name} is missing")
    try:
        info = json.loads(js.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelError(f"checkpoint {js}: unreadable ({e})") from e
    for ext, f in (("pdparams", pp), ("pdopt", po)):
        want = (info.get("files") or {}).get(ext)
        if want and sha256_file(f) != want:
            raise ModelError(f"checkpoint {prefix}: {f.name} does not match {js.name} (the run was killed while "
                             f"saving?); resume from another checkpoint with -o Global.checkpoints=... or start "
                             f"over with -o Global.resume=false")
    model.set_state_dict(paddle.load(str(pp)))
    opt.set_state_dict(_opt_state_from_structure(model, paddle.load(str(po))))
    return info


# ----------------------------------------------------------------------------- distributed
def world() -> Tuple[int, int]:
    n = int(os.environ.get("PADDLE_TRAINERS_NUM", "1") or 1)
    r = int(os.environ.get("PADDLE_TRAINER_ID", "0") or 0)
    return n, r


# ----------------------------------------------------------------------------- commands
def run_dir_of(cfg) -> Path:
    return Path(str(_get(cfg, "Global.output_dir", "./output/"))) / str(_need(cfg, "Arch.name"))


def train(cfg: Dict[str, Any]) -> int:
    with D.cv2_single_thread():
        return _train(cfg)


def _train(cfg: Dict[str, Any]) -> int:
    import paddle

    nranks, rank = world()
    device = resolve_device(cfg)
    paddle.set_device(device)
    if nranks > 1:
        paddle.distributed.init_parallel_env()
        rank = paddle.distributed.get_rank()
    run_dir = run_dir_of(cfg)
    setup_logging(run_dir, rank)
    g = cfg.get("Global") or {}
    seed = _int(g.get("seed", 42), "Global.seed", 0)
    epochs = _int(g.get("epochs"), "Global.epochs", 1)
    resume = str(g.get("resume", "auto")).lower()
    if resume not in ("auto", "true", "false"):
        raise ConfigError(f"Global.resume must be auto, true or false, got {g.get('resume')!r}")
    spec = preprocess_spec(cfg)
    warn = warmup_warning(cfg)
    if warn:
        log.warning("%s", warn)

    # where to resume from
    ckpt: Optional[Path] = None
    if g.get("checkpoints"):
        ckpt = Path(_resolve_weights_prefix(str(g["checkpoints"])))
    elif resume != "false" and (run_dir / "latest.json").is_file():
        ckpt = run_dir / "latest"
    elif resume == "true":
        raise ConfigError(f"Global.resume is true but {run_dir}/latest.json does not exist")
    if ckpt is not None:
        saved = json.loads(Path(str(ckpt) + ".json").read_text()) if Path(str(ckpt) + ".json").is_file() else {}
        diff = _diff_keys(saved.get("fingerprint"), fingerprint(cfg))
        if diff and resume == "auto" and not g.get("checkpoints"):
            raise ConfigError(f"{run_dir} holds a run with a different config (differs at: {', '.join(diff[:8])}). "
                              f"Use -o Global.resume=false to start over, -o Global.resume=true to continue it with "
                              f"this config, or another Global.output_dir")
        if diff:
            log.warning("resuming %s with a changed config (differs at: %s): not an exact continuation",
                        ckpt, ", ".join(diff[:8]))
        if int(saved.get("epoch", 0)) >= epochs:
            log.info("%s already finished %s of %d epochs; nothing to train (-o Global.resume=false starts over)",
                     ckpt, saved.get("epoch"), epochs)
            return 0

    paddle.seed(seed)
    np.random.seed(seed)
    from . import distill

    distilling = distill.is_distillation(cfg)
    external = distill.external_teacher(cfg) if distilling else None  # checked before anything runs
    model = build_net(cfg, for_training=True)
    weights_src = init_weights(model, cfg, for_training=True) if ckpt is None else {}
    sync_bn = _as_bool(g.get("sync_bn", _get(cfg, "Arch.use_sync_bn", False)), "Global.sync_bn")
    if nranks > 1 and sync_bn:
        if device == "gpu":
            model = paddle.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:
            log.warning("Global.sync_bn: SyncBatchNorm needs GPUs; each CPU process keeps its own BN statistics")
    opt = build_optimizer(model, cfg)
    start_epoch, best = 1, {"name": str(g.get("best_metric", "acc")), "value": None, "epoch": None}
    if best["name"] not in BEST_METRICS:
        raise ConfigError(f"Global.best_metric must be one of {BEST_METRICS}, got {best['name']!r}")
    amp_cfg = cfg.get("AMP") or {}
    use_amp = device == "gpu" and bool(amp_cfg) and _as_bool(amp_cfg.get("use_amp", True), "AMP.use_amp")
    scaler = None
    if use_amp:
        scaler = paddle.amp.GradScaler(init_loss_scaling=_num(amp_cfg.get("scale_loss", 128.0), "AMP.scale_loss"),
                                       use_dynamic_loss_scaling=_as_bool(amp_cfg.get("use_dynamic_loss_scaling", True),
                                                                         "AMP.use_dynamic_loss_scaling"))
    elif amp_cfg and device == "cpu":
        log.info("AMP is configured but ignored on CPU (fp32 training)")
    if ckpt is not None:
        info = load_checkpoint(ckpt, model, opt)
        start_epoch = int(info["epoch"]) + 1
        best = info.get("best") or best
        weights_src = info.get("weights_source", {})
        if scaler is not None and info.get("amp_scaler"):
            scaler.load_state_dict(info["amp_scaler"])
        log.info("resumed from %s: epoch %d done, best %s = %s", ckpt, info["epoch"], best["name"], best["value"])

    train_ds, sampler, train_loader = build_train_data(cfg, spec, seed,
                                                       with_geometry=external is not None and external.needs_geometry)
    steps = len(sampler)
    if steps == 0:
        raise ConfigError("the training list yields no batch (drop_last with fewer images than batch_size?)")
    do_eval = rank == 0 and _as_bool(g.get("eval_during_train", True), "Global.eval_during_train")
    eval_ds = eval_loader = None
    if do_eval:
        eval_ds, eval_loader = build_eval_data(cfg, spec)
    net = paddle.DataParallel(model) if nranks > 1 else model
    offline = None
    if distilling:
        criterion = distill.build_loss(cfg)
        if external is not None:
            files = external.prepare_cache([e.path for e in train_ds.entries], _progress)
            weights_src["external_teacher"] = dict(external.describe(), cache=files)
        elif distill.teacher_offline_path(cfg) is not None:
            table, tfile = distill.load_or_compute_offline(cfg, [e.path for e in train_ds.entries])
            offline = distill.OfflineTeacher(table)
            weights_src["offline_teacher_outputs"] = str(tfile)
        n_lab = sum(e.label >= 0 for e in train_ds.entries)
        log.info("distillation: %d labeled + %d unlabeled training images, teacher %s", n_lab,
                 len(train_ds.entries) - n_lab, "offline (cached outputs)" if offline else
                 (f"external ({external.targets} targets)" if external else "online"))
    else:
        ce = loss_fn(cfg)
        criterion = lambda out, y: (ce(out, y), {})  # noqa: E731
    freeze_bn = _as_bool(_get(cfg, "Arch.freeze_bn", False), "Arch.freeze_bn")

    def teach(out, x, y, idx, box):
        """The model's outputs plus the teacher's, where a cached or external teacher gives them."""
        if offline is not None:
            return offline(idx.numpy(), out, y)[0]
        if external is not None:
            return external.attach(out, x, idx.numpy(), box, spec)
        return out

    writer = None
    csv_path = run_dir / "metrics.csv"
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
        rows = []
        if start_epoch > 1 and csv_path.is_file():  # drop rows of epochs that will be redone
            with open(csv_path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if r.get("epoch", "").isdigit() and int(r["epoch"]) < start_epoch]
        with open(csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            w.writeheader()
            for r in rows:
                w.writerow({k: r.get(k, "") for k in CSV_FIELDS})
        if _as_bool(g.get("use_visualdl", True), "Global.use_visualdl"):
            if start_epoch == 1 and (run_dir / "vdl").exists():
                shutil.rmtree(run_dir / "vdl", ignore_errors=True)
            try:
                from visualdl import LogWriter

                writer = LogWriter(logdir=str(run_dir / "vdl"))
            except Exception as e:  # visualdl missing or broken: training goes on
                log.warning("VisualDL disabled: %s", e)
    log.info("train %s on %s: %d images, %d steps/epoch, epochs %d..%d, device %s%s, run folder %s",
             _get(cfg, "Arch.name"), _get(cfg, "DataLoader.Train.dataset.cls_label_path"), len(train_ds), steps,
             start_epoch, epochs, device, f" x{nranks}" if nranks > 1 else "", run_dir)

    print_every = _int(g.get("print_batch_step", 10), "Global.print_batch_step", 0)
    eval_interval = _int(g.get("eval_interval", 1), "Global.eval_interval", 1)
    start_eval = _int(g.get("start_eval_epoch", 1), "Global.start_eval_epoch", 0)
    save_interval = _int(g.get("save_interval", 1), "Global.save_interval", 1)
    tty = sys.stderr.isatty()
    for epoch in range(start_epoch, epochs + 1):
        t0 = time.time()
        paddle.seed(seed * 1000 + epoch)  # dropout etc.: a function of (seed, epoch)
        sampler.set_epoch(epoch)
        net.train()
        if freeze_bn:  # keep the start weights' BN statistics (e.g. BN folded into converted convs)
            distill._set_bn_eval(model)
        loss_sum = correct = seen = labeled = 0.0
        bad: List[int] = []
        lr = 0.0
        train_time = 0.0
        t_train = time.time()
        for i, batch in enumerate(_progress(train_loader, steps, f"epoch {epoch}/{epochs}")):
            x, y, idx, ok = batch[:4]
            box = batch[4].numpy() if len(batch) > 4 else None
            m = ok.numpy().astype(bool)
            if not m.all():
                bad += [int(j) for j in idx.numpy()[~m]]
                if not m.any():
                    continue
                x, y = paddle.to_tensor(x.numpy()[m]), paddle.to_tensor(y.numpy()[m])
                idx = paddle.to_tensor(idx.numpy()[m])
                box = box[m] if box is not None else None
            lr = lr_at((epoch - 1) * steps + i, steps, cfg)
            opt.set_lr(lr)
            if scaler is not None:
                with paddle.amp.auto_cast(level=str(amp_cfg.get("level", "O1"))):
                    out = net(x)
                out = teach(out, x, y, idx, box)
                loss, _ = criterion(out, y)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                out = teach(net(x), x, y, idx, box)
                loss, _ = criterion(out, y)
                loss.backward()
                opt.step()
            opt.clear_grad()
            logits = out["Student"] if isinstance(out, dict) else out
            n = int(m.sum())
            loss_sum += float(loss) * n
            correct += float((logits.argmax(axis=-1) == y).astype("float32").sum())
            labeled += float((y >= 0).astype("float32").sum())
            seen += n
            if not tty and print_every and (i + 1) % print_every == 0:
                log.info("epoch %d [%d/%d] lr %.5f loss %.4f acc %.4f", epoch, i + 1, steps, lr,
                         loss_sum / max(seen, 1), correct / max(labeled, 1))
        train_time = time.time() - t_train
        if nranks > 1:  # global train statistics
            t = paddle.to_tensor([loss_sum, correct, seen, float(len(bad)), labeled], dtype="float64")
            paddle.distributed.all_reduce(t)
            loss_sum, correct, seen, nbad, labeled = t.numpy().tolist()
        else:
            nbad = len(bad)
        _report_bad(train_ds, bad, f"epoch {epoch} (train)")
        row = {"epoch": epoch, "lr": f"{lr:.6g}", "train_loss": f"{loss_sum / max(seen, 1):.6f}",
               "train_acc": f"{correct / max(labeled, 1):.6f}", "bad_images": int(nbad),
               "images_per_s": f"{seen / max(train_time, 1e-9):.2f}"}
        val = None
        if do_eval and epoch >= start_eval and (epoch % eval_interval == 0 or epoch == epochs):
            val, _, _, vbad = run_eval(model, eval_ds, eval_loader, cfg)
            _report_bad(eval_ds, vbad, f"epoch {epoch} (eval)")
            row.update({"val_acc": f"{val['acc']:.6f}", "precision": f"{val['precision']:.6f}",
                        "recall": f"{val['recall']:.6f}", "f1": f"{val['f1']:.6f}",
                        "tpr_at_fpr": f"{val['tpr_at_fpr']:.6f}", "threshold": f"{val['threshold']:.4f}"})
        row["seconds"] = f"{time.time() - t0:.2f}"
        if rank == 0:
            improved = val is not None and (best["value"] is None or val[best["name"]] > best["value"])
            if improved:
                best = {"name": best["name"], "value": float(val[best["name"]]), "epoch": epoch}
            info = {"epoch": epoch, "global_step": epoch * steps, "epochs": epochs, "arch": _get(cfg, "Arch.name"),
                    "class_num": _get(cfg, "Arch.class_num"), "seed": seed, "best": best, "metrics": val,
                    "train": {k: row[k] for k in ("train_loss", "train_acc", "images_per_s")},
                    "preprocess": spec.to_dict(), "fingerprint": fingerprint(cfg), "weights_source": weights_src,
                    "teacher_prior": external.target_prior if external is not None else None,
                    "amp_scaler": scaler.state_dict() if scaler is not None else None}
            if improved:
                save_checkpoint(run_dir, "best_model", model, opt, info)
            if epoch % save_interval == 0 or epoch == epochs:
                save_checkpoint(run_dir, "latest", model, opt, info)
            with open(csv_path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=CSV_FIELDS).writerow({k: row.get(k, "") for k in CSV_FIELDS})
            if writer is not None:
                writer.add_scalar("train/loss", float(row["train_loss"]), epoch)
                writer.add_scalar("train/acc", float(row["train_acc"]), epoch)
                writer.add_scalar("train/lr", lr, epoch)
                writer.add_scalar("train/images_per_s", float(row["images_per_s"]), epoch)
                if val is not None:
                    for k in ("acc", "precision", "recall", "f1", "tpr_at_fpr"):
                        writer.add_scalar(f"eval/{k}", float(val[k]), epoch)
                writer.flush()
            msg = (f"epoch {epoch}/{epochs}: lr {lr:.5f} train loss {row['train_loss']} acc {row['train_acc']} "
                   f"({row['images_per_s']} img/s)")
            if val is not None:
                msg += (f" | val acc {val['acc']:.4f} P {val['precision']:.3f} R {val['recall']:.3f} F1 {val['f1']:.3f} "
                        f"TPR@FPR<={val['max_fpr']:g} {val['tpr_at_fpr']:.3f} (thr {val['threshold']:.4f})")
                if improved:
                    msg += " [best]"
            log.info("%s; %ss", msg, row["seconds"])
        if nranks > 1:
            paddle.distributed.barrier()
    if writer is not None:
        writer.close()
    if rank == 0:
        log.info("done: best %s %s at epoch %s; checkpoints in %s", best["name"], best["value"], best["epoch"], run_dir)
    return 0


def _load_for_inference(cfg, what: str):
    import paddle

    paddle.set_device(resolve_device(cfg))
    if not _get(cfg, "Global.pretrained_model"):
        raise ConfigError(f"{what} needs trained weights: -o Global.pretrained_model=output/"
                          f"{_get(cfg, 'Arch.name')}/best_model")
    model = build_net(cfg, for_training=False)
    src = init_weights(model, cfg, for_training=False)
    model.eval()
    return model, src


def eval_dir_of(cfg) -> Path:
    """Where ``eval`` writes: ``<checkpoint folder>/eval/<checkpoint name>-<list file name>/``,
    so evaluating one run never overwrites another run's (or another list's) results."""
    ckpt = _resolve_weights_prefix(str(_need(cfg, "Global.pretrained_model")))
    lst = _get(cfg, "DataLoader.Eval.dataset.cls_label_path")
    lst = Path(str(lst[0] if isinstance(lst, list) else lst)).name
    return Path(ckpt).parent / "eval" / f"{Path(ckpt).name}-{lst}"


def evaluate(cfg: Dict[str, Any]) -> int:
    setup_logging(None)
    spec = preprocess_spec(cfg)
    model, src = _load_for_inference(cfg, "eval")
    run_dir = eval_dir_of(cfg)
    ds, loader = build_eval_data(cfg, spec)
    t0 = time.time()
    with D.cv2_single_thread():
        met, P, L, bad = run_eval(model, ds, loader, cfg)
    _report_bad(ds, bad, "eval")
    run_dir.mkdir(parents=True, exist_ok=True)
    curves = save_curves(P, L, run_dir, positive=1, title=str(_get(cfg, "Arch.name")))
    met.update({"roc_auc": curves["roc_auc"], "average_precision": curves["average_precision"],
                "weights": src.get("pretrained_model"), "list": _get(cfg, "DataLoader.Eval.dataset.cls_label_path"),
                "preprocess": spec.to_dict(),
                "seconds": round(time.time() - t0, 3)})
    _atomic_write_text(run_dir / "eval_metrics.json", json.dumps(met, indent=2) + "\n")
    log.info("eval %s at %s px on %s (%d images): acc %.4f precision %.4f recall %.4f F1 %.4f TPR %.4f at FPR %.4f <= %g "
             "(threshold %.4f) ROC AUC %.4f", _get(cfg, "Arch.name"), "x".join(map(str, spec.crop_size)), met["list"], met["n"], met["acc"],
             met["precision"], met["recall"], met["f1"], met["tpr_at_fpr"], met["fpr"], met["max_fpr"],
             met["threshold"], met["roc_auc"])
    log.info("wrote %s, %s, %s", run_dir / "eval_metrics.json", curves["roc"], curves["pr"])
    return 0


def infer(cfg: Dict[str, Any]) -> int:
    import paddle
    import paddle.nn.functional as F

    from .. import imageio
    from ..postprocess import Postprocessor
    from ..preprocess import reference_preprocess

    setup_logging(None)
    target = _get(cfg, "Infer.infer_imgs")
    if not target:
        raise ConfigError("no images given: -o Infer.infer_imgs=path/to/image_or_folder")
    paths = imageio.expand_target(target)
    spec = preprocess_spec(cfg)
    post = postprocess_spec(cfg)
    name = str(_get(cfg, "Infer.PostProcess.name", "ThreshOutput"))
    if name not in ("ThreshOutput", "Topk"):
        raise ConfigError(f"Infer.PostProcess.name must be ThreshOutput or Topk, got {name!r}")
    pp = Postprocessor(post, mode="threshold" if name == "ThreshOutput" else "topk")
    model, _ = _load_for_inference(cfg, "infer")
    bs = _int(_get(cfg, "Infer.batch_size", 10), "Infer.batch_size", 1)
    failed = 0
    for s in range(0, len(paths), bs):
        xs, names = [], []
        for p in paths[s:s + bs]:
            try:
                xs.append(reference_preprocess(imageio.read_image(p), spec, color="BGR"))
                names.append(p)
            except InputError as e:
                failed += 1
                print(f"{p}:\terror: {e}", file=sys.stderr, flush=True)
        if not xs:
            continue
        with paddle.no_grad():
            probs = F.softmax(model(paddle.to_tensor(np.stack(xs))), axis=-1).numpy()
        for r in pp(probs, names):
            print(r.format_line(), flush=True)
    if failed:
        print(f"personcls infer: {failed} of {len(paths)} image(s) failed", file=sys.stderr)
        return 1
    return 0


def export(cfg: Dict[str, Any]) -> int:
    from .export import export_model

    setup_logging(None)
    spec = preprocess_spec(cfg)
    post = postprocess_spec(cfg)
    model, src = _load_for_inference(cfg, "export")
    out = _need(cfg, "Global.save_inference_dir")
    ckpt = str(src.get("pretrained_model"))
    metrics = {}
    info: Dict[str, Any] = {}
    side = Path(ckpt[: -len(".pdparams")] + ".json") if ckpt.endswith(".pdparams") else None
    if side is not None and side.is_file():
        try:
            info = json.loads(side.read_text())
            if info.get("metrics"):
                metrics = {"val": info["metrics"], "epoch": info.get("epoch"), "best": info.get("best")}
            if info.get("preprocess") and info["preprocess"] != spec.to_dict():
                log.warning("the checkpoint was evaluated with preprocessing %s but the config's Preprocess is %s; "
                            "exporting the config's", info["preprocess"], spec.to_dict())
        except (OSError, json.JSONDecodeError):
            pass
    from . import distill

    arch = str(_get(cfg, "Arch.name"))
    if distill.is_distillation(cfg):  # export the student alone (Arch.infer_model_name)
        model, arch = model.Student, str(distill.sub_models(cfg)["Student"]["name"])
    prov = {"source_checkpoint": ckpt, "config": copy.deepcopy(cfg)}
    if _as_bool(_get(cfg, "Global.balance_prior", False), "Global.balance_prior"):
        prior = info.get("teacher_prior")
        if prior is None:
            prior = distill.estimate_target_prior(cfg)
        from .teachers import balance_prior

        delta = balance_prior(model, float(prior))
        prov["balance_prior"] = {"taught_prior": round(float(prior), 4), "someone_logit_shift": round(delta, 4)}
        log.info("Global.balance_prior: the student was taught P(someone) = %.3f on average; +%.3f on its someone "
                 "logit restates its outputs for an even prior", prior, delta)
    meta = ModelMeta(arch=arch, preprocess=spec, postprocess=post, provenance=prov, metrics=metrics)
    path = export_model(model, out, meta)
    log.info("exported %s -> %s (%s)", ckpt, path, ", ".join(sorted(os.listdir(path))))
    return 0
