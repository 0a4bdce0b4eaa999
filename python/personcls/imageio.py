"""Turning user inputs (paths, encoded bytes, decoded frames) into uint8 frames.

Every failure is an :class:`InputError` that names the input. A truncated JPEG or PNG is
refused rather than decoded into a half-grey picture (a silent wrong answer).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import InputError

ImageInput = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def _cv2():
    import cv2

    return cv2


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


def reduction_for(size: Tuple[int, int], min_size: Tuple[int, int]) -> int:
    """Largest libjpeg DCT scale-down (1, 2, 4, 8) keeping the image at least min_size."""
    w, h = size
    for f in (8, 4, 2):
        if w // f >= min_size[0] and h // f >= min_size[1]:
            return f
    return 1


def decode_bytes(buf: Union[bytes, bytearray, memoryview], name: str = "<bytes>",
                 min_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Encoded image bytes -> HxWx3 uint8 BGR.

    ``min_size=(w, h)``: a JPEG larger than needed is decoded at 1/2, 1/4 or 1/8 scale in
    the DCT domain (about 3x faster for 720p -> 224), never below ``min_size``. The pixels
    then differ slightly from a full decode followed by the resize; off by default.
    """
    data = bytes(buf)
    if len(data) == 0:
        raise InputError(f"{name}: empty input (0 bytes)")
    _check_complete(data, name)
    cv2 = _cv2()
    flag = cv2.IMREAD_COLOR
    if min_size is not None:
        size = jpeg_size(data)
        f = reduction_for(size, min_size) if size else 1
        flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                8: cv2.IMREAD_REDUCED_COLOR_8}[f]
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
    if img is None or img.size == 0:
        raise InputError(f"{name}: not a decodable image ({len(data)} bytes)")
    return img


def read_image(path: Union[str, os.PathLike], min_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Image file -> HxWx3 uint8 BGR."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not an image")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot be read ({e.strerror or e})") from e
    return decode_bytes(data, str(p), min_size)


def display_name(item: Any, index: Optional[int] = None) -> str:
    """How results and errors name an input: a path's file name, else ``<frame i>`` /
    ``<bytes i>`` / ``<input i>`` with its index in the caller's list or stream (no index
    for a single input)."""
    if isinstance(item, (str, os.PathLike)):
        return os.path.basename(os.fspath(item))
    kind = "frame" if isinstance(item, np.ndarray) else (
        "bytes" if isinstance(item, (bytes, bytearray, memoryview)) else "input")
    return f"<{kind}>" if index is None else f"<{kind} {index}>"


def load(item: Any, index: Optional[int] = None,
         min_size: Optional[Tuple[int, int]] = None) -> Tuple[np.ndarray, str]:
    """One input -> (frame, display name). Frames are passed through unchanged (the
    native preprocessing validates dtype, shape and channels and accepts any strides)."""
    name = display_name(item, index)
    if isinstance(item, np.ndarray):
        return item, name
    if isinstance(item, (str, os.PathLike)):
        return read_image(item, min_size), name
    if isinstance(item, (bytes, bytearray, memoryview)):
        return decode_bytes(item, name, min_size), name
    raise InputError(f"{name}: unsupported type {type(item).__name__} "
                     "(expected a path, encoded bytes, or a uint8 numpy frame)")


def list_images(folder: Union[str, os.PathLike], recursive: bool = False) -> list:
    """Image files of a folder (by suffix), sorted by path; ``recursive`` also searches its
    sub-folders (in sorted order)."""
    p = Path(folder)
    found = p.rglob("*") if recursive else p.iterdir()
    return sorted((str(f) for f in found if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES),
                  key=lambda s: Path(s).relative_to(p).parts)


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
                   recursive: bool = False) -> List[Tuple[str, str]]:
    """What a user asked to classify, as (path, display name) pairs, in order.

    Each source is an image file (named by its file name), a folder (its images sorted;
    ``recursive`` includes sub-folders; named relative to the folder), a list file (``.txt``,
    ``.list``, ``.lst``: one path per line, relative to the list; named as written there), or a
    glob pattern (``imgs/*.jpg``, ``imgs/**/*.png``; named relative to its fixed prefix). A path
    that does not exist is passed through, so that its error names it.
    """
    items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    out: List[Tuple[str, str]] = []
    for src in items:
        if not isinstance(src, (str, os.PathLike)):
            raise InputError(f"image source {src!r} is not a path (expected a file, folder, list file or glob)")
        t = os.fspath(src)
        if os.path.isdir(t):
            paths = list_images(t, recursive)
            if not paths:
                raise InputError(f"{t}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})"
                                 + ("" if recursive else "; --recursive also searches its sub-folders"))
            out += [(p, os.path.basename(p) if not recursive else os.path.relpath(p, t)) for p in paths]
        elif os.path.isfile(t) and Path(t).suffix.lower() in LIST_SUFFIXES:
            out += [(p, name) for p, name, _ in read_list_file(t)]
        elif not os.path.exists(t) and any(c in t for c in _GLOB_CHARS):
            import glob

            matched = sorted(glob.glob(t, recursive=True))
            paths = [p for p in matched if os.path.isfile(p) and Path(p).suffix.lower() in IMAGE_SUFFIXES]
            if not paths:
                raise InputError(f"{t}: the pattern matches no image files"
                                 + (f" ({len(matched)} other paths)" if matched else ""))
            root = _glob_root(t)
            out += [(p, os.path.relpath(p, root) if root else p) for p in paths]
        else:
            out.append((t, os.path.basename(t)))
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
