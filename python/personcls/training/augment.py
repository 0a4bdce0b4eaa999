"""Train-time augmentation on uint8 HxWx3 images (numpy / cv2), each op drawing from an
explicit ``numpy.random.Generator`` so that a sample's augmentation depends only on
(seed, epoch, index): identical whatever the number of loader workers, and reproduced
exactly after a resume.

Ops (PaddleClas names, the tutorial's "EDA" = the last two with a probability each):
``RandCropImage`` (random resized crop), ``RandFlipImage``, ``TimmAutoAugment``
(RandAugment policy ``rand-m9-mstd0.5-inc1``) and ``RandomErasing``; and this project's
``RandLowRes`` (a view seen through a smaller image, as a 96x96 photo is at 128 px).
Two batch ops mix views of a batch for distillation with consistent targets: ``CutmixOperator``
(PaddleClas's name) and this project's ``PersonPasteOperator`` (a segmented person copied into
another view).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, NamedTuple, Optional

import cv2
import numpy as np

from ..errors import ConfigError


def _ratio(v: Any, name: str) -> float:
    if isinstance(v, str) and "/" in v:
        a, b = v.split("/", 1)
        try:
            return float(a) / float(b)
        except (ValueError, ZeroDivisionError):
            pass
        raise ConfigError(f"{name}: cannot read {v!r} as a number or 'a/b'")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a number, got {v!r}") from None


class RandCropImage:
    """Random resized crop (area fraction ``scale``, aspect ``ratio``) resized to ``size``."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), interpolation="bilinear"):
        self.size = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (_ratio(ratio[0], "RandCropImage.ratio"), _ratio(ratio[1], "RandCropImage.ratio"))
        if not (0 < self.scale[0] <= self.scale[1] <= 1):
            raise ConfigError(f"RandCropImage.scale must be 0 < lo <= hi <= 1, got {list(self.scale)}")
        self.interp = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA}.get(interpolation)
        if self.interp is None:
            raise ConfigError(f"RandCropImage.interpolation {interpolation!r}: use bilinear, bicubic or area")

    def __call__(self, img: np.ndarray, rng: np.random.Generator, geom: Optional[dict] = None) -> np.ndarray:
        """``geom``, when given, receives ``box``: the crop as (x0, y0, x1, y1) fractions of the
        image (what a teacher that follows crops needs)."""
        h, w = img.shape[:2]
        area = h * w
        log_r = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            ar = math.exp(rng.uniform(*log_r))
            cw = int(round(math.sqrt(target * ar)))
            ch = int(round(math.sqrt(target / ar)))
            if 0 < cw <= w and 0 < ch <= h:
                x0 = int(rng.integers(0, w - cw + 1))
                y0 = int(rng.integers(0, h - ch + 1))
                break
        else:  # fall back to the largest centred crop within the ratio range
            r = w / h
            if r < self.ratio[0]:
                cw, ch = w, int(round(w / self.ratio[0]))
            elif r > self.ratio[1]:
                ch, cw = h, int(round(h * self.ratio[1]))
            else:
                cw, ch = w, h
            x0, y0 = (w - cw) // 2, (h - ch) // 2
        crop = img[y0:y0 + ch, x0:x0 + cw]
        if geom is not None:
            geom["box"] = (x0 / w, y0 / h, (x0 + cw) / w, (y0 + ch) / h)
        return cv2.resize(crop, self.size, interpolation=self.interp)


class RandFlipImage:
    """Flip with probability ``prob``; ``flip_code`` as cv2 (1 horizontal, 0 vertical, -1 both)."""

    def __init__(self, flip_code: int = 1, prob: float = 0.5):
        if flip_code not in (-1, 0, 1):
            raise ConfigError(f"RandFlipImage.flip_code must be -1, 0 or 1, got {flip_code!r}")
        self.flip_code, self.prob = int(flip_code), float(prob)

    def __call__(self, img, rng, geom: Optional[dict] = None):
        """``geom["box"]``, when present, is mirrored with the view: a flipped axis has its two
        ends swapped (x0 > x1), so a point of the view still maps to its source pixel."""
        if rng.random() >= self.prob:
            return img
        if geom is not None and "box" in geom:
            x0, y0, x1, y1 = geom["box"]
            if self.flip_code in (1, -1):
                x0, x1 = x1, x0
            if self.flip_code in (0, -1):
                y0, y1 = y1, y0
            geom["box"] = (x0, y0, x1, y1)
        return cv2.flip(img, self.flip_code)


class RandLowRes:
    """With probability ``prob``, shrink the view to a random side in [``min_size``, ``max_size``]
    pixels (area averaging, aspect kept) and enlarge it back (bilinear): the view then carries
    only the detail of a small source image. Small photos (96x96 Visual Wake Words images, thumbnails,
    distant cameras) reach a 128 px model enlarged like this, while crops of large photos arrive
    sharp; without this op the student only ever learns from sharp views."""

    def __init__(self, prob: float = 0.5, min_size: int = 48, max_size: int = 96):
        self.prob, self.min_size, self.max_size = float(prob), int(min_size), int(max_size)
        if not 0.0 <= self.prob <= 1.0:
            raise ConfigError(f"RandLowRes.prob must be in [0, 1], got {prob!r}")
        if not 8 <= self.min_size <= self.max_size:
            raise ConfigError(f"RandLowRes needs 8 <= min_size <= max_size, got {min_size!r}, {max_size!r}")

    def __call__(self, img, rng):
        if rng.random() >= self.prob:
            return img
        h, w = img.shape[:2]
        side = int(rng.integers(self.min_size, self.max_size + 1))
        if side >= max(h, w):
            return img
        f = side / max(h, w)
        small = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


# ----------------------------------------------------------------------------- batch ops
class Mix(NamedTuple):
    """How a batch's views were mixed, for the teacher that judges them: view i holds a part of
    view ``partner[i]`` (-1: not mixed), either the rectangle ``rect[i]`` (x0, y0, x1, y1 as
    fractions of the view; CutMix) or the pixels weighted by ``alpha[i]`` ([H, W], 0..1, the
    pasted person's opacity in view i's pixels; PersonPaste)."""

    partner: np.ndarray
    rect: Optional[np.ndarray] = None
    alpha: Optional[np.ndarray] = None


# masks(h, w) -> [N, h, w] person fraction of each pixel of each view (the segmenter's cached mask
# read through the view's crop box), for batch ops that need to know where the people are
ViewMasks = Callable[[int, int], np.ndarray]


class CutMix:
    """``CutmixOperator``: with probability ``prob`` a view gets a rectangle of another view of
    the batch pasted in (its area 1 - lam, lam ~ Beta(alpha, alpha), the same place in both
    views). A mixed view's ground-truth label is unknown for presence (the pasted part may hold
    the only person), so its label becomes -1 (no label loss); its target comes from the teacher,
    which judges the mixed view itself (``teachers.ExternalTeacher``: a classifier runs on it, a
    segmenter's cached mask is composited the same way).

    ``__call__(n, rng)`` draws the mix of a batch of ``n`` views: ``partner`` [n] (-1: not
    mixed) and ``rect`` [n, 4] (x0, y0, x1, y1 as fractions of the view)."""

    name = "CutmixOperator"
    needs_masks = False

    def __init__(self, alpha: float = 1.0, prob: float = 0.5):
        self.alpha, self.prob = float(alpha), float(prob)
        if self.alpha <= 0:
            raise ConfigError(f"CutmixOperator.alpha must be > 0, got {alpha!r}")
        if not 0.0 <= self.prob <= 1.0:
            raise ConfigError(f"CutmixOperator.prob must be in [0, 1], got {prob!r}")

    def __call__(self, n: int, rng: np.random.Generator):
        partner = np.full(n, -1, np.int64)
        rect = np.zeros((n, 4), np.float64)
        if n < 2:
            return partner, rect
        perm = rng.permutation(n)
        for i in range(n):
            if rng.random() >= self.prob:
                continue
            j = int(perm[i]) if perm[i] != i else (i + 1) % n
            cut = math.sqrt(1.0 - rng.beta(self.alpha, self.alpha))  # side fraction of the pasted square
            cx, cy = rng.random(), rng.random()
            x0, x1 = max(cx - cut / 2, 0.0), min(cx + cut / 2, 1.0)
            y0, y1 = max(cy - cut / 2, 0.0), min(cy + cut / 2, 1.0)
            if x1 <= x0 or y1 <= y0:
                continue
            partner[i] = j
            rect[i] = (x0, y0, x1, y1)
        return partner, rect

    @staticmethod
    def apply(x: np.ndarray, partner: np.ndarray, rect: np.ndarray) -> np.ndarray:
        """Paste into an NCHW batch ``x`` (a new array; the sources are the unmixed views).
        The rectangles are snapped to whole pixels, and ``rect`` is updated to the snapped
        fractions the teacher must use."""
        out = x.copy()
        h, w = x.shape[2], x.shape[3]
        for i in np.flatnonzero(partner >= 0):
            px0, px1 = int(round(rect[i, 0] * w)), int(round(rect[i, 2] * w))
            py0, py1 = int(round(rect[i, 1] * h)), int(round(rect[i, 3] * h))
            if px1 <= px0 or py1 <= py0:
                partner[i] = -1
                continue
            out[i, :, py0:py1, px0:px1] = x[partner[i], :, py0:py1, px0:px1]
            rect[i] = (px0 / w, py0 / h, px1 / w, py1 / h)
        return out

    def mix_batch(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator, masks: Optional[ViewMasks] = None):
        """(x, y, Mix) for an NCHW batch: mixed views' labels become -1; or (x, y, None) if no
        view was mixed."""
        partner, rect = self(int(x.shape[0]), rng)
        if not (partner >= 0).any():
            return x, y, None
        xm = self.apply(x, partner, rect)
        ym = y.copy()
        ym[partner >= 0] = -1
        return xm, ym, Mix(partner, rect=rect)


class PersonPaste:
    """``PersonPasteOperator``: with probability ``prob`` a view gets the person of another view
    of the batch pasted in: the donor's person pixels (the segmenter's mask read through the
    donor's crop box, its bounding box cut out), scaled so the person is ``height`` (a range, as
    fractions of the view's height; never enlarged more than ``max_zoom``), blended in with the
    mask as opacity at a random place. Donors are the views whose person covers at least
    ``min_area`` of them; a paste that covers less of its new view is dropped. Someone is then
    in the view by construction, so its label becomes 1; its target comes from the teacher
    judging the composite (a classifier runs on it; the segmenter's fraction is the pasted
    opacity plus the view's own mask where the paste leaves it visible).

    Meant to put people into scenes that had none, so that the student learns the person, not
    the places people are usually photographed in."""

    name = "PersonPasteOperator"
    needs_masks = True

    def __init__(self, prob: float = 0.25, height: Any = (0.3, 0.9), min_area: float = 0.02, max_zoom: float = 2.0):
        self.prob, self.min_area, self.max_zoom = float(prob), float(min_area), float(max_zoom)
        if not 0.0 <= self.prob <= 1.0:
            raise ConfigError(f"PersonPasteOperator.prob must be in [0, 1], got {prob!r}")
        try:
            lo, hi = (float(v) for v in height)
        except (TypeError, ValueError):
            raise ConfigError(f"PersonPasteOperator.height must be [low, high], got {height!r}") from None
        if not 0.0 < lo <= hi <= 1.0:
            raise ConfigError(f"PersonPasteOperator.height must satisfy 0 < low <= high <= 1, got {height!r}")
        self.height = (lo, hi)
        if not 0.0 < self.min_area < 1.0:
            raise ConfigError(f"PersonPasteOperator.min_area must be in (0, 1), got {min_area!r}")
        if self.max_zoom <= 0:
            raise ConfigError(f"PersonPasteOperator.max_zoom must be > 0, got {max_zoom!r}")

    def mix_batch(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator, masks: Optional[ViewMasks] = None):
        """(x, y, Mix) for an NCHW batch (pasted views' labels 1), or (x, y, None) if nothing
        was pasted. ``masks(h, w)`` gives each view's person mask in its own pixels."""
        if masks is None:
            raise ConfigError("PersonPasteOperator needs the views' person masks (a segmenter teacher member "
                              "with follow_crop: true)")
        n, _, h, w = x.shape
        if n < 2:
            return x, y, None
        m = np.asarray(masks(h, w), np.float32)
        donors = np.flatnonzero(m.mean(axis=(1, 2)) >= self.min_area)
        partner = np.full(n, -1, np.int64)
        alpha = np.zeros((n, h, w), np.float32)
        out = x.copy()
        for i in range(n):
            if rng.random() >= self.prob:
                continue
            cand = donors[donors != i]
            if not len(cand):
                continue
            j = int(cand[rng.integers(len(cand))])
            ys, xs = np.nonzero(m[j] >= 0.5)
            if not len(ys):
                continue
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            f = rng.uniform(*self.height) * h / (y1 - y0)
            f = min(f, self.max_zoom, h / (y1 - y0), w / (x1 - x0))
            th, tw = max(1, int(round((y1 - y0) * f))), max(1, int(round((x1 - x0) * f)))
            cut = cv2.resize(np.ascontiguousarray(x[j, :, y0:y1, x0:x1].transpose(1, 2, 0)), (tw, th),
                             interpolation=cv2.INTER_LINEAR).reshape(th, tw, -1).transpose(2, 0, 1)
            a = np.clip(cv2.resize(np.ascontiguousarray(m[j, y0:y1, x0:x1]), (tw, th),
                                   interpolation=cv2.INTER_LINEAR).reshape(th, tw), 0.0, 1.0)
            if a.sum() < self.min_area * h * w:
                continue
            py, px = int(rng.integers(0, h - th + 1)), int(rng.integers(0, w - tw + 1))
            region = out[i, :, py:py + th, px:px + tw]
            out[i, :, py:py + th, px:px + tw] = a * cut + (1.0 - a) * region
            alpha[i, py:py + th, px:px + tw] = a
            partner[i] = j
        if not (partner >= 0).any():
            return x, y, None
        ym = y.copy()
        ym[partner >= 0] = 1
        return out, ym, Mix(partner, alpha=alpha)


_BATCH_OPS = {op.name: op for op in (CutMix, PersonPaste)}


def build_batch_ops(ops, where: str):
    """The config's batch op (at key ``where``): a ``CutMix`` or ``PersonPaste``, or None."""
    if not ops:
        return None
    if not isinstance(ops, list) or len(ops) != 1 or not isinstance(ops[0], dict) or len(ops[0]) != 1:
        raise ConfigError(f"{where}: a list of one op, e.g. [{{CutmixOperator: {{alpha: 1.0, prob: 0.5}}}}], got {ops!r}")
    (name, args), = ops[0].items()
    if name not in _BATCH_OPS:
        raise ConfigError(f"{where}.0: unknown batch op {name!r} (known: {', '.join(_BATCH_OPS)}; mixup is not "
                          f"offered: a blend of two photos has no person-pixel fraction a segmenter teacher could "
                          f"give consistently)")
    try:
        return _BATCH_OPS[name](**dict(args or {}))
    except TypeError as e:
        raise ConfigError(f"{where}.0.{name}: {e}") from None


# ----------------------------------------------------------------------------- RandAugment
_FILL = (128, 128, 128)
_MAX_LEVEL = 10.0


def _lut(img, table):
    return cv2.LUT(img, np.clip(table, 0, 255).astype(np.uint8))


def _blend(a, b, factor):
    return np.clip(b.astype(np.float32) + factor * (a.astype(np.float32) - b.astype(np.float32)), 0, 255).astype(np.uint8)


def _gray(img):
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return np.repeat(g[:, :, None], 3, axis=2)


def _affine(img, m):
    h, w = img.shape[:2]
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=_FILL)


def op_autocontrast(img, _):
    out = np.empty_like(img)
    for c in range(3):
        ch = img[:, :, c]
        lo, hi = int(ch.min()), int(ch.max())
        if hi <= lo:
            out[:, :, c] = ch
        else:
            out[:, :, c] = _lut(ch, (np.arange(256) - lo) * (255.0 / (hi - lo)))
    return out


def op_equalize(img, _):
    return np.stack([cv2.equalizeHist(np.ascontiguousarray(img[:, :, c])) for c in range(3)], axis=2)


def op_invert(img, _):
    return 255 - img


def op_rotate(img, deg):
    h, w = img.shape[:2]
    return _affine(img, cv2.getRotationMatrix2D((w / 2.0, h / 2.0), deg, 1.0))


def op_posterize(img, bits):
    shift = 8 - max(1, min(8, int(bits)))
    return ((img >> shift) << shift).astype(np.uint8)


def op_solarize(img, thresh):
    t = np.arange(256)
    return _lut(img, np.where(t < thresh, t, 255 - t))


def op_solarize_add(img, add, thresh=128):
    t = np.arange(256)
    return _lut(img, np.where(t < thresh, np.minimum(t + add, 255), t))


def op_color(img, f):
    return _blend(img, _gray(img), f)


def op_contrast(img, f):
    mean = float(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).mean())
    return _blend(img, np.full_like(img, int(mean + 0.5)), f)


def op_brightness(img, f):
    return _blend(img, np.zeros_like(img), f)


def op_sharpness(img, f):
    k = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float32) / 13.0
    blur = cv2.filter2D(img, -1, k)
    blur[0, :], blur[-1, :], blur[:, 0], blur[:, -1] = img[0, :], img[-1, :], img[:, 0], img[:, -1]
    return _blend(img, blur, f)


def op_shear_x(img, s):
    return _affine(img, np.float32([[1, s, 0], [0, 1, 0]]))


def op_shear_y(img, s):
    return _affine(img, np.float32([[1, 0, 0], [s, 1, 0]]))


def op_translate_x(img, frac):
    return _affine(img, np.float32([[1, 0, frac * img.shape[1]], [0, 1, 0]]))


def op_translate_y(img, frac):
    return _affine(img, np.float32([[1, 0, 0], [0, 1, frac * img.shape[0]]]))


def _signed(v, rng):
    return -v if rng.random() < 0.5 else v


# name -> (op, level -> argument); "increasing" variants grow stronger with the level
_OPS = {
    "AutoContrast": (op_autocontrast, lambda l, r: None),
    "Equalize": (op_equalize, lambda l, r: None),
    "Invert": (op_invert, lambda l, r: None),
    "Rotate": (op_rotate, lambda l, r: _signed(l / _MAX_LEVEL * 30.0, r)),
    "PosterizeIncreasing": (op_posterize, lambda l, r: 4 - int(l / _MAX_LEVEL * 4)),
    "SolarizeIncreasing": (op_solarize, lambda l, r: 256 - int(l / _MAX_LEVEL * 256)),
    "SolarizeAdd": (op_solarize_add, lambda l, r: int(l / _MAX_LEVEL * 110)),
    "ColorIncreasing": (op_color, lambda l, r: 1.0 + _signed(l / _MAX_LEVEL * 0.9, r)),
    "ContrastIncreasing": (op_contrast, lambda l, r: 1.0 + _signed(l / _MAX_LEVEL * 0.9, r)),
    "BrightnessIncreasing": (op_brightness, lambda l, r: 1.0 + _signed(l / _MAX_LEVEL * 0.9, r)),
    "SharpnessIncreasing": (op_sharpness, lambda l, r: 1.0 + _signed(l / _MAX_LEVEL * 0.9, r)),
    "ShearX": (op_shear_x, lambda l, r: _signed(l / _MAX_LEVEL * 0.3, r)),
    "ShearY": (op_shear_y, lambda l, r: _signed(l / _MAX_LEVEL * 0.3, r)),
    "TranslateXRel": (op_translate_x, lambda l, r: _signed(l / _MAX_LEVEL * 0.45, r)),
    "TranslateYRel": (op_translate_y, lambda l, r: _signed(l / _MAX_LEVEL * 0.45, r)),
}
_INCREASING = ["AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
               "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
               "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"]


def parse_rand_config(config_str: str) -> Dict[str, float]:
    """'rand-m9-mstd0.5-inc1' -> magnitude 9, magnitude std 0.5, n 2 ops, (inc1: increasing ops)."""
    parts = str(config_str).split("-")
    if parts[0] != "rand":
        raise ConfigError(f"TimmAutoAugment.config_str {config_str!r}: only RandAugment ('rand-...') is supported")
    out = {"m": 9.0, "n": 2, "mstd": 0.0, "inc": 1, "p": 0.5}
    for p in parts[1:]:
        for key in ("mstd", "inc", "m", "n", "p"):
            if p.startswith(key):
                try:
                    out[key] = float(p[len(key):])
                except ValueError:
                    raise ConfigError(f"TimmAutoAugment.config_str {config_str!r}: bad field {p!r}") from None
                break
        else:
            raise ConfigError(f"TimmAutoAugment.config_str {config_str!r}: unknown field {p!r} "
                              f"(known: m, n, mstd, inc, p)")
    out["n"] = int(out["n"])
    return out


class TimmAutoAugment:
    """RandAugment, applied to the whole image with probability ``prob``: ``n`` random ops, each
    taken with probability ``p`` (0.5) at magnitude ~ N(m, mstd) clipped to [0, 10]."""

    def __init__(self, prob: float = 0.0, config_str: str = "rand-m9-mstd0.5-inc1", **_ignored):
        self.prob = float(prob)
        if not 0.0 <= self.prob <= 1.0:
            raise ConfigError(f"TimmAutoAugment.prob must be in [0, 1], got {prob}")
        self.cfg = parse_rand_config(config_str)

    def __call__(self, img, rng):
        if self.prob <= 0 or rng.random() >= self.prob:
            return img
        names = rng.choice(len(_INCREASING), size=self.cfg["n"], replace=True)
        for i in names:
            if rng.random() >= self.cfg["p"]:
                continue
            level = self.cfg["m"]
            if self.cfg["mstd"] > 0:
                level = float(np.clip(rng.normal(level, self.cfg["mstd"]), 0, _MAX_LEVEL))
            fn, arg = _OPS[_INCREASING[int(i)]]
            img = fn(img, arg(level, rng))
        return np.ascontiguousarray(img)


class RandomErasing:
    """Erase one random rectangle of a normalised CHW float image with probability ``EPSILON``
    (area fraction in [sl, sh], aspect from ``r1`` to 1/r1), filled per pixel with N(0, 1)
    noise (``mode: pixel``), per channel (``channel``) or zeros (``const``)."""

    def __init__(self, EPSILON: float = 0.0, sl: Any = 0.02, sh: Any = 1.0 / 3.0, r1: Any = 0.3,
                 attempt: int = 10, use_log_aspect: bool = True, mode: str = "pixel", **_ignored):
        self.p = _ratio(EPSILON, "RandomErasing.EPSILON")
        self.sl, self.sh, self.r1 = _ratio(sl, "RandomErasing.sl"), _ratio(sh, "RandomErasing.sh"), _ratio(r1, "RandomErasing.r1")
        if not 0 <= self.p <= 1:
            raise ConfigError(f"RandomErasing.EPSILON is a probability in [0, 1], got {EPSILON}")
        if not (0 < self.sl <= self.sh <= 1) or not (0 < self.r1 <= 1):
            raise ConfigError(f"RandomErasing: need 0 < sl <= sh <= 1 and 0 < r1 <= 1 (got {sl}, {sh}, {r1})")
        if mode not in ("pixel", "channel", "const"):
            raise ConfigError(f"RandomErasing.mode must be pixel, channel or const, got {mode!r}")
        self.attempt, self.log_aspect, self.mode = int(attempt), bool(use_log_aspect), mode

    def __call__(self, chw: np.ndarray, rng) -> np.ndarray:
        if self.p <= 0 or rng.random() >= self.p:
            return chw
        c, h, w = chw.shape
        for _ in range(self.attempt):
            target = rng.uniform(self.sl, self.sh) * h * w
            if self.log_aspect:
                ar = math.exp(rng.uniform(math.log(self.r1), math.log(1.0 / self.r1)))
            else:
                ar = rng.uniform(self.r1, 1.0 / self.r1)
            eh, ew = int(round(math.sqrt(target * ar))), int(round(math.sqrt(target / ar)))
            if 0 < eh < h and 0 < ew < w:
                y0, x0 = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
                if self.mode == "pixel":
                    fill = rng.standard_normal((c, eh, ew)).astype(np.float32)
                elif self.mode == "channel":
                    fill = rng.standard_normal((c, 1, 1)).astype(np.float32)
                else:
                    fill = np.float32(0.0)
                chw = chw.copy()
                chw[:, y0:y0 + eh, x0:x0 + ew] = fill
                return chw
        return chw
