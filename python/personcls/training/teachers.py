"""External teachers: person-aware models in any format OpenVINO reads, as distillation targets.

A teacher here is not a Paddle network: it is one or more *members* (a classifier, a detector or
a segmenter: TFLite, OpenVINO IR, ONNX or a Paddle ``.pdmodel``), each with its own input
convention, whose outputs are mapped to one number, P(someone), then combined (mean or max).
The distillation losses see it as two-class logits ``[log(1 - p), log(p)]``.

Config (``Arch.models.<i>.Teacher`` of a ``DistillationModel``)::

    Teacher:
      name: External
      combine: mean                  # mean | max over the members
      targets: consistent            # consistent: the teacher judges the augmented view the
                                     #   student sees; offline: the whole image, once
      members:
        - path: ../shared/data/pretrained/teachers/vww_96_float.tflite
          kind: classifier           # P(someone) = output[:, person_index] (softmax first if logits)
          layout: NHWC               # NHWC | NCHW
          color: RGB                 # RGB | BGR
          dtype: float32             # float32 | uint8
          scale: 1/255               # input = (pixel * scale - mean) / std
          mean: [0, 0, 0]
          std: [1, 1, 1]
          resize: whole              # whole: resize the whole view to the model's size (no crop)
          output: probability        # probability | logits
          person_index: 1
        - path: ../shared/data/pretrained/teachers/deeplabv3_mnv2_pascal_quant.tflite
          kind: segmenter            # P(someone) from the person-pixel fraction f:
          layout: NHWC               #   sigmoid(sharpness * (ln(f + 1e-4) - ln(area)))
          dtype: uint8
          scale: 1
          person_class: 15
          area: 0.005                # the Visual Wake Words rule: someone when f >= 0.5%
          sharpness: 2.0
          follow_crop: true          # run once per image at full resolution, cache the mask and
                                     #   read each view's fraction inside its crop box
        - path: .../person-detection-retail-0013.xml
          kind: detector             # SSD rows [image, label, conf, x0, y0, x1, y1]
          layout: NCHW
          color: BGR
          scale: 1
          person_label: 1
          area: 0.005                # P = max over person boxes of conf * area gate
          follow_crop: true          # cached boxes, clipped to each view's crop box

Everything is checked when the teacher is built (file, format, input rank and channels,
output size against ``person_index`` / ``person_class``), and errors name the config key.

Measured cost per image on this project's 2-core CPU (one thread, OpenVINO 2026.4): VWW
classifier at 96 px 0.65 ms (run on every view, online), person detector 84 ms, DeepLab v3 at
513 px 207 ms (both run once per image and follow the crops from the cache: running them on
every view would cost more than the student's own training step).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..errors import ConfigError, ModelError
from ..modelfolder import file_sha256
from ..spec import _parse_scale

log = logging.getLogger("personcls.training")

NAME = "External"
KINDS = ("classifier", "detector", "segmenter")
MASK_GRID = 96          # cached segmentation masks: person fraction per cell of a 96x96 grid
MAX_BOXES = 16          # cached detector boxes per image
_EPS_P = 1e-4


def is_external(entry: Dict[str, Any]) -> bool:
    return str(entry.get("name")) == NAME


def _ov_message(e: Exception) -> str:
    """OpenVINO's own words from an exception (its first lines only name source files)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.startswith("Exception from ")]
    return lines[-1] if lines else str(e).strip()


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def area_gate(frac, area: float, sharpness: float):
    """Soft version of ``frac >= area`` on a log scale (0.5 exactly at ``area``)."""
    frac = np.asarray(frac, np.float64)
    return _sigmoid(sharpness * (np.log(frac + 1e-4) - math.log(area)))




class Member:
    """One teacher model with its input convention and output mapping."""

    _KEYS = {"path", "kind", "layout", "color", "dtype", "scale", "mean", "std", "resize", "size", "output",
             "person_index", "person_class", "person_label", "area", "sharpness", "follow_crop", "weight",
             "threads"}

    def __init__(self, entry: Dict[str, Any], where: str):
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a mapping with path, kind, ... got {entry!r}")
        unknown = sorted(set(entry) - self._KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown} (known: {sorted(self._KEYS)})")
        self.where = where
        p = entry.get("path")
        if not p:
            raise ConfigError(f"{where}.path is required (a .tflite, .xml, .onnx or .pdmodel file)")
        self.path = Path(str(p))
        if not self.path.is_file():
            raise ConfigError(f"{where}.path: {self.path} does not exist (relative paths resolve against "
                              f"{os.getcwd()})")
        self.kind = str(entry.get("kind", ""))
        if self.kind not in KINDS:
            raise ConfigError(f"{where}.kind must be one of {KINDS}, got {entry.get('kind')!r}")
        self.layout = str(entry.get("layout", "NHWC")).upper()
        if self.layout not in ("NHWC", "NCHW"):
            raise ConfigError(f"{where}.layout must be NHWC or NCHW, got {entry.get('layout')!r}")
        self.color = str(entry.get("color", "RGB")).upper()
        if self.color not in ("RGB", "BGR"):
            raise ConfigError(f"{where}.color must be RGB or BGR, got {entry.get('color')!r}")
        self.dtype = str(entry.get("dtype", "float32"))
        if self.dtype not in ("float32", "uint8"):
            raise ConfigError(f"{where}.dtype must be float32 or uint8, got {entry.get('dtype')!r}")
        try:
            self.scale = float(_parse_scale(entry["scale"]) if isinstance(entry.get("scale"), str)
                               else entry.get("scale", 1.0 / 255.0))
            self.mean = np.asarray(entry.get("mean", [0.0, 0.0, 0.0]), np.float32).reshape(3)
            self.std = np.asarray(entry.get("std", [1.0, 1.0, 1.0]), np.float32).reshape(3)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: scale must be a number and mean / std 3 numbers each") from None
        if np.any(self.std <= 0):
            raise ConfigError(f"{where}.std must be > 0")
        self.resize = str(entry.get("resize", "whole"))
        if self.resize != "whole":
            raise ConfigError(f"{where}.resize: only 'whole' (resize the whole view to the model input) is "
                              f"supported, got {self.resize!r}")
        self.output = str(entry.get("output", "probability"))
        if self.output not in ("probability", "logits"):
            raise ConfigError(f"{where}.output must be probability or logits, got {self.output!r}")
        self.person_index = int(entry.get("person_index", 1))
        self.person_class = int(entry.get("person_class", 15))
        self.person_label = int(entry.get("person_label", 1))
        self.area = float(entry.get("area", 0.005))
        self.sharpness = float(entry.get("sharpness", 2.0))
        if self.person_class < 0 or self.person_index < 0:
            raise ConfigError(f"{where}.person_class / person_index must be >= 0")
        if not (0 < self.area < 1) or self.sharpness <= 0:
            raise ConfigError(f"{where}: area must be in (0, 1) and sharpness > 0")
        self.follow_crop = bool(entry.get("follow_crop", self.kind != "classifier"))
        if self.follow_crop and self.kind == "classifier":
            raise ConfigError(f"{where}.follow_crop: a classifier's answer cannot follow a crop (it judges the "
                              f"view itself); set follow_crop: false")
        self.weight = float(entry.get("weight", 1.0))
        self.threads = int(entry.get("threads", 1))
        self._load(entry.get("size"))
        self.sha256 = file_sha256(self.path)

    # -- model ----------------------------------------------------------------------------
    def _load(self, size) -> None:
        import openvino as ov

        core = ov.Core()
        try:
            model = core.read_model(str(self.path))
        except Exception as e:  # OpenVINO raises RuntimeError subclasses for unreadable files
            raise ConfigError(f"{self.where}.path: OpenVINO cannot read {self.path}: {_ov_message(e)}") from None
        if len(model.inputs) != 1:
            raise ConfigError(f"{self.where}.path: {self.path.name} has {len(model.inputs)} inputs; a teacher takes one image")
        ps = model.inputs[0].get_partial_shape()
        if ps.rank.is_dynamic or ps.rank.get_length() != 4:
            raise ConfigError(f"{self.where}: {self.path.name} input is {ps}, not a 4-D image batch")
        dims = [d.get_length() if d.is_static else -1 for d in ps]
        c_axis, h_axis, w_axis = (3, 1, 2) if self.layout == "NHWC" else (1, 2, 3)
        if dims[c_axis] not in (3, -1):
            raise ConfigError(f"{self.where}.layout: {self.layout} reads {dims[c_axis]} channels from input shape "
                              f"{dims} of {self.path.name}; the other layout?")
        h, w = dims[h_axis], dims[w_axis]
        if size is not None:
            sw, sh = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
            if (h > 0 and h != sh) or (w > 0 and w != sw):
                raise ConfigError(f"{self.where}.size {[sw, sh]} differs from the model's input {w}x{h}")
            h, w = sh, sw
        if h <= 0 or w <= 0:
            raise ConfigError(f"{self.where}.size is required: {self.path.name} has a dynamic input size {dims}")
        self.size = (w, h)
        self.batched = False
        if dims[0] != 1:  # dynamic or >1 batch: run whole batches
            shape = [-1, h, w, 3] if self.layout == "NHWC" else [-1, 3, h, w]
            try:
                model.reshape({model.inputs[0].get_any_name(): shape})
                self.batched = True
            except Exception:
                self.batched = False
        # fp32 inference: OpenVINO's CPU default on bf16 hardware would change the targets
        cfg = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": str(max(1, self.threads))}
        self.compiled = core.compile_model(model, "CPU", cfg)
        self._out = self.compiled.outputs[0]
        # probe once: checks the output against the mapping
        probe = np.zeros((1, h, w, 3) if self.layout == "NHWC" else (1, 3, h, w),
                         np.uint8 if self.dtype == "uint8" else np.float32)
        try:
            out = self.compiled({0: probe})[self._out]
        except Exception as e:
            raise ConfigError(f"{self.where}.dtype / layout: {self.path.name} refuses a {self.dtype} "
                              f"{self.layout} input: {_ov_message(e)}") from None
        self._check_output(np.asarray(out))

    def _check_output(self, out: np.ndarray) -> None:
        if self.kind == "classifier":
            if out.ndim != 2 or out.shape[1] <= self.person_index:
                raise ConfigError(f"{self.where}.person_index {self.person_index}: the classifier outputs shape "
                                  f"{list(out.shape)}")
        elif self.kind == "detector":
            if out.shape[-1] != 7:
                raise ConfigError(f"{self.where}.kind detector expects SSD rows [image, label, conf, x0, y0, x1, y1] "
                                  f"(last dimension 7); {self.path.name} outputs {list(out.shape)}")
        else:
            if out.ndim not in (3, 4):
                raise ConfigError(f"{self.where}.kind segmenter expects a class map [N, H, W] or scores "
                                  f"[N, C, H, W]; {self.path.name} outputs {list(out.shape)}")
            if out.ndim == 4 and out.shape[1] <= self.person_class:
                raise ConfigError(f"{self.where}.person_class {self.person_class}: the segmenter outputs "
                                  f"{out.shape[1]} classes")

    def describe(self) -> Dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256, "kind": self.kind, "layout": self.layout,
                "color": self.color, "dtype": self.dtype, "scale": self.scale, "mean": self.mean.tolist(),
                "std": self.std.tolist(), "size": list(self.size), "output": self.output,
                "person_index": self.person_index, "person_class": self.person_class,
                "person_label": self.person_label, "area": self.area, "sharpness": self.sharpness,
                "follow_crop": self.follow_crop}

    # -- input ------------------------------------------------------------------------------
    def prepare(self, rgb: Sequence[np.ndarray]) -> np.ndarray:
        """RGB images (HxWx3, uint8 or float 0..255) -> this model's input batch."""
        import cv2

        w, h = self.size
        xs = []
        for im in rgb:
            im = np.asarray(im)
            if im.shape[0] != h or im.shape[1] != w:
                im = cv2.resize(im.astype(np.float32) if im.dtype != np.uint8 else im, (w, h),
                                interpolation=cv2.INTER_AREA if im.shape[0] > h else cv2.INTER_LINEAR)
            if self.color == "BGR":
                im = im[:, :, ::-1]
            xs.append(im)
        x = np.stack(xs).astype(np.float32)
        if self.dtype == "uint8":
            x = np.clip(np.rint(x * self.scale), 0, 255).astype(np.uint8)
        else:
            x = (x * np.float32(self.scale) - self.mean) / self.std
        if self.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x)

    def run(self, x: np.ndarray) -> np.ndarray:
        if self.batched:
            return np.asarray(self.compiled({0: x})[self._out])
        return np.concatenate([np.asarray(self.compiled({0: x[i:i + 1]})[self._out]) for i in range(len(x))])

    # -- output mapping --------------------------------------------------------------------
    def person_prob(self, out: np.ndarray) -> np.ndarray:
        """P(someone) per image from this member's raw output on whole views."""
        if self.kind == "classifier":
            o = out.astype(np.float64)
            if self.output == "logits":
                o = np.exp(o - o.max(axis=1, keepdims=True))
                o = o / o.sum(axis=1, keepdims=True)
            return o[:, self.person_index]
        if self.kind == "segmenter":
            return area_gate(self.person_fraction_grid(out).mean(axis=(1, 2)), self.area, self.sharpness)
        boxes = self.person_boxes(out)
        return np.array([self.boxes_prob(b, (0.0, 0.0, 1.0, 1.0)) for b in boxes])

    def person_fraction_grid(self, out: np.ndarray) -> np.ndarray:
        """Segmenter output -> [N, G, G] float person fraction per grid cell."""
        import cv2

        if out.ndim == 4:
            cls = out.argmax(axis=1)
        else:
            cls = out
        m = (cls == self.person_class).astype(np.float32)
        return np.stack([cv2.resize(mi, (MASK_GRID, MASK_GRID), interpolation=cv2.INTER_AREA) for mi in m])

    def person_boxes(self, out: np.ndarray) -> List[np.ndarray]:
        """Detector output -> per image an array [K, 5] of (conf, x0, y0, x1, y1), best first."""
        rows = out.reshape(-1, 7)
        res: Dict[int, List[np.ndarray]] = {}
        for r in rows:
            if r[0] < 0:
                break
            if int(round(r[1])) == self.person_label:
                res.setdefault(int(r[0]), []).append(np.clip(r[[2, 3, 4, 5, 6]], 0.0, 1.0))
        n = int(out.shape[0]) if out.ndim == 4 else 1
        outl = []
        for i in range(max(n, 1)):
            b = np.array(res.get(i, []), np.float32).reshape(-1, 5)
            b = b[np.argsort(-b[:, 0])][:MAX_BOXES]
            outl.append(b)
        return outl

    def boxes_prob(self, boxes: np.ndarray, crop) -> float:
        """Best person box, clipped to ``crop`` (x0, y0, x1, y1 in 0..1), through the area gate."""
        if len(boxes) == 0:
            return 0.0
        cx0, cy0, cx1, cy1 = _ordered(crop)
        carea = max((cx1 - cx0) * (cy1 - cy0), 1e-9)
        conf = boxes[:, 0]
        iw = np.clip(np.minimum(boxes[:, 3], cx1) - np.maximum(boxes[:, 1], cx0), 0, None)
        ih = np.clip(np.minimum(boxes[:, 4], cy1) - np.maximum(boxes[:, 2], cy0), 0, None)
        frac = iw * ih / carea
        return float(np.max(conf * area_gate(frac, self.area, self.sharpness) * (frac > 0)))


def _ordered(box):
    """(x0, y0, x1, y1) with x0 <= x1, y0 <= y1 (a flipped view's box has an axis swapped)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def sub_box(box, rect):
    """The source-image box of ``rect`` (x0, y0, x1, y1 as fractions of a view) for a view cut
    from ``box`` (its axes swapped where the view was flipped)."""
    bx0, by0, bx1, by1 = (float(v) for v in box)
    return (bx0 + rect[0] * (bx1 - bx0), by0 + rect[1] * (by1 - by0),
            bx0 + rect[2] * (bx1 - bx0), by0 + rect[3] * (by1 - by0))


def _cell_weights(a: float, b: float, n: int, g: int) -> np.ndarray:
    """[n, g] overlap (in grid cells, 0..1 each) of the n equal parts of the span from ``a`` to
    ``b`` (fractions of the source image; ``a > b`` on a flipped axis) with the g grid cells."""
    e = a + (b - a) * np.arange(n + 1, dtype=np.float64) / n
    lo, hi = np.minimum(e[:-1], e[1:]) * g, np.maximum(e[:-1], e[1:]) * g
    xs = np.arange(g, dtype=np.float64)
    return np.clip(np.minimum(xs[None, :] + 1, hi[:, None]) - np.maximum(xs[None, :], lo[:, None]), 0, 1)


def cell_fractions(grid: np.ndarray, box, rows: int, cols: int) -> np.ndarray:
    """[rows, cols] person fraction in each cell of a view cut from ``box`` (x0, y0, x1, y1 in
    0..1 of the source image; a flipped axis has its ends swapped, so the cells follow the view)
    of a [G, G] person-fraction grid, partial grid cells weighted by their overlap."""
    g = grid.shape[0]
    x0, y0, x1, y1 = (float(v) for v in box)
    wy, wx = _cell_weights(y0, y1, rows, g), _cell_weights(x0, x1, cols, g)
    tot = wy.sum(axis=1)[:, None] * wx.sum(axis=1)[None, :]
    val = wy @ grid.astype(np.float64) @ wx.T
    return np.where(tot > 0, val / np.maximum(tot, 1e-12), 0.0)


def crop_fraction(grid: np.ndarray, box) -> float:
    """Mean of a [G, G] person-fraction grid inside ``box`` (x0, y0, x1, y1 in 0..1)."""
    return float(cell_fractions(grid, box, 1, 1)[0, 0])


def cache_root() -> Path:
    """Where teacher outputs are cached: ``$PERSONCLS_TEACHER_CACHE`` or
    ``~/.cache/personcls/teacher_outputs``."""
    env = os.environ.get("PERSONCLS_TEACHER_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "personcls" / "teacher_outputs"


class ExternalTeacher:
    """The members of an ``External`` teacher entry; gives two-class teacher logits per batch."""

    def __init__(self, entry: Dict[str, Any], where: str):
        unknown = sorted(set(entry) - {"name", "combine", "targets", "members", "class_num", "_index"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown} for an External teacher (combine, targets, members)")
        self.where = where
        self.combine = str(entry.get("combine", "mean"))
        if self.combine not in ("mean", "max"):
            raise ConfigError(f"{where}.combine must be mean or max, got {self.combine!r}")
        self.targets = str(entry.get("targets", "consistent"))
        if self.targets not in ("consistent", "offline"):
            raise ConfigError(f"{where}.targets must be consistent or offline, got {self.targets!r}")
        cn = entry.get("class_num", 2)
        if cn != 2:
            raise ConfigError(f"{where}.class_num: an External teacher answers someone / nobody (2 classes), got {cn}")
        members = entry.get("members")
        if not isinstance(members, list) or not members:
            raise ConfigError(f"{where}.members must list at least one model (path, kind, ...)")
        self.members = [Member(m, f"{where}.members.{i}") for i, m in enumerate(members)]
        self.cached: Dict[int, Any] = {}    # member index -> per-image table (grid masks / boxes / probs)
        self.target_sum, self.target_count = 0.0, 0
        self.spec = None

    # -- per-image cache (follow_crop members, and every member in offline mode) ---------------
    def needs_cache(self, m: Member) -> bool:
        return self.targets == "offline" or m.follow_crop

    @property
    def needs_geometry(self) -> bool:
        return self.targets == "consistent" and any(m.follow_crop for m in self.members)

    def _cache_key(self, m: Member) -> Dict[str, Any]:
        return {"member": m.describe(), "mode": "grid" if m.kind == "segmenter" else
                ("boxes" if m.kind == "detector" else "prob"), "grid": MASK_GRID}

    def _store_file(self, m: Member) -> Path:
        """One table per member and convention, its rows keyed by absolute image path: any list
        of images reuses the rows computed for any other."""
        h = hashlib.sha256(json.dumps({**self._cache_key(m), "store": 2}, sort_keys=True).encode()).hexdigest()[:16]
        return cache_root() / f"external_{m.path.stem}_{h}.store.npz"

    def _list_file(self, m: Member, paths: Sequence[str]) -> Path:
        """The earlier layout: one file per member and image list (still read, never written)."""
        key = {**self._cache_key(m), "images": hashlib.sha256("\n".join(paths).encode()).hexdigest()}
        h = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        return cache_root() / f"external_{m.path.stem}_{h}.npz"

    @staticmethod
    def _read_rows(f: Path, rows: Dict[str, np.ndarray], absolute: bool = False) -> None:
        if not f.is_file():
            return
        try:
            with np.load(f, allow_pickle=False) as z:
                table, names = z["table"], [str(p) for p in z["paths"]]
        except (OSError, ValueError, KeyError) as e:
            log.warning("teacher cache %s unreadable (%s); its rows are computed again", f, e)
            return
        for name, row in zip(names, table):
            rows.setdefault(os.path.abspath(name) if absolute else name, row)

    @staticmethod
    def _write_rows(f: Path, rows: Dict[str, np.ndarray]) -> None:
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_name(f".{f.name}.tmp.npz")
        names = sorted(rows)
        np.savez(tmp, table=np.stack([rows[n] for n in names]), paths=np.asarray(names))
        os.replace(tmp, f)  # atomic: a kill leaves the previous store whole

    def prepare_cache(self, paths: Sequence[str], progress=None, chunk: int = 500) -> Dict[str, str]:
        """Compute (or load) the per-image tables the members need; returns {member: cache file}.
        Only images the member's store lacks are run, ``chunk`` at a time, the store rewritten
        (atomically) after each chunk, so a killed pass resumes where it stopped."""
        files = {}
        keys = [os.path.abspath(p) for p in paths]
        for i, m in enumerate(self.members):
            if not self.needs_cache(m):
                continue
            f = self._store_file(m)
            rows: Dict[str, np.ndarray] = {}
            self._read_rows(f, rows)
            if any(k not in rows for k in keys):
                before = len(rows)
                self._read_rows(self._list_file(m, paths), rows, absolute=True)
                if len(rows) > before:
                    self._write_rows(f, rows)  # carried into the store: other lists reuse them
            missing = sorted({k for k in keys if k not in rows})
            if missing:
                log.info("%s: running %s once on %d of %d images -> %s", m.where, m.path.name, len(missing),
                         len(keys), f)
                for start in range(0, len(missing), chunk):
                    part = missing[start:start + chunk]
                    rows.update(zip(part, self._compute_table(m, part, progress)))
                    self._write_rows(f, rows)
            else:
                log.info("%s: cached outputs %s", m.where, f)
            self.cached[i] = np.stack([rows[k] for k in keys]) if keys else np.zeros((0,))
            files[m.where] = str(f)
        return files

    def _compute_table(self, m: Member, paths: Sequence[str], progress=None) -> np.ndarray:
        from ..imageio import read_image

        if m.kind == "segmenter":
            table = np.zeros((len(paths), MASK_GRID, MASK_GRID), np.uint8)
        elif m.kind == "detector":
            table = np.zeros((len(paths), MAX_BOXES, 5), np.float32)
        else:
            table = np.zeros((len(paths),), np.float32)
        bad = np.zeros(len(paths), bool)
        it = range(len(paths))
        if progress is not None:
            it = progress(it, len(paths), f"teacher {m.path.name}")
        for i in it:
            try:
                rgb = read_image(paths[i])[:, :, ::-1]
            except Exception as e:  # unreadable: NaN-free marker, reported once
                bad[i] = True
                log.warning("%s: cannot read %s (%s); no target for it", m.where, paths[i], e)
                continue
            out = m.run(m.prepare([rgb]))
            if m.kind == "segmenter":
                table[i] = np.clip(np.rint(m.person_fraction_grid(out)[0] * 255), 0, 255).astype(np.uint8)
            elif m.kind == "detector":
                b = m.person_boxes(out)[0]
                table[i, :len(b)] = b
            else:
                table[i] = m.person_prob(out)[0]
        if bad.any():
            if table.dtype == np.uint8:
                table[bad] = 0
            else:
                table[bad] = np.nan
        return table

    # -- targets -------------------------------------------------------------------------------
    def check_mix(self, where: str, needs_masks: bool = False) -> None:
        """A batch that mixes views (a batch op) needs targets of the mixed views: consistent
        targets, and no detector following crops (its cached boxes cannot be cut); an op that
        pastes people (``needs_masks``) needs a segmenter whose masks follow the crops."""
        if self.targets != "consistent":
            raise ConfigError(f"{where}: mixed views need {self.where}.targets: consistent (offline targets "
                              f"judge the whole unmixed image)")
        for m in self.members:
            if m.kind == "detector" and m.follow_crop:
                raise ConfigError(f"{where}: {m.where} is a detector following crops; its cached boxes cannot "
                                  f"be composited for mixed views (drop the batch op or that member)")
        if needs_masks and not self.map_members():
            raise ConfigError(f"{where}: pasting people needs their masks: a segmenter member of {self.where} "
                              f"with follow_crop: true")

    def _view_boxes(self, boxes: Optional[np.ndarray], n: int) -> np.ndarray:
        """[N, 4] the boxes the targets read: each view's crop box with consistent targets, the
        whole image otherwise."""
        if boxes is not None and self.targets == "consistent":
            return boxes
        return np.tile(np.array([0.0, 0.0, 1.0, 1.0]), (n, 1))

    def member_probs(self, x_rgb: Optional[np.ndarray], idx: np.ndarray, boxes: Optional[np.ndarray],
                     mix=None) -> np.ndarray:
        """[M, N] P(someone) per member for a batch: ``x_rgb`` [N, H, W, 3] float 0..255 (the
        views the student sees), ``idx`` dataset indices, ``boxes`` [N, 4] crop boxes, ``mix``
        (``augment.Mix``) when the views were mixed by a batch op."""
        n = len(idx)
        out = np.zeros((len(self.members), n), np.float64)
        bx = self._view_boxes(boxes, n)
        for j, m in enumerate(self.members):
            if self.needs_cache(m):
                t = self.cached[j][idx]
                if m.kind == "segmenter":
                    grids = [t[k].astype(np.float32) / 255.0 for k in range(n)]
                    fr = np.array([crop_fraction(grids[k], bx[k]) for k in range(n)])
                    if mix is not None and mix.alpha is not None:
                        fr = self._pasted_fractions(fr, grids, bx, mix.partner, mix.alpha)
                    elif mix is not None:
                        fr = self._mixed_fractions(fr, grids, bx, mix.partner, mix.rect)
                    out[j] = area_gate(fr, m.area, m.sharpness)
                elif m.kind == "detector":
                    out[j] = [m.boxes_prob(t[k][t[k][:, 0] > 0], bx[k]) for k in range(n)]
                else:
                    out[j] = t
            else:
                if x_rgb is None:
                    raise ModelError(f"{m.where}: an online member needs the batch images")
                out[j] = m.person_prob(m.run(m.prepare(list(x_rgb))))
        return out

    @staticmethod
    def _mixed_fractions(fr, grids, bx, partner, rect) -> np.ndarray:
        """Person fraction of each mixed view: its own view's, less its part under the pasted
        rectangle, plus the partner view's part there (both mapped through their crop boxes)."""
        fr = fr.copy()
        for i in np.flatnonzero(np.asarray(partner) >= 0):
            p, r = int(partner[i]), rect[i]
            a = (r[2] - r[0]) * (r[3] - r[1])
            own = crop_fraction(grids[i], sub_box(bx[i], r))
            pasted = crop_fraction(grids[p], sub_box(bx[p], r))
            fr[i] = max(fr[i] - a * own + a * pasted, 0.0)
        return fr

    @staticmethod
    def _pasted_fractions(fr, grids, bx, partner, alpha) -> np.ndarray:
        """Person fraction of each view with a person pasted in (``augment.PersonPaste``): the
        pasted opacity, plus the view's own mask (read through its crop box at the view's pixels)
        where the paste leaves it visible."""
        fr = fr.copy()
        h, w = alpha.shape[1:]
        for i in np.flatnonzero(np.asarray(partner) >= 0):
            own = cell_fractions(grids[i], bx[i], h, w)
            fr[i] = float(np.mean(alpha[i] + (1.0 - alpha[i]) * own))
        return fr

    def map_members(self) -> List[int]:
        """Indices of the members that give a person map: segmenters whose masks are cached
        (``follow_crop: true``, or offline targets)."""
        return [j for j, m in enumerate(self.members) if m.kind == "segmenter" and self.needs_cache(m)]

    def person_maps(self, idx: np.ndarray, boxes: Optional[np.ndarray], rows: int, cols: int) -> np.ndarray:
        """[N, rows, cols] person-pixel fraction per cell of each view (the segmenters' mean),
        the cells laid over the view as the student's feature map is: the dense target of
        ``DistillationMapLoss``."""
        js = self.map_members()
        if not js:
            raise ConfigError(f"{self.where}: a person map needs a segmenter member with follow_crop: true")
        n = len(idx)
        bx = self._view_boxes(boxes, n)
        out = np.zeros((n, rows, cols), np.float64)
        for j in js:
            t = self.cached[j][idx]  # uint8 grids, 255 = all person
            for k in range(n):
                out[k] += cell_fractions(t[k], bx[k], rows, cols)
        return (out / (255.0 * len(js))).astype(np.float32)

    def combine_probs(self, probs: np.ndarray) -> np.ndarray:
        if probs.shape[0] != len(self.members):
            raise ValueError(f"{len(self.members)} member(s), {probs.shape[0]} rows of probabilities")
        w = np.array([m.weight for m in self.members], np.float64)[:, None]
        if self.combine == "max":
            p = probs.max(axis=0)
        else:
            p = (probs * w).sum(axis=0) / w.sum()
        return np.nan_to_num(p, nan=0.5)

    def logits(self, p: np.ndarray) -> np.ndarray:
        p = np.clip(p, _EPS_P, 1 - _EPS_P)
        return np.stack([np.log1p(-p), np.log(p)], axis=1).astype(np.float32)

    def attach(self, out: Dict[str, Any], x, idx: np.ndarray, boxes: Optional[np.ndarray], spec,
               mix=None) -> Dict[str, Any]:
        """Adds ``out["Teacher"]`` (two-class logits) for the student batch ``x`` (a Paddle tensor;
        ``mix`` as in ``member_probs`` when its views were mixed)."""
        import paddle

        online = any(not self.needs_cache(m) for m in self.members)
        rgb = denormalize(x.numpy(), spec) if online else None
        p = self.combine_probs(self.member_probs(rgb, np.asarray(idx).reshape(-1), boxes, mix))
        out["Teacher"] = paddle.to_tensor(self.logits(p))
        if "StudentMap" in out:  # DistillationMapLoss: the same views' person maps, on the student's cells
            if mix is not None:
                raise ConfigError(f"{self.where}: person maps of mixed views are not supported "
                                  f"(DistillationMapLoss with a batch op)")
            rows, cols = (int(v) for v in out["StudentMap"].shape[-2:])
            out["TeacherMap"] = paddle.to_tensor(self.person_maps(np.asarray(idx).reshape(-1), boxes, rows, cols))
        self.target_sum += float(p.sum())
        self.target_count += len(p)
        return out

    @property
    def target_prior(self) -> Optional[float]:
        """Mean target P(someone) over the views attached so far: the share of someone the
        student is taught (its prior), recorded with each checkpoint."""
        return self.target_sum / self.target_count if self.target_count else None

    def describe(self) -> Dict[str, Any]:
        return {"name": NAME, "combine": self.combine, "targets": self.targets,
                "members": [m.describe() for m in self.members]}


def balance_prior(net, prior: float) -> float:
    """Restate a 2-class network's outputs under an even prior: a student taught with a share
    ``prior`` of someone answers P(someone | x) for that share; adding ln((1 - prior) / prior)
    to its someone logit (the bias of its last Linear layer) gives the answer for a 50 / 50
    share, the prior that balanced accuracy and the threshold 0.5 assume. Returns the shift."""
    import paddle

    if not (0.0 < prior < 1.0):
        raise ValueError(f"prior must be in (0, 1), got {prior}")
    last = None
    for layer in net.sublayers(include_self=True):
        if isinstance(layer, paddle.nn.Linear):
            last = layer
    if last is None or last.bias is None or last.bias.shape[-1] != 2:
        raise ModelError("balance_prior needs a 2-class network whose last layer is a Linear with a bias")
    delta = math.log((1.0 - prior) / prior)
    b = last.bias.numpy().copy()
    b[1] += delta
    last.bias.set_value(b.astype(b.dtype))
    return delta


def denormalize(x: np.ndarray, spec) -> np.ndarray:
    """The student's normalised NCHW batch -> NHWC RGB pixel values (float, 0..255)."""
    mean = np.asarray(spec.mean, np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(spec.std, np.float32).reshape(1, 3, 1, 1)
    v = (x * std + mean) / np.float32(spec.scale)
    v = v.transpose(0, 2, 3, 1)
    if spec.channel_order == "BGR":
        v = v[..., ::-1]
    return np.clip(v, 0, 255)
