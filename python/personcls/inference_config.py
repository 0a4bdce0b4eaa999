"""The tutorial's inference YAML (``inference_person_cls.yaml``) -> ``Classifier`` arguments.

One table, :data:`KEYS`, maps every key of the YAML onto the one name it has in the SDK: a
:class:`~personcls.Classifier` argument, a :class:`~personcls.backends.RuntimeOptions` field
or a :class:`~personcls.imageio.DecodeOptions` field. The same table decides which keys an
``-o Key=value`` override may set and where the "did you mean" suggestion for a misspelt key
comes from. PaddleClas's names stay on the YAML side (``cpu_num_threads``, ``gpu_mem``,
``use_int8``, ...); nothing else uses them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from .errors import ConfigError


def _same(v: Any) -> Any:
    return v


def _bgr(v: Any):
    if not isinstance(v, (list, tuple)) or len(v) != 3 or not all(isinstance(x, int) for x in v):
        raise ConfigError(f"Global.alpha_background must be [B, G, R] integers, got {v!r}")
    return tuple(v)


def _mode(v: Any) -> str:
    modes = {"Topk": "topk", "ThreshOutput": "threshold"}
    if v not in modes:
        raise ConfigError(f"PostProcess.main_indicator must be Topk or ThreshOutput, got {v!r}")
    return modes[v]


@dataclass(frozen=True)
class Key:
    """Where one YAML key goes: ``target`` "classifier" (a Classifier argument), "runtime" (a
    RuntimeOptions field), "decode" (a DecodeOptions field) or "command" (read by the command
    itself, e.g. the image sources); ``convert`` types the YAML value (None: leave unset)."""

    target: str
    name: str
    convert: Callable[[Any], Any] = _same


def _unless_false(value: str) -> Callable[[Any], Optional[str]]:
    return lambda v: value if v else None


#: Every key of the inference YAML and its one SDK name. Order matters where two keys set one
#: field: ``use_int8`` after ``use_fp16``, so int8 wins when both are true.
KEYS: Dict[str, Key] = {
    "Global.infer_imgs": Key("command", "infer_imgs"),
    "Global.recursive": Key("command", "recursive", bool),
    "Global.inference_model_dir": Key("classifier", "model_dir"),
    "Global.batch_size": Key("classifier", "batch_size", int),
    "Global.backend": Key("classifier", "backend", str),
    "Global.use_gpu": Key("classifier", "device", lambda v: "gpu" if v else "cpu"),
    "Global.cpu_num_threads": Key("classifier", "threads", lambda v: int(v or 0)),
    "Global.fast_decode": Key("classifier", "fast_decode", bool),
    "Global.gpu_id": Key("runtime", "gpu_id", int),
    "Global.gpu_mem": Key("runtime", "gpu_mem_mb", int),
    "Global.enable_mkldnn": Key("runtime", "enable_mkldnn", bool),
    "Global.cpu_precision": Key("runtime", "cpu_precision", str),
    "Global.ir_optim": Key("runtime", "ir_optim", bool),
    "Global.use_tensorrt": Key("runtime", "use_tensorrt", bool),
    "Global.use_fp16": Key("runtime", "trt_precision", _unless_false("fp16")),
    "Global.use_int8": Key("runtime", "trt_precision", _unless_false("int8")),
    "Global.min_batch": Key("runtime", "min_batch", int),
    "Global.opt_batch": Key("runtime", "opt_batch", int),
    "Global.max_batch": Key("runtime", "max_batch", int),
    "Global.trt_cache_dir": Key("runtime", "trt_cache_dir"),
    "Global.strict_decode": Key("decode", "strict", bool),
    "Global.max_pixels": Key("decode", "max_pixels", int),
    "Global.alpha_background": Key("decode", "alpha_background", _bgr),
    "PostProcess.main_indicator": Key("classifier", "mode", _mode),
    "PostProcess.Topk.topk": Key("classifier", "topk", lambda v: int(v) if v else None),
    "PostProcess.Topk.label_names": Key("classifier", "label_names"),
    "PostProcess.ThreshOutput.threshold": Key("classifier", "threshold"),
}


def _get(cfg: Dict[str, Any], path: str) -> Any:
    node: Any = cfg
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return dataclasses.MISSING
        node = node[part]
    return node


#: the sections of the YAML whose keys :data:`KEYS` maps; PreProcess (folders without
#: personcls.json) and Quant (personcls quantize) are read by their own code
MAPPED_SECTIONS = ("Global", "PostProcess")


def _leaves(node: Any, prefix: str) -> List[str]:
    if isinstance(node, dict) and node:
        return [p for k, v in node.items() for p in _leaves(v, f"{prefix}.{k}")]
    return [prefix]


def unused_keys(cfg: Dict[str, Any]) -> List[str]:
    """Keys of the mapped sections that no entry of :data:`KEYS` reads (a misspelt key in a
    YAML file, or a PaddleClas key personcls has no use for), e.g. ``Global.enable_benchmark``."""
    out = []
    for section in MAPPED_SECTIONS:
        for path in _leaves(cfg.get(section), section):
            if path not in KEYS and not any(k.startswith(path + ".") for k in KEYS):
                out.append(path)
    return out


def resolve(cfg: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """The config's values under their SDK names, by target: ``{"classifier": {...},
    "runtime": {...}, "decode": {...}, "command": {...}}`` (keys absent from ``cfg`` are left
    out, so the SDK's own defaults apply)."""
    out: Dict[str, Dict[str, Any]] = {"classifier": {}, "runtime": {}, "decode": {}, "command": {}}
    for path, key in KEYS.items():
        raw = _get(cfg, path)
        if raw is dataclasses.MISSING:
            continue
        try:
            value = key.convert(raw)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{path}: {raw!r} is not a valid value ({e})") from e
        if value is not None or key.convert is _same:
            out[key.target][key.name] = value
    return out


def classifier_kwargs(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Keyword arguments of :class:`personcls.Classifier` from an inference config (options
    and decode options built here, by field name)."""
    from .backends import RuntimeOptions
    from .imageio import DecodeOptions

    r = resolve(cfg)
    kw = dict(r["classifier"])
    try:
        kw["options"] = RuntimeOptions(**r["runtime"])
        kw["decode"] = DecodeOptions(**r["decode"])
    except TypeError as e:  # a table entry naming a field that does not exist: a bug here
        raise ConfigError(f"inference config table: {e}") from e
    return kw
