"""The pieces of a training recipe built from the config: device, network (a plain
classifier; distill.py builds a ``DistillationModel``), start weights, optimizer, learning-rate
schedule and the cross-entropy loss.

The learning rate is a pure function of the step (``lr_at``), so a resumed run sets the same
rate at each step as an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Dict, Iterable, Optional

from ..errors import ConfigError
from . import config_access as C

log = logging.getLogger("personcls.training")

# keys of an Arch entry that are not network constructor arguments
ARCH_RESERVED = ("name", "class_num", "pretrained", "use_ssld", "use_sync_bn", "freeze_bn")


def resolve_device(cfg: Dict[str, Any]) -> str:
    import paddle

    want = str(C.get(cfg, "Global.device", "auto")).lower()
    has_gpu = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    if want == "auto":
        return "gpu" if has_gpu else "cpu"
    if want == "gpu" and not has_gpu:
        raise ConfigError("Global.device is gpu but this Paddle has no usable CUDA device "
                          "(install paddlepaddle-gpu, or -o Global.device=cpu)")
    if want not in ("cpu", "gpu"):
        raise ConfigError(f"Global.device must be auto, cpu or gpu, got {want!r}")
    return want


def build_arch(entry: Dict[str, Any], where: str, reserved: Iterable[str] = ARCH_RESERVED):
    """The network an Arch entry names (``{name: PPLCNet_x1_0, class_num: 2, scale: ...}``); keys
    other than ``reserved`` go to its constructor. Errors name ``where`` (the entry's config key)."""
    from .models import build_model

    name = entry.get("name")
    if not name:
        raise ConfigError(f"{where}.name is required")
    skip = set(reserved) | {"_index"}
    kw = {k: v for k, v in entry.items() if k not in skip}
    try:
        return build_model(str(name), class_num=C.integer(entry.get("class_num", 2), f"{where}.class_num", 2), **kw)
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None


def start_weights(net, pretrained: Any, arch: str, use_ssld: bool, where: str, must_fit: bool) -> Optional[Dict[str, Any]]:
    """Load start weights named by an Arch entry's ``pretrained`` (a file with or without its
    ``.pdparams``, a URL, or True: the official PaddleClas weights of ``arch``) into ``net``;
    None when there are none. ``must_fit``: every tensor must load (a teacher's trained weights)."""
    from .weights import load_pretrained, official_url

    if pretrained in (None, False, "", "null"):
        return None
    if pretrained is True:
        pretrained = official_url(arch, use_ssld)
    log.info("%s: %s", where, pretrained)
    rep = load_pretrained(net, str(pretrained), min_fraction=1.0 if must_fit else 0.5, strict_shapes=must_fit)
    return {"source": rep.source, "loaded": len(rep.loaded), "skipped_shape": [k for k, _, _ in rep.shape_mismatch]}


def init_weights(model, cfg: Dict[str, Any], for_training: bool) -> Dict[str, Any]:
    """Arch.pretrained (start weights) then Global.pretrained_model (a trained checkpoint)."""
    from .weights import is_url, load_pretrained

    src: Dict[str, Any] = dict(getattr(model, "_weights_sources", None) or {})
    if for_training:
        rep = start_weights(model, C.get(cfg, "Arch.pretrained"), str(C.get(cfg, "Arch.name")),
                            bool(C.get(cfg, "Arch.use_ssld", False)), "Arch.pretrained", must_fit=False)
        if rep is not None:
            src["pretrained"] = rep
    pm = C.get(cfg, "Global.pretrained_model")
    if pm not in (None, False, ""):
        target = C.weights_prefix(str(pm))
        log.info("Global.pretrained_model: %s", target)
        # a trained checkpoint must fit completely (the head included)
        rep = load_pretrained(model, target, min_fraction=1.0 if not is_url(target) else 0.5,
                              strict_shapes=not for_training)
        src["pretrained_model"] = rep.source
    return src


def lr_at(step: int, steps_per_epoch: int, cfg: Dict[str, Any]) -> float:
    lr = C.get(cfg, "Optimizer.lr") or {}
    name = str(lr.get("name", "Cosine"))
    base = C.number(lr.get("learning_rate", 0.01), "Optimizer.lr.learning_rate", 0.0)
    epochs = C.integer(C.get(cfg, "Global.epochs"), "Global.epochs", 1)
    warm = int(round(C.number(lr.get("warmup_epoch", 0), "Optimizer.lr.warmup_epoch", 0) * steps_per_epoch))
    start = C.number(lr.get("warmup_start_lr", 0.0), "Optimizer.lr.warmup_start_lr", 0.0)
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
    lr = C.get(cfg, "Optimizer.lr") or {}
    warm = C.number(lr.get("warmup_epoch", 0), "Optimizer.lr.warmup_epoch", 0)
    epochs = C.integer(C.get(cfg, "Global.epochs"), "Global.epochs", 1)
    if warm < epochs:
        return None
    base = C.number(lr.get("learning_rate", 0.01), "Optimizer.lr.learning_rate", 0.0)
    start = C.number(lr.get("warmup_start_lr", 0.0), "Optimizer.lr.warmup_start_lr", 0.0)
    peak = start + (base - start) * epochs / warm
    return (f"Optimizer.lr.warmup_epoch {warm:g} >= Global.epochs {epochs}: the whole run is warm-up, the learning "
            f"rate rises from {start:g} and peaks at {peak:.3g} instead of {base:g} (e.g. -o Optimizer.lr.warmup_epoch="
            f"{max(0, epochs - 1)})")


def build_optimizer(model, cfg: Dict[str, Any]):
    import paddle

    o = C.get(cfg, "Optimizer") or {}
    if str(o.get("name", "Momentum")) != "Momentum":
        raise ConfigError(f"Optimizer.name {o.get('name')!r} is not supported (Momentum)")
    reg = o.get("regularizer") or {}
    wd = None
    if reg:
        if str(reg.get("name", "L2")) != "L2":
            raise ConfigError(f"Optimizer.regularizer.name {reg.get('name')!r} is not supported (L2)")
        wd = paddle.regularizer.L2Decay(C.number(reg.get("coeff", 0.0), "Optimizer.regularizer.coeff", 0.0))
    return paddle.optimizer.Momentum(learning_rate=C.number((o.get("lr") or {}).get("learning_rate", 0.01),
                                                            "Optimizer.lr.learning_rate", 0.0),
                                     momentum=C.number(o.get("momentum", 0.9), "Optimizer.momentum", 0.0),
                                     parameters=model.parameters(), weight_decay=wd)


def loss_fn(cfg: Dict[str, Any]):
    """``f(logits, labels) -> loss`` for ``Loss.Train: [{CELoss: {weight, epsilon}}, ...]``."""
    import paddle
    import paddle.nn.functional as F

    losses = C.get(cfg, "Loss.Train") or [{"CELoss": {"weight": 1.0}}]
    terms = []
    for i, item in enumerate(losses):
        if not isinstance(item, dict) or len(item) != 1:
            raise ConfigError(f"Loss.Train.{i}: each loss is a one-key mapping, got {item!r}")
        (name, args), = item.items()
        args = args or {}
        if name != "CELoss":
            raise ConfigError(f"Loss.Train.{i}: loss {name!r} is not supported (CELoss)")
        terms.append((C.number(args.get("weight", 1.0), f"Loss.Train.{i}.CELoss.weight"),
                      C.number(args.get("epsilon", 0.0) or 0.0, f"Loss.Train.{i}.CELoss.epsilon", 0.0)))

    def f(logits, labels):
        logp = F.log_softmax(logits.astype("float32"), axis=-1)
        nll = -paddle.take_along_axis(logp, labels.reshape([-1, 1]), axis=1).squeeze(1)
        total = 0.0
        for w, eps in terms:
            per = nll if eps == 0 else (1 - eps) * nll - eps * logp.mean(axis=-1)
            total = total + w * per.mean()
        return total

    return f
