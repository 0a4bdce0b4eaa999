"""Turning user inputs (paths, encoded bytes, decoded frames) into uint8 frames.

Every failure is an :class:`InputError` that names the input. The decoding policy lives in
:class:`DecodeOptions` (one place): corrupt or truncated data is an error by default, on every
path (fast decode included); the pixel count is checked from the header before anything is
decoded; transparent pixels are composited onto a stated background. Formats: JPEG (libjpeg-
turbo through simplejpeg, so that libjpeg's "corrupt data" warnings are errors; CMYK through
OpenCV after the same check), PNG, BMP, WebP, TIFF, GIF, PNM (OpenCV).
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import InputError

log = logging.getLogger("personcls")

ImageInput = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".pnm")


@dataclass(frozen=True)
class DecodeOptions:
    """How encoded images (files, bytes) become frames.

    strict: corrupt or truncated image data is an error for that input (default). False
        decodes what the decoder can recover (libjpeg fills lost blocks with grey) and logs
        a warning naming the input.
    max_pixels: width x height above which an image is refused, read from its header before
        decoding (a 30000 x 30000 JPEG would need 2.7 GB decoded). 0 = no limit.
    alpha_background: the (B, G, R) colour transparent pixels are composited onto (PNG, WebP,
        GIF, TIFF with alpha); white by default.
    """

    strict: bool = True
    max_pixels: int = 50_000_000
    alpha_background: Tuple[int, int, int] = (255, 255, 255)

    def __post_init__(self) -> None:
        if int(self.max_pixels) < 0:
            raise InputError(f"max_pixels must be >= 0 (0 = no limit), got {self.max_pixels}")
        bg = tuple(int(v) for v in self.alpha_background)
        if len(bg) != 3 or not all(0 <= v <= 255 for v in bg):
            raise InputError(f"alpha_background must be three values in 0..255 (B, G, R), got {self.alpha_background}")
        object.__setattr__(self, "alpha_background", bg)
        object.__setattr__(self, "max_pixels", int(self.max_pixels))


DEFAULT_DECODE = DecodeOptions()


def _cv2():
    import cv2

    return cv2


def _simplejpeg():
    try:
        import simplejpeg
    except ImportError as e:  # a declared dependency: only a broken install lands here
        raise InputError(f"JPEG decoding needs simplejpeg (pip install simplejpeg): {e}") from e
    return simplejpeg


def _check_complete(buf: bytes, name: str) -> None:
    if buf[:2] == b"\xff\xd8":  # JPEG: must end with the EOI marker (padding allowed)
        tail = buf.rstrip(b"\x00\r\n\t ")
        if not tail.endswith(b"\xff\xd9"):
            raise InputError(f"{name}: truncated JPEG (no end-of-image marker)")
    elif buf[:8] == b"\x89PNG\r\n\x1a\n":
        if b"IEND" not in buf[-16:]:
            raise InputError(f"{name}: truncated PNG (no IEND chunk)")


_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(data: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) from a JPEG's frame header, without decoding; None if not found."""
    if data[:2] != b"\xff\xd8":
        return None
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        seg = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in _SOF_MARKERS:
            h = int.from_bytes(data[i + 5:i + 7], "big")
            w = int.from_bytes(data[i + 7:i + 9], "big")
            return (w, h) if w and h else None
        if marker == 0xDA:  # start of scan before any frame header
            return None
        i += 2 + seg
    return None


def _tiff_size(data: bytes) -> Optional[Tuple[int, int]]:
    end = {b"II": "<", b"MM": ">"}.get(data[:2])
    if end is None or len(data) < 8:
        return None
    (ifd,) = struct.unpack(end + "I", data[4:8])
    if ifd + 2 > len(data):
        return None
    (count,) = struct.unpack(end + "H", data[ifd:ifd + 2])
    dims = {}
    for k in range(count):
        e = ifd + 2 + 12 * k
        if e + 12 > len(data):
            break
        tag, typ = struct.unpack(end + "HH", data[e:e + 4])
        if tag in (256, 257):
            dims[tag] = struct.unpack(end + ("H" if typ == 3 else "I"), data[e + 8:e + (10 if typ == 3 else 12)])[0]
    return (dims[256], dims[257]) if 256 in dims and 257 in dims else None


def _pnm_size(data: bytes) -> Optional[Tuple[int, int]]:
    tokens: List[bytes] = []
    for line in data[2:512].split(b"\n"):
        tokens += line.split(b"#", 1)[0].split()
        if len(tokens) >= 2:
            break
    try:
        return int(tokens[0]), int(tokens[1])
    except (IndexError, ValueError):
        return None


def image_format(data: bytes) -> Optional[str]:
    """The format of encoded image bytes from their signature; None if not one we read."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:1] == b"P" and data[1:2] in b"123456" and len(data) > 2 and data[2:3].isspace():
        return "pnm"
    return None


def image_size(data: bytes, fmt: Optional[str] = None) -> Optional[Tuple[int, int]]:
    """(width, height) read from the header of encoded image bytes, without decoding."""
    fmt = fmt or image_format(data)
    try:
        if fmt == "jpeg":
            return jpeg_size(data)
        if fmt == "png" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if fmt == "gif":
            return struct.unpack("<HH", data[6:10])
        if fmt == "bmp":
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if fmt == "webp":
            chunk = data[12:16]
            if chunk == b"VP8X":
                return (int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1)
            if chunk == b"VP8L":
                b = int.from_bytes(data[21:25], "little")
                return ((b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1)
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
        if fmt == "tiff":
            return _tiff_size(data)
        if fmt == "pnm":
            return _pnm_size(data)
    except struct.error:
        return None
    return None


def _may_have_alpha(data: bytes, fmt: str) -> bool:
    """Whether the image can carry transparency (then it is composited onto the background)."""
    if fmt == "png":
        if data[25:26] in (b"\x04", b"\x06"):  # grey + alpha, RGBA
            return True
        idat = data.find(b"IDAT")
        return data.find(b"tRNS", 0, idat if idat > 0 else len(data)) > 0
    if fmt == "webp":
        return (data[12:16] == b"VP8X" and bool(data[20] & 0x10)) or data[12:16] == b"VP8L"
    return fmt in ("gif", "tiff", "bmp")


#: fast decode keeps the decoded image at least this many times the size the resize needs.
#: Measured on the shipped 96 px model (docs/reliability.md): at 1x, P(someone) moved by up to
#: 0.29 on the demo photos (one decision changed) and 0.71 on 256 px photos (31 of 300 changed),
#: because DCT scaling averages where the bilinear resize samples; at 2x by at most 0.08
#: (mean 0.02, no decision changed), less than shifting the photo by one pixel does (0.12). The
#: 128 px model with the ImageNet start is more sensitive: at 2x up to 0.14 on the demo photos (one
#: decision changed; a one-pixel shift: 0.05), at 3x up to 0.008. So 3x.
FAST_DECODE_MARGIN = 3


def reduction_for(size: Tuple[int, int], min_size: Tuple[int, int]) -> int:
    """Largest libjpeg DCT scale-down (1, 2, 4, 8) keeping the image at least min_size."""
    w, h = size
    for f in (8, 4, 2):
        if w // f >= min_size[0] and h // f >= min_size[1]:
            return f
    return 1


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1..8) of a JPEG, 1 when it has none."""
    i, n = 2, min(len(data), 1 << 17)
    while i + 4 <= n and data[i] == 0xFF:
        marker = data[i + 1]
        seg = int.from_bytes(data[i + 2:i + 4], "big")
        if marker == 0xDA:
            break
        if marker == 0xE1 and data[i + 4:i + 10] == b"Exif\x00\x00":
            t = i + 10
            end = {b"II": "<", b"MM": ">"}.get(data[t:t + 2])
            if end is None:
                return 1
            try:
                (ifd,) = struct.unpack(end + "I", data[t + 4:t + 8])
                (count,) = struct.unpack(end + "H", data[t + ifd:t + ifd + 2])
                for k in range(count):
                    e = t + ifd + 2 + 12 * k
                    if struct.unpack(end + "H", data[e:e + 2])[0] == 0x0112:
                        v = struct.unpack(end + "H", data[e + 8:e + 10])[0]
                        return v if 1 <= v <= 8 else 1
            except struct.error:
                return 1
            return 1
        i += 2 + seg
    return 1


def _orient(img: np.ndarray, o: int) -> np.ndarray:
    """Apply EXIF orientation ``o`` (as OpenCV's imread does)."""
    if o == 2:
        return img[:, ::-1]
    if o == 3:
        return img[::-1, ::-1]
    if o == 4:
        return img[::-1]
    if o == 5:
        return img.transpose(1, 0, 2)
    if o == 6:
        return img.transpose(1, 0, 2)[:, ::-1]
    if o == 7:
        return img.transpose(1, 0, 2)[::-1, ::-1]
    if o == 8:
        return img.transpose(1, 0, 2)[::-1]
    return img


def _decode_jpeg(data: bytes, name: str, min_size: Optional[Tuple[int, int]], opts: DecodeOptions) -> np.ndarray:
    sj = _simplejpeg()
    try:
        _, _, colorspace, _ = sj.decode_jpeg_header(data)
    except ValueError as e:
        raise InputError(f"{name}: not a decodable JPEG ({e})") from e
    hint = "; DecodeOptions(strict=False) decodes what is left"
    if colorspace in ("CMYK", "YCCK"):
        # libjpeg-turbo cannot turn CMYK into BGR: check the data here, convert with OpenCV.
        try:
            sj.decode_jpeg(data, colorspace="CMYK", min_factor=8, strict=opts.strict)
        except ValueError as e:
            raise InputError(f"{name}: corrupt JPEG data ({e}){hint}") from e
        return _decode_cv2(data, name, "jpeg", opts)
    o = exif_orientation(data)
    kw = {}
    size = jpeg_size(data) if min_size is not None else None
    if size is not None:
        # the largest of libjpeg's 1/2, 1/4, 1/8 DCT scalings that keeps min_size (rotated
        # along with the picture when EXIF turns it by 90 degrees)
        need = (min_size[1], min_size[0]) if o >= 5 else min_size
        f = reduction_for(size, need)
        kw = {"min_width": -(-size[0] // f), "min_height": -(-size[1] // f)}
    try:
        img = sj.decode_jpeg(data, colorspace="BGR", strict=True, **kw)
    except ValueError as e:
        if opts.strict:
            raise InputError(f"{name}: corrupt JPEG data ({e}){hint}") from e
        try:
            img = sj.decode_jpeg(data, colorspace="BGR", strict=False, **kw)
        except ValueError as e2:
            raise InputError(f"{name}: not a decodable JPEG ({e2})") from e2
        log.warning("%s: corrupt JPEG data (%s), decoded anyway (strict=False)", name, e)
    return _orient(img, o) if o != 1 else img


def _decode_cv2(data: bytes, name: str, fmt: str, opts: DecodeOptions) -> np.ndarray:
    cv2 = _cv2()
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if img is None or img.size == 0:
            raise InputError(f"{name}: not a decodable {fmt.upper()} image ({len(data)} bytes)")
        if _may_have_alpha(data, fmt):
            raw = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
            if raw is not None and raw.ndim == 3 and raw.shape[2] == 4 and raw.shape[:2] == img.shape[:2]:
                img = _composite(img, raw[:, :, 3], opts.alpha_background)
    except cv2.error as e:  # e.g. OpenCV's own size limit, an unsupported variant
        msg = (e.err or str(e)).strip().splitlines()[-1]
        raise InputError(f"{name}: cannot be decoded as {fmt.upper()} ({msg})") from e
    return img


def _composite(bgr: np.ndarray, alpha: np.ndarray, background: Tuple[int, int, int]) -> np.ndarray:
    """``bgr`` over ``background`` through ``alpha`` (any integer depth)."""
    if alpha.dtype != np.uint8:
        alpha = (alpha.astype(np.float32) * (255.0 / float(np.iinfo(alpha.dtype).max))).round().astype(np.uint8)
    if alpha.min() == 255:
        return bgr
    a = alpha.astype(np.float32)[:, :, None] * (1.0 / 255.0)
    bg = np.asarray(background, np.float32)
    return (bgr.astype(np.float32) * a + bg * (1.0 - a) + 0.5).astype(np.uint8)


def decode_bytes(buf: Union[bytes, bytearray, memoryview], name: str = "<bytes>",
                 min_size: Optional[Tuple[int, int]] = None, options: Optional[DecodeOptions] = None) -> np.ndarray:
    """Encoded image bytes -> HxWx3 uint8 BGR (see :class:`DecodeOptions`).

    ``min_size=(w, h)`` (fast decode): a JPEG larger than needed is decoded at 1/2, 1/4 or
    1/8 scale in the DCT domain, never below ``min_size``. The
    pixels then differ from a full decode followed by the resize (docs/reliability.md gives
    the measured score changes); off by default. Corrupt data is refused all the same.
    """
    opts = options or DEFAULT_DECODE
    data = bytes(buf)
    if len(data) == 0:
        raise InputError(f"{name}: empty input (0 bytes)")
    fmt = image_format(data)
    if fmt is None:
        raise InputError(f"{name}: not a decodable image: not in a format personcls reads (JPEG, PNG, BMP, WebP, "
                         f"TIFF, GIF, PNM; {len(data)} bytes starting {data[:8]!r})")
    if opts.strict:
        _check_complete(data, name)
    size = image_size(data, fmt)
    if size is None or size[0] <= 0 or size[1] <= 0:
        raise InputError(f"{name}: {fmt.upper()} header without a readable image size")
    if opts.max_pixels and size[0] * size[1] > opts.max_pixels:
        raise InputError(f"{name}: {size[0]}x{size[1]} image ({size[0] * size[1] / 1e6:.0f} MP) is over the pixel "
                         f"limit of {opts.max_pixels / 1e6:g} MP (DecodeOptions.max_pixels, "
                         f"-o Global.max_pixels=...)")
    if fmt == "jpeg":
        return _decode_jpeg(data, name, min_size, opts)
    return _decode_cv2(data, name, fmt, opts)


def printable(name: str) -> str:
    """A file name as it can be printed to any stream: bytes that are not UTF-8 (kept by
    Python as surrogate escapes) are shown as ``\\xNN``."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")


def _not_a_file(p: Path) -> Optional[str]:
    """Why ``p`` is not a readable regular file, or None if it is one."""
    try:
        st = p.stat()
    except OSError as e:
        if p.is_symlink():
            if e.errno == 40:  # ELOOP
                return "symbolic link loop"
            return f"broken symbolic link (to {printable(os.readlink(p))})"
        return "no such file"
    import stat

    if stat.S_ISDIR(st.st_mode):
        return "is a folder, not an image"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    return None


def read_image(path: Union[str, os.PathLike], min_size: Optional[Tuple[int, int]] = None,
               options: Optional[DecodeOptions] = None) -> np.ndarray:
    """Image file -> HxWx3 uint8 BGR."""
    p = Path(path)
    shown = printable(str(p))
    why = _not_a_file(p)
    if why:
        raise InputError(f"{shown}: {why}")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{shown}: cannot be read ({e.strerror or e})") from e
    return decode_bytes(data, shown, min_size, options)


def display_name(item: Any, index: Optional[int] = None) -> str:
    """How results and errors name an input: a path's file name, else ``<frame i>`` /
    ``<bytes i>`` / ``<input i>`` with its index in the caller's list or stream (no index
    for a single input)."""
    if isinstance(item, (str, os.PathLike)):
        return printable(os.path.basename(os.fspath(item)))
    kind = "frame" if isinstance(item, np.ndarray) else (
        "bytes" if isinstance(item, (bytes, bytearray, memoryview)) else "input")
    return f"<{kind}>" if index is None else f"<{kind} {index}>"


def load(item: Any, index: Optional[int] = None, min_size: Optional[Tuple[int, int]] = None,
         options: Optional[DecodeOptions] = None, name: Optional[str] = None) -> Tuple[np.ndarray, str]:
    """One input -> (frame, display name; ``name`` if given, which errors then use). Frames
    are passed through unchanged (the native preprocessing validates dtype, shape and
    channels and accepts any strides)."""
    name = name or display_name(item, index)
    if isinstance(item, np.ndarray):
        return item, name
    if isinstance(item, (str, os.PathLike)):
        return read_image(item, min_size, options), name
    if isinstance(item, (bytes, bytearray, memoryview)):
        return decode_bytes(item, name, min_size, options), name
    raise InputError(f"{name}: unsupported type {type(item).__name__} "
                     "(expected a path, encoded bytes, or a uint8 numpy frame)")


def list_images(folder: Union[str, os.PathLike], recursive: bool = False,
                skipped: Optional[List[str]] = None) -> list:
    """Image entries of a folder (by suffix), sorted by path; ``recursive`` also searches its
    sub-folders (in sorted order). An entry with an image suffix is listed even when it is not
    a readable file (a broken or looping symbolic link, a folder named ``x.jpg``), so that its
    error names it; other files are appended to ``skipped`` (their paths), never dropped
    silently."""
    p = Path(folder)
    found = p.rglob("*") if recursive else p.iterdir()
    out = []
    for f in found:
        if f.suffix.lower() in IMAGE_SUFFIXES:
            out.append(str(f))
        elif skipped is not None and (f.is_symlink() or not f.is_dir()):
            skipped.append(str(f))
    if skipped is not None:
        skipped.sort()
    return sorted(out, key=lambda s: Path(s).relative_to(p).parts)


LIST_SUFFIXES = (".txt", ".list", ".lst")
_GLOB_CHARS = "*?["


def read_list_file(path: Union[str, os.PathLike]) -> List[Tuple[str, str, Optional[int]]]:
    """A list file: one image path per line, relative to the folder holding the list, with an
    optional integer label after it (PaddleClas ``path label`` lines); blank lines and ``#``
    comments skipped. Returns (path, path as written, label or None) per line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"list file {path} does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: list file cannot be read ({e})") from e
    out: List[Tuple[str, str, Optional[int]]] = []
    for ln in text.splitlines():
        ln = ln.strip()
        if not ln or ln.startswith("#"):
            continue
        parts = ln.rsplit(None, 1)
        if len(parts) == 2 and parts[1].lstrip("-").isdigit() and not (path.parent / ln).exists():
            out.append((str(path.parent / parts[0]), parts[0], int(parts[1])))
        else:
            out.append((str(path.parent / ln), ln, None))
    if not out:
        raise InputError(f"list file {path} holds no images")
    return out


def _glob_root(pattern: str) -> str:
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if any(c in part for c in _GLOB_CHARS):
            break
        fixed.append(part)
    return str(Path(*fixed)) if fixed else ""


def expand_sources(sources: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]],
                   recursive: bool = False, skipped: Optional[List[str]] = None) -> List[Tuple[str, str]]:
    """What a user asked to classify, as (path, display name) pairs, in order.

    Each source is an image file (named by its file name), a folder (its images sorted;
    ``recursive`` includes sub-folders; named relative to the folder), a list file (``.txt``,
    ``.list``, ``.lst``: one path per line, relative to the list; named as written there), or a
    glob pattern (``imgs/*.jpg``, ``imgs/**/*.png``; named relative to its fixed prefix). A path
    that does not exist is passed through, so that its error names it. Folder entries that are
    not images are appended to ``skipped``.
    """
    items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    out: List[Tuple[str, str]] = []
    for src in items:
        if not isinstance(src, (str, os.PathLike)):
            raise InputError(f"image source {src!r} is not a path (expected a file, folder, list file or glob)")
        t = os.fspath(src)
        if os.path.isdir(t):
            paths = list_images(t, recursive, skipped)
            if not paths:
                raise InputError(f"{t}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})"
                                 + ("" if recursive else "; --recursive also searches its sub-folders"))
            out += [(p, printable(os.path.basename(p) if not recursive else os.path.relpath(p, t))) for p in paths]
        elif os.path.isfile(t) and Path(t).suffix.lower() in LIST_SUFFIXES:
            out += [(p, printable(name)) for p, name, _ in read_list_file(t)]
        elif not os.path.exists(t) and any(c in t for c in _GLOB_CHARS):
            import glob

            matched = sorted(glob.glob(t, recursive=True))
            paths = [p for p in matched if os.path.isfile(p) and Path(p).suffix.lower() in IMAGE_SUFFIXES]
            if not paths:
                raise InputError(f"{t}: the pattern matches no image files"
                                 + (f" ({len(matched)} other paths)" if matched else ""))
            root = _glob_root(t)
            out += [(p, printable(os.path.relpath(p, root) if root else p)) for p in paths]
        else:
            out.append((t, printable(os.path.basename(t))))
    return out


def subfolders_with_images(folder: Union[str, os.PathLike]) -> int:
    """How many direct sub-folders of ``folder`` hold images at any depth (what a
    non-recursive listing skips)."""
    p = Path(folder)
    return sum(1 for d in p.iterdir() if d.is_dir() and any(
        f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES for f in d.rglob("*")))


def expand_target(target: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]]) -> list:
    """The image paths of :func:`expand_sources` (no recursion)."""
    return [p for p, _ in expand_sources(target)]
