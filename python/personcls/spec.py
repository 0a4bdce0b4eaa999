"""One definition of preprocessing and post-processing: the numbers a model was trained with.

Training (eval transforms), export, the Python preprocessing reference, the C++/CUDA
kernels and the CLI all take their numbers from :class:`PreprocessSpec` and decide with
:class:`PostprocessSpec`; nothing else defines them. Both are stored in a model folder's
``personcls.json``, which :mod:`personcls.modelfolder` reads and writes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

LABEL_NAMES = ("nobody", "someone")  # class 0, class 1 (the tutorial's convention)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _pair(v: Any, name: str) -> Tuple[int, int]:
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return (int(v), int(v))
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) for x in v):
        return (int(v[0]), int(v[1]))
    raise ValueError(f"{name} must be an int or a [width, height] pair, got {v!r}")


@dataclass(frozen=True)
class PreprocessSpec:
    """Resize -> centre crop -> normalise -> CHW, as the model was trained.

    ``resize_short > 0`` scales the short side to that length (aspect kept, sizes rounded
    half-to-even); ``resize_short == 0`` resizes to ``resize_size`` (width, height). The
    crop (width, height) is the network input. Values are ``(pixel * scale - mean) / std``
    in ``channel_order`` (the order the network expects; frames may arrive in either).
    Interpolation is bilinear on the cv2.INTER_LINEAR grid.
    """

    resize_short: int = 256
    resize_size: Optional[Tuple[int, int]] = None
    crop_size: Tuple[int, int] = (224, 224)
    scale: float = 1.0 / 255.0
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    channel_order: str = "RGB"
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "crop_size", _pair(self.crop_size, "crop_size"))
        if self.resize_size is not None:
            object.__setattr__(self, "resize_size", _pair(self.resize_size, "resize_size"))
        object.__setattr__(self, "mean", tuple(float(x) for x in self.mean))
        object.__setattr__(self, "std", tuple(float(x) for x in self.std))
        object.__setattr__(self, "channel_order", str(self.channel_order).upper())
        self.validate()

    def validate(self) -> None:
        cw, ch = self.crop_size
        if cw <= 0 or ch <= 0:
            raise ValueError(f"crop_size must be positive, got {self.crop_size}")
        if self.resize_short < 0:
            raise ValueError(f"resize_short must be >= 0, got {self.resize_short}")
        if self.resize_short > 0 and self.resize_short < max(cw, ch):
            raise ValueError(f"resize_short {self.resize_short} is smaller than the crop {self.crop_size}")
        if self.resize_short == 0:
            if self.resize_size is None:
                raise ValueError("resize_short == 0 needs resize_size")
            if self.resize_size[0] < cw or self.resize_size[1] < ch:
                raise ValueError(f"resize_size {self.resize_size} is smaller than the crop {self.crop_size}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("mean and std need 3 values each")
        if any(not (s > 0) for s in self.std) or not all(math.isfinite(m) for m in self.mean):
            raise ValueError(f"std must be > 0 and mean finite, got mean={self.mean} std={self.std}")
        if not (self.scale > 0):
            raise ValueError(f"scale must be > 0, got {self.scale}")
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order must be RGB or BGR, got {self.channel_order}")
        if self.interpolation != "bilinear":
            raise ValueError(f"interpolation {self.interpolation!r} is not supported (bilinear only)")

    @property
    def input_size(self) -> Tuple[int, int]:
        """(width, height) of the network input."""
        return self.crop_size

    def resized_size(self, width: int, height: int) -> Tuple[int, int]:
        if self.resize_short > 0:
            percent = self.resize_short / min(width, height)
            return int(round(width * percent)), int(round(height * percent))
        assert self.resize_size is not None
        return self.resize_size

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["crop_size"] = list(self.crop_size)
        d["resize_size"] = list(self.resize_size) if self.resize_size else None
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "PreprocessSpec":
        return _from_known_keys(cls, d, "preprocessing")

    @classmethod
    def from_paddleclas_ops(cls, ops: Sequence[Dict[str, Any]]) -> "PreprocessSpec":
        """Build from a PaddleClas ``PreProcess.transform_ops`` list (inference yaml)."""
        kw: Dict[str, Any] = {}
        for op in ops:
            if not isinstance(op, dict) or len(op) != 1:
                raise ValueError(f"each transform op must be a one-key mapping, got {op!r}")
            (name, args), = op.items()
            args = args or {}
            if name == "ResizeImage":
                if "resize_short" in args:
                    kw["resize_short"] = int(args["resize_short"])
                elif "size" in args:
                    kw["resize_short"] = 0
                    kw["resize_size"] = _pair(args["size"], "ResizeImage.size")
            elif name == "CropImage":
                kw["crop_size"] = _pair(args.get("size", 224), "CropImage.size")
            elif name == "NormalizeImage":
                s = args.get("scale", 1.0 / 255.0)
                kw["scale"] = _parse_scale(s)
                kw["mean"] = tuple(args.get("mean", IMAGENET_MEAN))
                kw["std"] = tuple(args.get("std", IMAGENET_STD))
                if str(args.get("order", "hwc")).lower() not in ("hwc", ""):
                    raise ValueError("NormalizeImage.order must be hwc")
            elif name in ("ToCHWImage", "DecodeImage"):
                pass
            else:
                raise ValueError(f"transform op {name!r} is not supported for inference")
        if kw.get("resize_short", 1) == 0 and "crop_size" not in kw and "resize_size" in kw:
            kw["crop_size"] = kw["resize_size"]
        return cls(**kw)

    def to_paddleclas_ops(self) -> List[Dict[str, Any]]:
        """The inverse of :meth:`from_paddleclas_ops`: these numbers as a PaddleClas
        ``PreProcess.transform_ops`` list. PaddleClas's predictor always hands its ops RGB
        frames, so a BGR model has no such list."""
        if self.channel_order != "RGB":
            raise ValueError(f"PaddleClas feeds RGB frames; this model wants {self.channel_order}")
        resize = {"resize_short": self.resize_short} if self.resize_short > 0 else {"size": list(self.resize_size)}
        return [{"ResizeImage": resize}, {"CropImage": {"size": list(self.crop_size)}},
                {"NormalizeImage": {"scale": self.scale, "mean": list(self.mean), "std": list(self.std), "order": ""}},
                {"ToCHWImage": None}]

    def to_native(self):
        """The same numbers as a ``personcls._native.PreprocessParams``."""
        from . import _native

        p = _native.PreprocessParams()
        p.resize_short = self.resize_short
        if self.resize_size is not None:
            p.resize_w, p.resize_h = self.resize_size
        p.crop_w, p.crop_h = self.crop_size
        p.scale = self.scale
        p.mean = list(self.mean)
        p.std = list(self.std)
        p.model_order = self.channel_order
        return p


def _from_known_keys(cls, d: Dict[str, Any], what: str):
    """``cls(**d)``, refusing keys the dataclass does not have (a typo is not ignored)."""
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown {what} keys {sorted(unknown)}")
    return cls(**d)


def _parse_scale(s: Any) -> float:
    """'1.0/255.0' (PaddleClas writes it so) or a number. No eval()."""
    if isinstance(s, (int, float)) and not isinstance(s, bool):
        return float(s)
    if isinstance(s, str):
        parts = s.split("/")
        try:
            if len(parts) == 1:
                return float(parts[0])
            if len(parts) == 2:
                return float(parts[0]) / float(parts[1])
        except (ValueError, ZeroDivisionError):
            pass
    raise ValueError(f"scale must be a number or 'a/b', got {s!r}")


@dataclass(frozen=True)
class PostprocessSpec:
    """How probabilities become answers.

    ``label_names[i]`` names class i; ``positive_class`` is "someone". ``threshold`` decides
    someone/nobody on P(someone) (PULC's ThreshOutput); ``topk`` is the Topk listing.
    """

    label_names: Tuple[str, ...] = LABEL_NAMES
    positive_class: int = 1
    threshold: float = 0.5
    topk: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_names", tuple(str(x) for x in self.label_names))
        if not (0 <= self.positive_class < len(self.label_names)):
            raise ValueError(f"positive_class {self.positive_class} out of range for {self.label_names}")
        if not (0.0 <= float(self.threshold) <= 1.0):
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        object.__setattr__(self, "threshold", float(self.threshold))
        if self.topk < 1:
            raise ValueError(f"topk must be >= 1, got {self.topk}")

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["label_names"] = list(self.label_names)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "PostprocessSpec":
        # The decision threshold is never defaulted: a folder without one was not finished
        # (0.5 would be a silent guess, the shipped model's is 0.385).
        if "threshold" not in d:
            raise ValueError("postprocess has no 'threshold'; store one with 'personcls eval MODEL_DIR LIST "
                             "--pick-threshold' (or write 0.5 explicitly if that is what you mean)")
        return _from_known_keys(cls, d, "postprocess")


def decide(p_someone, threshold: float):
    """The someone / nobody decision, the one rule every part uses: P(someone) >= threshold
    (PULC's ThreshOutput). A number gives a bool, an array an array of bools."""
    out = np.asarray(p_someone, dtype=np.float64) >= float(threshold)
    return bool(out) if out.ndim == 0 else out
