"""Training configs: loading one (``load``: YAML + ``DEFAULTS`` + ``-o`` overrides; the
packaged configs by name) and reading it, the one place that turns config values into checked
Python values, with errors that name the key.

A training config is the nested dict ``load`` returns. Every training module (engine, data,
loop, evaluation, distill, search) reads it through these functions, so a key's type, range and
default are decided here once.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..config import apply_overrides, load_config, parse_override, read_yaml
from ..config import resolve_config_path as _resolve
from ..errors import ConfigError
from ..spec import PostprocessSpec, PreprocessSpec, _parse_scale

log = logging.getLogger("personcls.training")

# the repository's training/configs/*.yaml, installed here by the wheel (pyproject wheel.packages)
PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG = PACKAGED_CONFIGS / "PPLCNet_x1_0.yaml"

# Keys a config may leave out (filled before -o overrides apply, so they can be overridden).
DEFAULTS: Dict[str, Any] = {
    "Global": {"checkpoints": None, "resume": "auto", "pretrained_model": None, "output_dir": "./output/",
               "device": "auto", "seed": 42, "save_interval": 1, "keep_epoch_checkpoints": False,
               "eval_during_train": True, "eval_interval": 1, "start_eval_epoch": 1, "epochs": 20,
               "print_batch_step": 10, "use_visualdl": True, "best_metric": "acc", "sync_bn": True,
               "save_inference_dir": "./inference"},
    "Preprocess": {"resize_short": 256, "crop_size": 224, "scale": 1.0 / 255.0,
                   "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "channel_order": "RGB"},
    "Arch": {"name": "PPLCNet_x1_0", "class_num": 2, "pretrained": False, "use_ssld": False},
    "Infer": {"infer_imgs": None, "batch_size": 10,
              "PostProcess": {"name": "ThreshOutput", "threshold": 0.5, "label_0": "nobody", "label_1": "someone"}},
}


# The train batch op (augment.build_batch_ops); optional in a config.
BATCH_OPS_KEY = "DataLoader.Train.dataset.batch_transform_ops"
# Keys an override may add although the config does not hold them.
OPTIONAL_KEYS = (BATCH_OPS_KEY,)


def resolve_config_path(path: Optional[str]) -> Path:
    return _resolve(path, PACKAGED_CONFIGS, DEFAULT_CONFIG)


def load(config_path: Optional[str], overrides: List[str]) -> Dict[str, Any]:
    """The training config at ``config_path`` (a file, or a packaged config's name; None: the
    default config) with ``DEFAULTS`` filled in and ``overrides`` (``Key.path=value``) applied."""
    return load_config(resolve_config_path(config_path), overrides or [], defaults=copy.deepcopy(DEFAULTS),
                       allow_new=("Arch",), known=OPTIONAL_KEYS)


# The parts of a config that define the trained network and its input: eval / infer / export of
# a checkpoint take them from the run that produced it (its config.yaml), not from -c.
MODEL_KEYS = ("Arch", "Preprocess")


def run_config_of(checkpoint: str) -> Optional[Path]:
    """The resolved config a checkpoint's run wrote (``<run folder>/config.yaml``), if any."""
    f = Path(weights_prefix(checkpoint)).parent / "config.yaml"
    return f if f.is_file() else None


def load_for_checkpoint(config_path: Optional[str], overrides: List[str]) -> Dict[str, Any]:
    """``load`` for eval / infer / export: when ``Global.pretrained_model`` is a checkpoint of a
    run folder, the network and preprocessing (``MODEL_KEYS``) come from that run's
    ``config.yaml``; ``-o`` overrides of those keys still apply on top."""
    cfg = load(config_path, overrides)
    pm = (cfg.get("Global") or {}).get("pretrained_model")
    run_cfg = run_config_of(str(pm)) if pm else None
    if run_cfg is None:
        return cfg
    saved = read_yaml(run_cfg)
    mine = [o for o in overrides or [] if parse_override(o)[0].split(".")[0] in MODEL_KEYS]
    before = {k: copy.deepcopy(cfg.get(k)) for k in MODEL_KEYS}
    for k in MODEL_KEYS:
        if k in saved:
            cfg[k] = copy.deepcopy(saved[k])
    cfg = apply_overrides(cfg, mine, allow_new=("Arch",))
    changed = [k for k in MODEL_KEYS if cfg.get(k) != before[k]]
    if changed:
        log.warning(
            "%s and preprocessing from the checkpoint's run config %s (they differ from %s)%s", "/".join(changed),
            run_cfg, config_path or "the default config", "; -o overrides of them applied on top" if mine else "")
    return cfg


#: ``Arch.name`` of a distillation config (PaddleClas ``DistillationModel``; see distill.py)
DISTILLATION = "DistillationModel"


def get(cfg: Dict[str, Any], path: str, default: Any = None) -> Any:
    """The value at dotted ``path`` (``"Global.epochs"``), or ``default`` when any part is absent."""
    node: Any = cfg
    for p in path.split("."):
        if isinstance(node, dict) and p in node:
            node = node[p]
        else:
            return default
    return node


def need(cfg: Dict[str, Any], path: str) -> Any:
    """The value at ``path``; a ConfigError naming it when absent or null."""
    v = get(cfg, path)
    if v is None:
        raise ConfigError(f"config key {path} is required")
    return v


def as_bool(v: Any, key: str) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false", "yes", "no", "1", "0"):
        return v.lower() in ("true", "yes", "1")
    if isinstance(v, int):
        return bool(v)
    raise ConfigError(f"{key} must be true or false, got {v!r}")


def number(v: Any, key: str, lo: Optional[float] = None) -> float:
    """A float; strings may be fractions such as ``1/255`` (as in the tutorial's configs)."""
    try:
        x = _parse_scale(v) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, got {v!r}") from None
    if lo is not None and x < lo:
        raise ConfigError(f"{key} must be >= {lo}, got {v!r}")
    return x


def integer(v: Any, key: str, lo: Optional[int] = None) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
        raise ConfigError(f"{key} must be an integer, got {v!r}")
    if lo is not None and v < lo:
        raise ConfigError(f"{key} must be >= {lo}, got {v!r}")
    return int(v)


def class_num(cfg: Dict[str, Any]) -> int:
    return integer(get(cfg, "Arch.class_num", 2), "Arch.class_num", 2)


def is_distillation(cfg: Dict[str, Any]) -> bool:
    return str((cfg.get("Arch") or {}).get("name")) == DISTILLATION


def preprocess_spec(cfg: Dict[str, Any]) -> PreprocessSpec:
    """The ``Preprocess`` section: what training's eval view, the export and the SDK share."""
    p = dict(get(cfg, "Preprocess") or {})
    if "scale" in p and isinstance(p["scale"], str):
        p["scale"] = _parse_scale(p["scale"])
    try:
        return PreprocessSpec.from_dict(p)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"Preprocess: {e}") from None


def postprocess_spec(cfg: Dict[str, Any]) -> PostprocessSpec:
    pp = get(cfg, "Infer.PostProcess") or {}
    n = class_num(cfg)
    defaults = ("nobody", "someone") + tuple(f"class_{i}" for i in range(2, n))
    names = tuple(str(pp.get(f"label_{i}", defaults[i])) for i in range(n))
    thr = number(pp.get("threshold", 0.5), "Infer.PostProcess.threshold")
    try:
        return PostprocessSpec(label_names=names, positive_class=1, threshold=thr, topk=min(n, 2))
    except ValueError as e:
        raise ConfigError(f"Infer.PostProcess: {e}") from None


def max_fpr(cfg: Dict[str, Any]) -> float:
    """The FPR bound of the TPR-at-FPR metric (``Metric.Eval: [{TprAtFpr: {max_fpr: ...}}]``)."""
    for m in get(cfg, "Metric.Eval") or []:
        if isinstance(m, dict) and "TprAtFpr" in m:
            return number((m["TprAtFpr"] or {}).get("max_fpr", 0.001), "Metric.Eval.TprAtFpr.max_fpr", 0.0)
    return 0.001


def run_dir_of(cfg: Dict[str, Any]) -> Path:
    """A training run's folder: ``<Global.output_dir>/<Arch.name>/``."""
    return Path(str(get(cfg, "Global.output_dir", "./output/"))) / str(need(cfg, "Arch.name"))


def weights_prefix(path: str) -> str:
    """``output/X/best_model`` or ``.../best_model.pdparams`` -> ``output/X/best_model`` (the
    checkpoint prefix: ``.pdparams``, ``.pdopt`` and ``.json`` files share it)."""
    return path[: -len(".pdparams")] if path.endswith(".pdparams") else path
