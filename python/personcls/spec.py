"""The model folder format: one definition of preprocessing and post-processing.

An exported model folder is self-describing::

    inference.pdmodel / inference.pdiparams   Paddle program + weights (legacy format: Paddle
                                              2.6 GPU wheels, Paddle 3, Paddle Inference C++
                                              and OpenVINO all read it)
    inference.json                            (optional) Paddle 3 PIR program
    inference.xml / inference.bin             (optional) OpenVINO IR of the same network
    personcls.json                            this metadata: input, preprocessing, labels,
                                              threshold, provenance

Training (eval transforms), export, the Python preprocessing reference, the C++/CUDA
kernels and the CLI all take their numbers from :class:`PreprocessSpec`; nothing else
defines them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .errors import ModelError

log = logging.getLogger("personcls")

META_FILE = "personcls.json"
FORMAT = "personcls-model"
FORMAT_VERSION = 2  # 2: personcls.json carries a SHA-256 checksum of every model file it names
CHECKSUM_KEYS = ("program", "params", "xml", "bin")  # the entries of ``files`` that name model files
# files the runtimes read from a folder by these names even when ``files`` does not list them
DEFAULT_MODEL_FILES = ("inference.pdmodel", "inference.json", "inference.pdiparams", "inference.xml",
                       "inference.bin", "inference.onnx")
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


@dataclass
class ModelMeta:
    """Contents of ``personcls.json``."""

    arch: str
    preprocess: PreprocessSpec
    postprocess: PostprocessSpec = field(default_factory=PostprocessSpec)
    input_name: str = "x"
    output_is_probability: bool = True  # export appends softmax
    files: Dict[str, Dict[str, str]] = field(default_factory=dict)
    provenance: Dict[str, Any] = field(default_factory=dict)
    metrics: Dict[str, Any] = field(default_factory=dict)
    #: file name -> SHA-256 (hex) of each model file ``files`` names; written by :meth:`save`,
    #: verified by :meth:`load`
    checksums: Dict[str, str] = field(default_factory=dict)
    #: the format version the metadata was read from (1: written before checksums existed)
    format_version: int = FORMAT_VERSION

    @property
    def num_classes(self) -> int:
        return len(self.postprocess.label_names)

    def model_files(self, model_dir: Optional[os.PathLike] = None) -> List[str]:
        """The model files ``files`` names (program, params, IR xml/bin, INT8 IR) and, given
        the folder, the files a runtime would pick up there by their default names."""
        out: List[str] = []
        for entry in (self.files or {}).values():
            if isinstance(entry, dict):
                for k in CHECKSUM_KEYS:
                    v = entry.get(k)
                    if isinstance(v, str) and v and v not in out:
                        out.append(v)
        if model_dir is not None:
            out += [n for n in DEFAULT_MODEL_FILES if n not in out and (Path(model_dir) / n).is_file()]
        return out

    def verify_files(self, model_dir: os.PathLike) -> None:
        """Check every model file against its checksum (ModelError naming the damaged file).

        A format-1 folder (written before checksums existed) is accepted with a logged
        warning; from format 2 on a model file without a checksum is an error."""
        d = Path(model_dir)
        files = self.model_files(d)
        if not self.checksums:
            if files and self.format_version >= 2:
                raise ModelError(f"{d / META_FILE}: format {self.format_version} metadata without 'checksums'; "
                                 f"the folder was edited by hand. Re-export it (personcls export / quantize)")
            if files:
                log.warning("%s: format-1 metadata carries no checksums, so the model files are not verified; "
                            "re-export the folder (or re-run personcls quantize / eval --pick-threshold) to add them",
                            d / META_FILE)
            return
        for name in files:
            if name not in self.checksums:
                raise ModelError(f"{d / name}: no checksum in {META_FILE} (added after the folder was written?); "
                                 f"re-export the folder")
        for name, want in self.checksums.items():
            f = d / name
            if not f.is_file():
                raise ModelError(f"{f}: model file is missing (personcls.json lists it)")
            got = file_sha256(f)
            if got != want:
                raise ModelError(f"{f}: checksum mismatch, the file is damaged or was replaced after "
                                 f"{META_FILE} was written (sha256 {got[:12]}..., expected {want[:12]}...)")

    def to_dict(self) -> Dict[str, Any]:
        w, h = self.preprocess.crop_size
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "arch": self.arch,
            "input": {"name": self.input_name, "shape": [-1, 3, h, w], "dtype": "float32", "layout": "NCHW"},
            "output": {"probability": self.output_is_probability, "num_classes": self.num_classes},
            "preprocess": self.preprocess.to_dict(),
            "postprocess": self.postprocess.to_dict(),
            "files": self.files,
            "checksums": self.checksums,
            "provenance": self.provenance,
            "metrics": self.metrics,
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any], where: str = "metadata") -> "ModelMeta":
        try:
            if d.get("format") != FORMAT:
                raise ValueError(f"'format' is {d.get('format')!r}, expected {FORMAT!r}")
            if int(d.get("format_version", 0)) > FORMAT_VERSION:
                raise ValueError(f"format_version {d.get('format_version')} is newer than this personcls "
                                 f"understands ({FORMAT_VERSION}); upgrade personcls")
            pre = PreprocessSpec.from_dict(d["preprocess"])
            post = PostprocessSpec.from_dict(d["postprocess"])
            inp = d.get("input", {})
            shape = inp.get("shape")
            if shape is not None:
                if not isinstance(shape, list) or len(shape) != 4:
                    raise ValueError(f"input shape {shape} is not [N, C, H, W]")
                if shape[1] != 3:
                    raise ValueError(f"input shape {shape} has {shape[1]} channels; personcls feeds 3")
                if list(shape[2:]) != [pre.crop_size[1], pre.crop_size[0]]:
                    raise ValueError(f"input shape {shape} disagrees with crop_size {list(pre.crop_size)}")
            out = d.get("output", {})
            if "num_classes" in out and int(out["num_classes"]) != len(post.label_names):
                raise ValueError(f"output.num_classes {out['num_classes']} disagrees with the "
                                 f"{len(post.label_names)} label_names {list(post.label_names)}")
            if "probability" in out and not isinstance(out["probability"], bool):
                raise ValueError(f"output.probability must be true or false, got {out['probability']!r}")
            sums = d.get("checksums") or {}
            if not isinstance(sums, dict) or not all(isinstance(v, str) for v in sums.values()):
                raise ValueError("checksums must map file names to SHA-256 hex strings")
            return cls(
                arch=str(d.get("arch", "unknown")),
                preprocess=pre,
                postprocess=post,
                input_name=str(d.get("input", {}).get("name", "x")),
                output_is_probability=bool(d.get("output", {}).get("probability", True)),
                files=dict(d.get("files", {})),
                provenance=dict(d.get("provenance", {})),
                metrics=dict(d.get("metrics", {})),
                checksums=dict(sums),
                format_version=int(d.get("format_version", 0)),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"{where}: invalid model metadata: {e}") from e

    def set_threshold(self, threshold: float) -> None:
        """Replace the stored someone/nobody threshold (validated like the rest)."""
        try:
            self.postprocess = dataclasses.replace(self.postprocess, threshold=float(threshold))
        except (TypeError, ValueError) as e:
            raise ModelError(f"threshold {threshold!r}: {e}") from e

    def save(self, model_dir: os.PathLike) -> Path:
        """Write ``personcls.json`` (atomically), with a fresh checksum of every model file
        ``files`` names: whoever writes a model folder (export, quantize, eval
        --pick-threshold) records its files here, the one place that does."""
        d = Path(model_dir)
        sums = {}
        for name in self.model_files(d):
            if not (d / name).is_file():
                raise ModelError(f"{d}: {name} is named in the metadata but not in the folder")
            sums[name] = file_sha256(d / name)
        self.checksums = sums
        self.format_version = FORMAT_VERSION
        path = d / META_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, model_dir: os.PathLike, verify: bool = True) -> "ModelMeta":
        """Read and validate ``personcls.json``; with ``verify`` also check the model files'
        checksums (about 10 ms for the shipped model)."""
        path = Path(model_dir) / META_FILE
        if not Path(model_dir).is_dir():
            raise ModelError(f"model folder {model_dir} does not exist or is not a folder")
        if not path.is_file():
            raise ModelError(
                f"model folder {model_dir} has no {META_FILE}; it was not exported by personcls. Export it with "
                f"'personcls export', or pass its preprocessing explicitly (Classifier(..., preprocess=PreprocessSpec(...)) "
                f"or the inference yaml's PreProcess section)")
        try:
            d = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ModelError(f"{path}: unreadable metadata: {e}") from e
        if not isinstance(d, dict):
            raise ModelError(f"{path}: metadata is not a JSON object")
        meta = cls.from_dict(d, where=str(path))
        if verify:
            meta.verify_files(model_dir)
        return meta


def file_sha256(path: os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange) == 0


def replace_folder(new: os.PathLike, target: os.PathLike) -> None:
    """Put the finished folder ``new`` (a sibling of ``target``) in place of ``target``.

    The previous folder stays whole until the new one is in place: on Linux the two are
    swapped in one atomic step; elsewhere the old one is renamed aside first and
    :func:`recover_folder` puts it back if the process dies between the two renames."""
    new, target = Path(new), Path(target)
    if target.exists() and _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # now holds the previous folder
        return
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old"
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def recover_folder(target: os.PathLike) -> None:
    """Undo a :func:`replace_folder` interrupted between its two renames (non-Linux)."""
    target = Path(target)
    old = target.parent / f".{target.name}.old"
    if not target.exists() and old.is_dir():
        os.replace(old, target)
        log.warning("%s: restored the previous folder left by an interrupted write", target)


def find_paddle_files(model_dir: os.PathLike) -> Tuple[Path, Path]:
    """(program, params) of a Paddle inference model folder, legacy or PIR."""
    d = Path(model_dir)
    params = d / "inference.pdiparams"
    for prog in (d / "inference.pdmodel", d / "inference.json"):
        if prog.is_file():
            break
    else:
        raise ModelError(f"model folder {d} has no Paddle program (inference.pdmodel or inference.json)")
    if not params.is_file():
        raise ModelError(f"model folder {d} has no weights file inference.pdiparams")
    for f in (prog, params):
        if f.stat().st_size == 0:
            raise ModelError(f"{f} is empty")
    return prog, params


def default_model_dir() -> Path:
    """The trained model shipped inside the package."""
    return Path(__file__).resolve().parent / "models" / "person_PPLCNet_x1_0"
