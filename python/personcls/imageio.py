"""Turning user inputs (paths, encoded bytes, decoded frames) into uint8 frames.

Every failure is an :class:`InputError` that names the input. A truncated JPEG or PNG is
refused rather than decoded into a half-grey picture (a silent wrong answer).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Tuple, Union

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


def decode_bytes(buf: Union[bytes, bytearray, memoryview], name: str = "<bytes>") -> np.ndarray:
    """Encoded image bytes -> HxWx3 uint8 BGR."""
    data = bytes(buf)
    if len(data) == 0:
        raise InputError(f"{name}: empty input (0 bytes)")
    _check_complete(data, name)
    cv2 = _cv2()
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise InputError(f"{name}: not a decodable image ({len(data)} bytes)")
    return img


def read_image(path: Union[str, os.PathLike]) -> np.ndarray:
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
    return decode_bytes(data, str(p))


def load(item: Any, index: int = 0) -> Tuple[np.ndarray, str]:
    """One input -> (frame, display name). Frames are passed through unchanged (the
    native preprocessing validates dtype, shape and channels and accepts any strides)."""
    if isinstance(item, np.ndarray):
        return item, f"<frame {index}>"
    if isinstance(item, (str, os.PathLike)):
        return read_image(item), os.path.basename(os.fspath(item))
    if isinstance(item, (bytes, bytearray, memoryview)):
        name = f"<bytes {index}>"
        return decode_bytes(item, name), name
    raise InputError(f"input {index}: unsupported type {type(item).__name__} "
                     "(expected a path, encoded bytes, or a uint8 numpy frame)")


def list_images(folder: Union[str, os.PathLike]) -> list:
    """Image files of a folder (by suffix), sorted by name; files only, no recursion."""
    p = Path(folder)
    return sorted(str(f) for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
