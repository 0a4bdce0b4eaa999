"""Reading a resolved training config: the one place that turns config values into checked
Python values, with errors that name the key.

A training config is the nested dict ``personcls.training.cli.load`` returns (YAML + defaults +
``-o`` overrides). Every training module (engine, loop, evaluation, distill, search) reads it
through these functions, so a key's type, range and default are decided here once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from ..errors import ConfigError
from ..spec import PostprocessSpec, PreprocessSpec, _parse_scale

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
