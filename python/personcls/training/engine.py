"""``personcls train | infer | export`` (``eval``: evaluation.py; dispatch: cli.py).

Run folder: ``<Global.output_dir>/<Arch.name>/`` holds ``config.yaml`` (the resolved config),
``train.log``, ``metrics.csv`` (one row per epoch), ``vdl/`` (VisualDL scalars) (runlog.py),
the checkpoints ``latest.{pdparams,pdopt,json}`` and ``best_model.{pdparams,pdopt,json}``
(checkpoints.py), and from ``eval``: ``eval/<checkpoint>-<list>/`` with ``eval_metrics.json``,
``roc.png``, ``pr.png`` (evaluation.py). ``eval`` / ``infer`` / ``export`` of a run's
checkpoint use the network and preprocessing of that run's ``config.yaml`` (cli.py).

Where a training run's pieces live: config values (config_access.py), device / network /
start weights / optimizer / learning rate / loss (recipe.py, nets.py, distill.py), data
(data.py), one epoch (loop.py), evaluation (evaluation.py), log files (runlog.py),
checkpoints and resume (checkpoints.py). ``train`` below puts them together.

Exact resume: the optimizer state is saved by parameter *structure* name, the learning rate
is a pure function of the step, and every random stream is re-derived at the start of each
epoch from (``Global.seed``, epoch): the shuffle order, each sample's augmentation (seeded by
(seed, epoch, index), so independent of loader workers) and Paddle's generator (dropout).
A run killed at any point and resumed from ``latest`` (written at the end of each epoch)
therefore ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from ..errors import ConfigError, InputError
from ..modelfolder import ModelMeta
from . import checkpoints, distill, recipe
from . import config_access as C
from . import data as D
from .evaluation import run_eval
from .loop import Step, train_one_epoch
from .nets import build_net, load_for_inference
from .runlog import RunLog, read_history, report_unreadable, setup_logging

log = logging.getLogger("personcls.training")
# Paddle warns on every BatchNorm in train mode that it tracks global statistics (it always has)
warnings.filterwarnings("ignore", message="When training, we now always track global mean and variance")

BEST_METRICS = ("acc", "f1", "tpr_at_fpr")


def world() -> Tuple[int, int]:
    """(number of processes, this one's rank) of a ``paddle.distributed.launch`` run."""
    n = int(os.environ.get("PADDLE_TRAINERS_NUM", "1") or 1)
    r = int(os.environ.get("PADDLE_TRAINER_ID", "0") or 0)
    return n, r


# ----------------------------------------------------------------------------- train
def train(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Train (or resume) the run of ``cfg``. Returns its metrics: ``run_dir``, ``epochs``,
    ``trained_epochs`` (by this call; 0 when the run had already finished), ``best``
    ({name, value, epoch} of ``Global.best_metric``) and ``history`` (every epoch's metrics.csv
    row as numbers, earlier calls' epochs included)."""
    with D.cv2_single_thread():
        return _train(cfg)


@dataclass
class _Model:
    """A run's network, optimizer and where it starts (fresh or from a checkpoint)."""

    model: Any
    opt: Any
    scaler: Any
    amp_level: str
    start_epoch: int
    best: Dict[str, Any]
    sources: Dict[str, Any]


def _result(run_dir: Path, epochs: int, trained: int, best: Dict[str, Any], history) -> Dict[str, Any]:
    return {"run_dir": str(run_dir), "epochs": epochs, "trained_epochs": trained, "best": best, "history": history}


def _build_model(cfg: Dict[str, Any], device: str, nranks: int, ckpt: Optional[Path]) -> _Model:
    import paddle

    g = cfg.get("Global") or {}
    model = build_net(cfg, for_training=True)
    sources = recipe.init_weights(model, cfg, for_training=True) if ckpt is None else {}
    if nranks > 1 and C.as_bool(g.get("sync_bn", C.get(cfg, "Arch.use_sync_bn", False)), "Global.sync_bn"):
        if device == "gpu":
            model = paddle.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:
            log.warning("Global.sync_bn: SyncBatchNorm needs GPUs; each CPU process keeps its own BN statistics")
    opt = recipe.build_optimizer(model, cfg)
    best = {"name": str(g.get("best_metric", "acc")), "value": None, "epoch": None}
    if best["name"] not in BEST_METRICS:
        raise ConfigError(f"Global.best_metric must be one of {BEST_METRICS}, got {best['name']!r}")
    amp_cfg = cfg.get("AMP") or {}
    scaler = None
    if device == "gpu" and bool(amp_cfg) and C.as_bool(amp_cfg.get("use_amp", True), "AMP.use_amp"):
        scaler = paddle.amp.GradScaler(
            init_loss_scaling=C.number(amp_cfg.get("scale_loss", 128.0), "AMP.scale_loss"),
            use_dynamic_loss_scaling=C.as_bool(amp_cfg.get("use_dynamic_loss_scaling", True),
                                               "AMP.use_dynamic_loss_scaling"))
    elif amp_cfg and device == "cpu":
        log.info("AMP is configured but ignored on CPU (fp32 training)")
    m = _Model(model, opt, scaler, str(amp_cfg.get("level", "O1")), 1, best, sources)
    if ckpt is not None:
        info = checkpoints.load_checkpoint(ckpt, model, opt)
        m.start_epoch = int(info["epoch"]) + 1
        m.best = info.get("best") or best
        m.sources = info.get("weights_source", {})
        if scaler is not None and info.get("amp_scaler"):
            scaler.load_state_dict(info["amp_scaler"])
        log.info("resumed from %s: epoch %d done, best %s = %s", ckpt, info["epoch"], m.best["name"], m.best["value"])
    return m


def _criterion(cfg: Dict[str, Any], train_ds, external, spec, sources: Dict[str, Any]) -> Tuple[Callable, Callable]:
    """(criterion, teach): see ``distill.training_targets``; a plain run's teach adds nothing."""
    if C.is_distillation(cfg):
        return distill.training_targets(cfg, train_ds.entries, external, spec, sources)
    ce = recipe.loss_fn(cfg)
    return (lambda out, y: (ce(out, y), {})), (lambda out, x, y, idx, box, mix=None: out)


def _val_columns(val: Dict[str, Any]) -> Dict[str, str]:
    return {"val_acc": f"{val['acc']:.6f}", "precision": f"{val['precision']:.6f}", "recall": f"{val['recall']:.6f}",
            "f1": f"{val['f1']:.6f}", "tpr_at_fpr": f"{val['tpr_at_fpr']:.6f}", "threshold": f"{val['threshold']:.4f}"}


@dataclass
class _EpochEnd:
    """Rank 0's end of an epoch: the best metric so far, the checkpoints (``best_model`` when it
    improved, ``latest`` every ``Global.save_interval`` epochs and at the end, and with
    ``Global.keep_epoch_checkpoints`` a lasting ``epoch_<N>`` copy of each of those) and the run log."""

    run_dir: Path
    cfg: Dict[str, Any]
    spec: Any
    seed: int
    steps: int
    epochs: int
    m: _Model
    external: Any
    runlog: RunLog
    save_interval: int
    keep_epochs: bool

    def __post_init__(self):
        self.best = self.m.best

    def __call__(self, epoch: int, row: Dict[str, Any], val: Optional[Dict[str, Any]], lr: float) -> None:
        best, cfg, m = self.best, self.cfg, self.m
        improved = val is not None and (best["value"] is None or val[best["name"]] > best["value"])
        if improved:
            self.best = best = {"name": best["name"], "value": float(val[best["name"]]), "epoch": epoch}
        info = {"epoch": epoch, "global_step": epoch * self.steps, "epochs": self.epochs,
                "arch": C.get(cfg, "Arch.name"), "class_num": C.get(cfg, "Arch.class_num"), "seed": self.seed,
                "best": best, "metrics": val, "train": {k: row[k] for k in ("train_loss", "train_acc", "images_per_s")},
                "preprocess": self.spec.to_dict(), "fingerprint": checkpoints.fingerprint(cfg),
                "weights_source": m.sources,
                "teacher_prior": self.external.target_prior if self.external is not None else None,
                "amp_scaler": m.scaler.state_dict() if m.scaler is not None else None}
        if improved:
            checkpoints.save_checkpoint(self.run_dir, "best_model", m.model, m.opt, info)
        if epoch % self.save_interval == 0 or epoch == self.epochs:
            checkpoints.save_checkpoint(self.run_dir, "latest", m.model, m.opt, info)
            if self.keep_epochs:
                checkpoints.save_checkpoint(self.run_dir, f"epoch_{epoch}", m.model, m.opt, info)
        self.runlog.epoch(row, val, lr, self.epochs, improved)


def _train(cfg: Dict[str, Any]) -> Dict[str, Any]:
    import paddle

    nranks, rank = world()
    device = recipe.resolve_device(cfg)
    paddle.set_device(device)
    if nranks > 1:
        paddle.distributed.init_parallel_env()
        rank = paddle.distributed.get_rank()
    run_dir = C.run_dir_of(cfg)
    setup_logging(run_dir, rank)
    g = cfg.get("Global") or {}
    seed = C.integer(g.get("seed", 42), "Global.seed", 0)
    epochs = C.integer(g.get("epochs"), "Global.epochs", 1)
    checkpoints.resume_mode(cfg)
    spec = C.preprocess_spec(cfg)
    warn = recipe.warmup_warning(cfg)
    if warn:
        log.warning("%s", warn)

    ckpt = checkpoints.resume_point(cfg, run_dir)
    if ckpt is not None:
        saved = checkpoints.saved_info(ckpt)
        if int(saved.get("epoch", 0)) >= epochs:
            log.info("%s already finished %s of %d epochs; nothing to train (-o Global.resume=false starts over)",
                     ckpt, saved.get("epoch"), epochs)
            return _result(run_dir, epochs, 0, saved.get("best") or {}, read_history(run_dir))

    paddle.seed(seed)
    np.random.seed(seed)
    external = distill.external_teacher(cfg) if C.is_distillation(cfg) else None  # checked before anything runs
    batch_mix = distill.batch_mix(cfg, external)
    m = _build_model(cfg, device, nranks, ckpt)
    model, opt = m.model, m.opt

    train_ds, sampler, train_loader = D.build_train_data(cfg, spec, seed,
                                                         with_geometry=external is not None and external.needs_geometry)
    steps = len(sampler)
    if steps == 0:
        raise ConfigError("the training list yields no batch (drop_last with fewer images than batch_size?)")
    do_eval = rank == 0 and C.as_bool(g.get("eval_during_train", True), "Global.eval_during_train")
    eval_ds = eval_loader = None
    if do_eval:
        eval_ds, eval_loader = D.build_eval_data(cfg, spec)
    net = paddle.DataParallel(model) if nranks > 1 else model
    criterion, teach = _criterion(cfg, train_ds, external, spec, m.sources)
    freeze = None
    if C.as_bool(C.get(cfg, "Arch.freeze_bn", False), "Arch.freeze_bn"):
        # keep the start weights' BN statistics (e.g. BN folded into converted convs)
        def freeze():
            distill.set_bn_eval(model)
    masks = external.person_maps if batch_mix is not None and batch_mix.needs_masks else None
    step = Step(net, opt, criterion, teach, cfg, steps, m.scaler, m.amp_level, mix=batch_mix, masks=masks)

    runlog = RunLog(run_dir, cfg, m.start_epoch, C.as_bool(g.get("use_visualdl", True), "Global.use_visualdl"),
                    active=rank == 0)
    log.info("train %s on %s: %d images, %d steps/epoch, epochs %d..%d, device %s%s, run folder %s",
             C.get(cfg, "Arch.name"), C.get(cfg, "DataLoader.Train.dataset.cls_label_path"), len(train_ds), steps,
             m.start_epoch, epochs, device, f" x{nranks}" if nranks > 1 else "", run_dir)

    print_every = C.integer(g.get("print_batch_step", 10), "Global.print_batch_step", 0)
    eval_interval = C.integer(g.get("eval_interval", 1), "Global.eval_interval", 1)
    start_eval = C.integer(g.get("start_eval_epoch", 1), "Global.start_eval_epoch", 0)
    save_interval = C.integer(g.get("save_interval", 1), "Global.save_interval", 1)
    saver = _EpochEnd(run_dir, cfg, spec, seed, steps, epochs, m, external, runlog, save_interval,
                      C.as_bool(g.get("keep_epoch_checkpoints", False), "Global.keep_epoch_checkpoints"))
    for epoch in range(m.start_epoch, epochs + 1):
        t0 = time.time()
        stats = train_one_epoch(step, train_loader, epoch, epochs, seed, sampler, before=freeze,
                                print_every=print_every)
        stats.reduce(nranks)
        report_unreadable(train_ds, stats.bad, f"epoch {epoch} (train)")
        row: Dict[str, Any] = {"epoch": epoch, **stats.row()}
        val = None
        if do_eval and epoch >= start_eval and (epoch % eval_interval == 0 or epoch == epochs):
            val, _, _, vbad = run_eval(model, eval_ds, eval_loader, cfg)
            report_unreadable(eval_ds, vbad, f"epoch {epoch} (eval)")
            row.update(_val_columns(val))
        row["seconds"] = f"{time.time() - t0:.2f}"
        if rank == 0:
            saver(epoch, row, val, stats.lr)
        if nranks > 1:
            paddle.distributed.barrier()
    runlog.close()
    best = saver.best
    if rank == 0:
        log.info("done: best %s %s at epoch %s; checkpoints in %s", best["name"], best["value"], best["epoch"], run_dir)
    return _result(run_dir, epochs, epochs - m.start_epoch + 1, best, runlog.history())


# ----------------------------------------------------------------------------- infer, export
def infer(cfg: Dict[str, Any]) -> int:
    import paddle
    import paddle.nn.functional as F

    from .. import imageio
    from ..postprocess import Postprocessor
    from ..preprocess import reference_preprocess

    setup_logging(None)
    target = C.get(cfg, "Infer.infer_imgs")
    if not target:
        raise ConfigError("no images given: -o Infer.infer_imgs=path/to/image_or_folder")
    paths = imageio.expand_target(target)
    spec = C.preprocess_spec(cfg)
    post = C.postprocess_spec(cfg)
    name = str(C.get(cfg, "Infer.PostProcess.name", "ThreshOutput"))
    if name not in ("ThreshOutput", "Topk"):
        raise ConfigError(f"Infer.PostProcess.name must be ThreshOutput or Topk, got {name!r}")
    pp = Postprocessor(post, mode="threshold" if name == "ThreshOutput" else "topk")
    model, _ = load_for_inference(cfg, "infer")
    bs = C.integer(C.get(cfg, "Infer.batch_size", 10), "Infer.batch_size", 1)
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
    spec = C.preprocess_spec(cfg)
    post = C.postprocess_spec(cfg)
    model, src = load_for_inference(cfg, "export")
    out = C.need(cfg, "Global.save_inference_dir")
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
    arch = str(C.get(cfg, "Arch.name"))
    if C.is_distillation(cfg):  # export the student alone (Arch.infer_model_name)
        model, arch = model.Student, str(distill.sub_models(cfg)["Student"]["name"])
    prov = {"source_checkpoint": ckpt, "config": copy.deepcopy(cfg)}
    if info.get("recipe"):  # a checkpoint not made by `personcls train` says how it was made
        prov["recipe"] = info["recipe"]
    if C.as_bool(C.get(cfg, "Global.balance_prior", False), "Global.balance_prior"):
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
