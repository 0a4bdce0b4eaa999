"""Data: PaddleClas list files, the dataset, train / eval pipelines, the DataLoader, and the
train / eval data a config's ``DataLoader`` section describes.

A list file holds one ``relative/path label`` per line (``label`` an integer class id;
unlabeled lists hold paths only). Paths are relative to ``image_root`` when given, else to
the folder holding the list (the convention of ../shared/data). Relative list paths in a
config resolve against the current working directory, as in PaddleClas.

A sample whose image cannot be read or decoded is not fatal: the dataset returns a zero
image flagged ``ok = 0``; the engine drops it from the batch, counts it and names it at the
end of the epoch.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigError
from ..spec import PreprocessSpec
from . import augment
from . import config_access as C

log = logging.getLogger("personcls.training")


@dataclass
class ListEntry:
    path: str
    label: int  # -1 when unlabeled


def read_list(list_path: os.PathLike, image_root: Optional[os.PathLike] = None, labeled: Optional[bool] = None,
              class_num: Optional[int] = None) -> List[ListEntry]:
    lp = Path(list_path)
    if not lp.is_file():
        raise ConfigError(f"list file {lp} does not exist (relative paths resolve against the working directory "
                          f"{os.getcwd()})")
    root = Path(image_root) if image_root else lp.parent
    lines = [(i + 1, ln.strip()) for i, ln in enumerate(lp.read_text().splitlines())]
    lines = [(n, ln) for n, ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise ConfigError(f"list file {lp} has no entries")

    def has_label(ln: str) -> bool:
        parts = ln.rsplit(None, 1)
        return len(parts) == 2 and parts[1].lstrip("-").isdigit()

    if labeled is None:
        flags = {has_label(ln) for _, ln in lines}
        if len(flags) != 1:
            bad = next(n for n, ln in lines if has_label(ln) != has_label(lines[0][1]))
            raise ConfigError(f"{lp}:{bad}: mixes labeled ('path label') and unlabeled lines")
        labeled = flags.pop()
    out: List[ListEntry] = []
    for n, ln in lines:
        if labeled:
            if not has_label(ln):
                raise ConfigError(f"{lp}:{n}: expected 'relative/path label', got {ln!r}")
            rel, lab = ln.rsplit(None, 1)
            label = int(lab)
            if label < 0 or (class_num is not None and label >= class_num):
                raise ConfigError(f"{lp}:{n}: label {label} is out of range for class_num {class_num}")
        else:
            rel, label = ln, -1
        out.append(ListEntry(str(root / rel), label))
    return out


# ----------------------------------------------------------------------------- pipelines
_UINT8_OPS = {"RandCropImage": augment.RandCropImage, "RandFlipImage": augment.RandFlipImage,
              "RandLowRes": augment.RandLowRes, "TimmAutoAugment": augment.TimmAutoAugment}
_FLOAT_OPS = {"RandomErasing": augment.RandomErasing}
_NOOP = ("DecodeImage", "ToCHWImage")


def _normalize(img_rgb_or_bgr: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    mean = np.asarray(spec.mean, np.float32)
    std = np.asarray(spec.std, np.float32)
    out = (img_rgb_or_bgr.astype(np.float32) * np.float32(spec.scale) - mean) / std
    return np.ascontiguousarray(out.transpose(2, 0, 1))


class TrainPipeline:
    """BGR uint8 -> model channel order -> uint8 ops -> normalise (the PreprocessSpec's numbers)
    -> CHW float ops. Built from PaddleClas-style ``transform_ops``."""

    def __init__(self, ops: Sequence[Dict[str, Any]], spec: PreprocessSpec):
        self.spec = spec
        self.uint8_ops: List[Any] = []
        self.float_ops: List[Any] = []
        normalized = False
        self.out_size = spec.crop_size
        have_crop = False
        for i, op in enumerate(ops or []):
            if not isinstance(op, dict) or len(op) != 1:
                raise ConfigError(f"DataLoader.Train.dataset.transform_ops.{i}: each op is a one-key mapping, got {op!r}")
            (name, args), = op.items()
            args = dict(args or {})
            where = f"DataLoader.Train.dataset.transform_ops.{i}.{name}"
            if name in _NOOP:
                continue
            if name == "NormalizeImage":
                self._check_normalize(args, where)
                normalized = True
                continue
            if name in _UINT8_OPS:
                if normalized:
                    raise ConfigError(f"{where}: image op after NormalizeImage; put it before")
                if name == "RandCropImage":
                    if args.get("size") is None:
                        args["size"] = list(spec.crop_size)
                    have_crop = True
                try:
                    opi = _UINT8_OPS[name](**args)
                except TypeError as e:
                    raise ConfigError(f"{where}: {e}") from None
                if name == "RandCropImage":
                    self.out_size = opi.size
                self.uint8_ops.append(opi)
            elif name in _FLOAT_OPS:
                normalized = True
                try:
                    self.float_ops.append(_FLOAT_OPS[name](**args))
                except TypeError as e:
                    raise ConfigError(f"{where}: {e}") from None
            else:
                known = sorted(list(_UINT8_OPS) + list(_FLOAT_OPS) + ["NormalizeImage"] + list(_NOOP))
                raise ConfigError(f"{where}: unknown train transform {name!r} (known: {', '.join(known)})")
        if not have_crop:
            raise ConfigError("DataLoader.Train.dataset.transform_ops needs a RandCropImage (it sets the input size)")

    def _check_normalize(self, args: Dict[str, Any], where: str) -> None:
        s = self.spec
        for key, want in (("mean", s.mean), ("std", s.std)):
            if key in args and args[key] is not None and not np.allclose(args[key], want):
                raise ConfigError(f"{where}.{key} = {args[key]} differs from Preprocess.{key} = {list(want)}; "
                                  f"normalisation is defined once, in Preprocess (set it there)")
        if "scale" in args and args["scale"] is not None:
            if abs(augment._ratio(args["scale"], f"{where}.scale") - s.scale) > 1e-9:
                raise ConfigError(f"{where}.scale differs from Preprocess.scale; set it in Preprocess")

    def __call__(self, bgr: np.ndarray, rng: np.random.Generator, geom: Optional[dict] = None) -> np.ndarray:
        img = bgr if self.spec.channel_order == "BGR" else np.ascontiguousarray(bgr[:, :, ::-1])
        for op in self.uint8_ops:
            geometric = isinstance(op, (augment.RandCropImage, augment.RandFlipImage))
            img = op(img, rng, geom) if geometric else op(img, rng)
        chw = _normalize(img, self.spec)
        for op in self.float_ops:
            chw = op(chw, rng)
        return chw


class EvalPipeline:
    """Exactly ``personcls.preprocess.reference_preprocess`` with the model's PreprocessSpec."""

    def __init__(self, spec: PreprocessSpec):
        self.spec = spec
        self.out_size = spec.crop_size

    def __call__(self, bgr: np.ndarray, rng=None) -> np.ndarray:
        from ..preprocess import reference_preprocess

        return reference_preprocess(bgr, self.spec, color="BGR")


# ----------------------------------------------------------------------------- dataset
def _paddle():
    import paddle

    return paddle


class ListDataset:
    """Items: ``(image CHW float32, label int64, index int64, ok int64)``, and with
    ``with_geometry`` a fifth, ``box`` float32[4]: the random crop as (x0, y0, x1, y1) fractions
    of the source image ([0, 0, 1, 1] without a crop; a flipped axis has its ends swapped), for
    teachers that follow the crop.

    The key may be an index or ``(index, epoch)``; with a train pipeline the sample's random
    stream is ``default_rng([seed, epoch, index])``.
    """

    def __init__(self, entries: List[ListEntry], pipeline, seed: int = 0, with_geometry: bool = False):
        self.entries = entries
        self.pipeline = pipeline
        self.seed = int(seed)
        self.with_geometry = bool(with_geometry)

    def __len__(self) -> int:
        return len(self.entries)

    def load(self, index: int) -> np.ndarray:
        from ..imageio import read_image

        return read_image(self.entries[index].path)

    def __getitem__(self, key):
        index, epoch = (key if isinstance(key, tuple) else (key, 0))
        index = int(index)
        e = self.entries[index]
        rng = np.random.default_rng([self.seed, int(epoch), index])
        geom: Dict[str, Any] = {}
        try:
            img = self.load(index)
            x = self.pipeline(img, rng, geom) if self.with_geometry else self.pipeline(img, rng)
            ok = 1
        except Exception:  # unreadable / undecodable image (InputError, OSError, cv2.error, ...)
            w, h = self.pipeline.out_size
            x = np.zeros((3, h, w), np.float32)
            ok = 0
        item = (x.astype(np.float32, copy=False), np.int64(e.label), np.int64(index), np.int64(ok))
        if self.with_geometry:
            item += (np.asarray(geom.get("box", (0.0, 0.0, 1.0, 1.0)), np.float32),)
        return item

    def describe_failure(self, index: int) -> str:
        """Why sample ``index`` failed (re-run in the main process for the report)."""
        try:
            img = self.load(index)
            self.pipeline(img, np.random.default_rng(0))
            return f"{self.entries[index].path}: failed in a loader worker"
        except Exception as e:
            return str(e) if self.entries[index].path in str(e) else f"{self.entries[index].path}: {e}"


def _make_paddle_dataset(ds: ListDataset):
    paddle = _paddle()

    class _DS(paddle.io.Dataset):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def __len__(self):
            return len(self.inner)

        def __getitem__(self, key):
            return self.inner[key]

    return _DS(ds)


class EpochBatchSampler:
    """Wraps ``paddle.io.DistributedBatchSampler`` (shards across ranks in multi-GPU runs) and
    tags every index with the epoch, so sample augmentation is a function of (seed, epoch, index).
    The shuffle order of epoch ``e`` is seeded with ``seed * 100003 + e``."""

    def __init__(self, dataset, batch_size: int, shuffle: bool, drop_last: bool, seed: int = 0):
        paddle = _paddle()
        self.inner = paddle.io.DistributedBatchSampler(dataset, batch_size=int(batch_size), shuffle=bool(shuffle),
                                                       drop_last=bool(drop_last))
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.inner.set_epoch(self.seed * 100003 + self.epoch)

    def __iter__(self):
        self.inner.set_epoch(self.seed * 100003 + self.epoch)
        for batch in self.inner:
            yield [(int(i), self.epoch) for i in batch]

    def __len__(self) -> int:
        return len(self.inner)


class PlainBatchSampler:
    def __init__(self, n: int, batch_size: int):
        self.n, self.bs = n, int(batch_size)

    def __iter__(self):
        for s in range(0, self.n, self.bs):
            yield list(range(s, min(s + self.bs, self.n)))

    def __len__(self):
        return (self.n + self.bs - 1) // self.bs


def _worker_init(_worker_id: int) -> None:
    """Nothing to do: see ``cv2_single_thread`` (touching cv2's thread pool in a forked child
    deadlocks when the parent had started it)."""


class cv2_single_thread:
    """Run cv2 single-threaded while loader workers exist.

    Paddle forks its loader workers. A child forked from a process whose OpenCV thread pool is
    running inherits the pool's locks but not its threads, and its first parallel cv2 call (or
    ``cv2.setNumThreads``) can block forever. Stopping the pool in the parent before any fork
    avoids that; the previous thread count is restored on exit.
    """

    def __enter__(self):
        import cv2

        self.prev = cv2.getNumThreads()
        cv2.setNumThreads(1)
        return self

    def __exit__(self, *exc):
        import cv2

        cv2.setNumThreads(self.prev)
        return False


def make_loader(ds: ListDataset, batch_sampler, num_workers: int = 0, use_shared_memory: bool = True):
    paddle = _paddle()
    return paddle.io.DataLoader(_make_paddle_dataset(ds), batch_sampler=batch_sampler, num_workers=int(num_workers),
                                use_shared_memory=bool(use_shared_memory), worker_init_fn=_worker_init,
                                return_list=True)


# ----------------------------------------------------------------------------- from the config
def read_lists(paths, image_root, class_num: int) -> List[ListEntry]:
    """One or several list files, each line ``path label`` or ``path`` (unlabeled: label -1)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not isinstance(paths, (list, tuple)) or not paths:
        raise ConfigError(f"DataLoader.Train.dataset.cls_label_path must be a list file or a list of them, got {paths!r}")
    entries = []
    for p in paths:
        entries += read_list(str(p), image_root, labeled=None, class_num=class_num)
    return entries


def _dataset_cfg(cfg: Dict[str, Any], split: str) -> Tuple[Dict[str, Any], str]:
    ds = C.get(cfg, f"DataLoader.{split}.dataset") or {}
    path = ds.get("cls_label_path")
    if not path:
        raise ConfigError(f"DataLoader.{split}.dataset.cls_label_path is required")
    return ds, (str(path) if not isinstance(path, list) else ", ".join(map(str, path)))


def _loader_opts(cfg: Dict[str, Any], split: str) -> Dict[str, Any]:
    ld = C.get(cfg, f"DataLoader.{split}.loader") or {}
    return {"num_workers": C.integer(ld.get("num_workers", 0), f"DataLoader.{split}.loader.num_workers", 0),
            "use_shared_memory": C.as_bool(ld.get("use_shared_memory", True), "use_shared_memory")}


def _batch_size(cfg: Dict[str, Any], split: str) -> int:
    s = C.get(cfg, f"DataLoader.{split}.sampler") or {}
    return C.integer(s.get("batch_size", 64), f"DataLoader.{split}.sampler.batch_size", 1)


def build_train_data(cfg: Dict[str, Any], spec: PreprocessSpec, seed: int, with_geometry: bool = False):
    """``DataLoader.Train``: (dataset, epoch-seeded sampler, loader). A distillation config's
    lists may hold unlabeled lines (label -1) and may be several files."""
    ds_cfg, path = _dataset_cfg(cfg, "Train")
    n_cls = C.class_num(cfg)
    if C.is_distillation(cfg):
        entries = read_lists(ds_cfg.get("cls_label_path"), ds_cfg.get("image_root"), n_cls)
    else:
        entries = read_list(path, ds_cfg.get("image_root"), labeled=True, class_num=n_cls)
    missing = [e.path for e in entries if not os.path.isfile(e.path)]
    if missing:
        log.warning("%s: %d of %d listed images do not exist and will be skipped (first: %s)", path, len(missing),
                    len(entries), missing[0])
    pipe = TrainPipeline(ds_cfg.get("transform_ops") or [], spec)
    ds = ListDataset(entries, pipe, seed=seed, with_geometry=with_geometry)
    s = C.get(cfg, "DataLoader.Train.sampler") or {}
    pds = _make_paddle_dataset(ds)
    sampler = EpochBatchSampler(pds, _batch_size(cfg, "Train"),
                                shuffle=C.as_bool(s.get("shuffle", True), "sampler.shuffle"),
                                drop_last=C.as_bool(s.get("drop_last", False), "sampler.drop_last"), seed=seed)
    loader = _paddle().io.DataLoader(pds, batch_sampler=sampler, worker_init_fn=_worker_init, return_list=True,
                                     **_loader_opts(cfg, "Train"))
    return ds, sampler, loader


def build_eval_data(cfg: Dict[str, Any], spec: PreprocessSpec):
    """``DataLoader.Eval``: (dataset, loader), preprocessed with ``spec`` (the export's numbers)."""
    ds_cfg, path = _dataset_cfg(cfg, "Eval")
    if ds_cfg.get("transform_ops"):
        raise ConfigError("DataLoader.Eval.dataset.transform_ops is not used: evaluation preprocesses with the "
                          "Preprocess section (the same numbers the export writes); remove transform_ops")
    entries = read_list(path, ds_cfg.get("image_root"), labeled=True, class_num=C.class_num(cfg))
    ds = ListDataset(entries, EvalPipeline(spec))
    loader = make_loader(ds, PlainBatchSampler(len(ds), _batch_size(cfg, "Eval")), **_loader_opts(cfg, "Eval"))
    return ds, loader
