"""The model folder: the one place that knows which files a folder holds and writes its metadata.

An exported model folder is self-describing::

    inference.pdmodel / inference.pdiparams   Paddle program + weights (legacy format: Paddle
                                              2.6 GPU wheels, Paddle 3, Paddle Inference C++
                                              and OpenVINO all read it)
    inference.json                            (optional) Paddle 3 PIR program
    inference.xml / inference.bin             (optional) OpenVINO IR of the same network
    inference_int8.xml / .bin                 (optional) INT8 IR from ``personcls quantize``
    inference.onnx                            (optional) ONNX, read by OpenVINO
    personcls.json                            :class:`ModelMeta`: input, preprocessing
                                              (:mod:`personcls.spec`), labels, threshold,
                                              files, checksums, provenance, metrics

Everything that finds a file in a folder (:func:`paddle_files`, :func:`openvino_files`), reads
or writes ``personcls.json`` (:class:`ModelMeta`, :func:`store_threshold`), records provenance
(:func:`provenance`) or rewrites a folder (:func:`staged_folder`) lives here. The runtimes,
the C++ engine included, receive resolved file paths and never search a folder themselves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Optional

from .errors import InputError, ModelError
from .spec import PostprocessSpec, PreprocessSpec

log = logging.getLogger("personcls")

META_FILE = "personcls.json"
FORMAT = "personcls-model"
FORMAT_VERSION = 2  # 2: personcls.json carries a SHA-256 checksum of every model file it names

# The file names a folder's files have unless personcls.json names others.
PADDLE_PROGRAM = "inference.pdmodel"
PADDLE_PIR_PROGRAM = "inference.json"
PADDLE_PARAMS = "inference.pdiparams"
IR_XML, IR_BIN = "inference.xml", "inference.bin"
INT8_XML, INT8_BIN = "inference_int8.xml", "inference_int8.bin"
ONNX_FILE = "inference.onnx"
#: the ``files`` entries of personcls.json, as export and quantize write them
PADDLE_ENTRY = {"program": PADDLE_PROGRAM, "params": PADDLE_PARAMS}
OPENVINO_ENTRY = {"xml": IR_XML, "bin": IR_BIN}
INT8_ENTRY = {"xml": INT8_XML, "bin": INT8_BIN}
CHECKSUM_KEYS = ("program", "params", "xml", "bin")  # the entries of ``files`` that name model files
# files the runtimes read from a folder by these names even when ``files`` does not list them
DEFAULT_MODEL_FILES = (PADDLE_PROGRAM, PADDLE_PIR_PROGRAM, PADDLE_PARAMS, IR_XML, IR_BIN, ONNX_FILE)
# every file name this module writes; anything else in a folder (a model card, notes) is the user's
# and survives a rewrite of the folder
MANAGED_FILES = frozenset(DEFAULT_MODEL_FILES + (INT8_XML, INT8_BIN, META_FILE, PADDLE_PARAMS + ".info"))
#: model_format values :func:`openvino_files` understands (auto: IR, then Paddle program, then ONNX)
MODEL_FORMATS = ("auto", "ir", "onnx", "paddle")

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

    @property
    def has_int8_ir(self) -> bool:
        """Whether ``personcls quantize`` recorded an INT8 IR (``files.openvino_int8``)."""
        return bool(_named(self, "openvino_int8", "xml", ""))

    def record_int8_ir(self, figures: Dict[str, Any]) -> None:
        """Name the INT8 IR under ``files.openvino_int8``, with the agreement ``figures`` measured."""
        self.files["openvino_int8"] = {**INT8_ENTRY, **figures}

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


def has_metadata(model_dir: os.PathLike) -> bool:
    """Whether the folder carries ``personcls.json`` (else its preprocessing must be given)."""
    return (Path(model_dir) / META_FILE).is_file()


def is_replaceable(d: os.PathLike) -> bool:
    """An existing folder may be replaced by an export only if it is empty or a model folder."""
    d = Path(d)
    if not d.exists():
        return True
    if not d.is_dir():
        return False
    names = set(os.listdir(d))
    return not names or bool(names & {META_FILE, PADDLE_PROGRAM, PADDLE_PIR_PROGRAM})


@contextlib.contextmanager
def staged_folder(target: os.PathLike, purpose: str, copy_existing: bool = False) -> Iterator[Path]:
    """Write a model folder as a whole: yields an empty (or, with ``copy_existing``, a copy of
    ``target``) sibling folder; when the block ends, its ``personcls.json`` must read back and
    verify, then it replaces ``target`` (:func:`replace_folder`). Files of ``target`` that this
    module does not manage (:data:`MANAGED_FILES`, e.g. a ``MODEL_CARD.md``) are carried over
    unless the block wrote one of the same name. A failure anywhere leaves ``target`` as it was
    and removes the sibling."""
    target = Path(target).resolve()
    recover_folder(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.{purpose}-", dir=target.parent))
    try:
        if copy_existing:
            shutil.copytree(target, work, dirs_exist_ok=True)
        yield work
        if target.is_dir() and not copy_existing:
            for f in target.iterdir():
                if f.is_file() and f.name not in MANAGED_FILES and not (work / f.name).exists():
                    shutil.copy2(f, work / f.name)
        ModelMeta.load(work)  # what was written reads back and verifies
        os.chmod(work, 0o755)
        replace_folder(work, target)  # the previous folder stays whole until this one is in place
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


class ModelFiles(NamedTuple):
    """Resolved files of one runtime: the file to load and the weights beside it (None for
    single-file formats such as ONNX)."""

    model: Path
    weights: Optional[Path]


def _require(p: Path, what: str) -> Path:
    if not p.is_file():
        raise ModelError(f"{what} {p} is missing")
    if p.stat().st_size == 0:
        raise ModelError(f"{what} {p} is empty")
    return p


def _folder(model_dir: os.PathLike) -> Path:
    d = Path(model_dir)
    if not d.is_dir():
        raise ModelError(f"model folder {d} does not exist or is not a folder")
    return d


def _named(meta: Optional["ModelMeta"], entry: str, key: str, default: str) -> str:
    """The file name personcls.json gives ``files[entry][key]``, else the default name."""
    v = ((meta.files if meta is not None else None) or {}).get(entry, {})
    v = v.get(key) if isinstance(v, dict) else None
    return v if isinstance(v, str) and v else default


def paddle_files(model_dir: os.PathLike, meta: Optional["ModelMeta"] = None, legacy_only: bool = False) -> ModelFiles:
    """(program, params) of a Paddle inference model folder: the legacy program first, then the
    PIR ``inference.json`` (unless ``legacy_only``: OpenVINO reads only the legacy one)."""
    d = _folder(model_dir)
    params = d / _named(meta, "paddle", "params", PADDLE_PARAMS)
    progs = [d / _named(meta, "paddle", "program", PADDLE_PROGRAM)] + ([] if legacy_only else [d / PADDLE_PIR_PROGRAM])
    prog = next((p for p in progs if p.is_file()), None)
    if prog is None:
        if legacy_only and (d / PADDLE_PIR_PROGRAM).is_file():
            raise ModelError(f"model folder {d} holds only a Paddle PIR program ({PADDLE_PIR_PROGRAM}), which "
                             f"OpenVINO cannot read; re-export it with personcls (it writes {IR_XML} and "
                             f"{PADDLE_PROGRAM})")
        raise ModelError(f"model folder {d} has no Paddle program ({PADDLE_PROGRAM} or {PADDLE_PIR_PROGRAM})")
    return ModelFiles(_require(prog, "Paddle program"), _require(params, "Paddle weights"))


def openvino_files(model_dir: os.PathLike, meta: Optional["ModelMeta"] = None, model_format: str = "auto",
                   int8_ir: bool = False) -> ModelFiles:
    """The file the OpenVINO runtime loads. ``int8_ir``: the INT8 IR ``personcls quantize``
    recorded. Otherwise by ``model_format``: ``ir`` (fastest to load), ``paddle`` (the legacy
    program through OpenVINO's Paddle frontend), ``onnx``, or ``auto``: the first of those three
    the folder holds (docs/native_engine.md has the measurements behind the order)."""
    d = _folder(model_dir)
    if int8_ir:
        if meta is None or not meta.has_int8_ir:
            raise ModelError("the INT8 IR is chosen (cpu_precision='int8') but the model folder has none: run "
                             "'personcls quantize -o Global.inference_model_dir=DIR -o Quant.calib_list=LIST'")
        return ModelFiles(_require(d / _named(meta, "openvino_int8", "xml", INT8_XML), "INT8 IR"),
                          _require(d / _named(meta, "openvino_int8", "bin", INT8_BIN), "INT8 IR weights"))
    if model_format not in MODEL_FORMATS:
        raise InputError(f"model_format must be one of {', '.join(MODEL_FORMATS)}, got {model_format!r}")
    ir = d / _named(meta, "openvino", "xml", IR_XML)

    def take_ir() -> ModelFiles:
        return ModelFiles(_require(ir, "OpenVINO IR"),
                          _require(d / _named(meta, "openvino", "bin", ir.with_suffix(".bin").name), "OpenVINO IR weights"))

    if model_format == "ir":
        return take_ir()
    if model_format == "paddle":
        return paddle_files(d, meta, legacy_only=True)
    if model_format == "onnx":
        return ModelFiles(_require(d / ONNX_FILE, "ONNX model"), None)
    if ir.exists():
        return take_ir()
    if (d / _named(meta, "paddle", "program", PADDLE_PROGRAM)).exists() or (d / PADDLE_PIR_PROGRAM).exists():
        return paddle_files(d, meta, legacy_only=True)
    if (d / ONNX_FILE).exists():
        return ModelFiles(_require(d / ONNX_FILE, "ONNX model"), None)
    raise ModelError(f"model folder {d} has no model OpenVINO can read ({IR_XML} + {IR_BIN}, {ONNX_FILE}, or "
                     f"{PADDLE_PROGRAM} + {PADDLE_PARAMS})")


def trt_cache_dir(model_dir: os.PathLike, given: Optional[os.PathLike] = None) -> Path:
    """Where TensorRT engines are serialised: ``given``, else ``_trt_cache`` in the folder."""
    return Path(given) if given else Path(model_dir) / "_trt_cache"


def provenance(arch: str, runtimes: tuple = (), extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Who wrote a folder: date, the personcls version, the versions of ``runtimes`` ("paddle",
    "openvino": the packages that wrote its files) and ``extra`` (source checkpoint, config, ...),
    which wins over the computed fields."""
    import importlib

    from . import __version__

    prov: Dict[str, Any] = {"arch": arch, "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                            "personcls_version": str(__version__)}
    for name in runtimes:
        mod = importlib.import_module(name)
        prov[f"{name}_version"] = mod.get_version() if name == "openvino" else str(mod.__version__)
    prov.update(extra or {})
    return prov


def store_threshold(model_dir: os.PathLike, threshold: float, record: Optional[Dict[str, Any]] = None) -> Path:
    """Write ``threshold`` into the folder's ``personcls.json``, with the figures it was picked
    on under ``metrics.picked_threshold`` (``personcls eval MODEL_DIR LIST --pick-threshold``)."""
    meta = ModelMeta.load(model_dir)
    meta.set_threshold(threshold)
    if record is not None:
        meta.metrics = dict(meta.metrics, picked_threshold=dict(record, threshold=float(threshold)))
    return meta.save(model_dir)


def default_model_dir() -> Path:
    """The trained model shipped inside the package."""
    return Path(__file__).resolve().parent / "models" / "person_MobileNetV2"
