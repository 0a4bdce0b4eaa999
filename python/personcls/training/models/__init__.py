"""Model registry: ``build_model(name, class_num, **kw)``."""

from __future__ import annotations

from typing import Callable, Dict

from .mobilenetv2 import MobileNetV2
from .pplcnet import PPLCNet, SCALES
from .resnet_vd import ResNetVd

_REGISTRY: Dict[str, Callable[..., "object"]] = {}


def _register_pplcnet(tag: str, scale: float) -> None:
    def make(class_num: int = 2, **kw):
        return PPLCNet(scale=scale, class_num=class_num, **kw)
    _REGISTRY[f"PPLCNet_{tag}"] = make


for _tag, _scale in SCALES.items():
    _register_pplcnet(_tag, _scale)
_REGISTRY["ResNet50_vd"] = lambda class_num=2, **kw: ResNetVd(50, class_num=class_num, **kw)
_REGISTRY["ResNet101_vd"] = lambda class_num=2, **kw: ResNetVd(101, class_num=class_num, **kw)
_REGISTRY["MobileNetV2"] = lambda class_num=2, **kw: MobileNetV2(class_num=class_num, **kw)


def model_names():
    return sorted(_REGISTRY)


def build_model(name: str, class_num: int = 2, **kw):
    """Build a model by PaddleClas architecture name (``Arch.name``)."""
    if name not in _REGISTRY:
        import difflib
        close = difflib.get_close_matches(str(name), _REGISTRY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown architecture {name!r}{hint} (known: {', '.join(model_names())})")
    try:
        return _REGISTRY[name](class_num=int(class_num), **kw)
    except TypeError as e:
        raise ValueError(f"bad arguments for architecture {name}: {e}") from e


__all__ = ["build_model", "model_names", "PPLCNet", "ResNetVd", "MobileNetV2"]
