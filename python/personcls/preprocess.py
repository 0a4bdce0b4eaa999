"""Preprocessing: the native fused kernel, and the cv2 + numpy reference of the same steps."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .spec import PreprocessSpec


class Preprocessor:
    """uint8 HWC frames -> float32 NCHW batch, in C++ threads with the GIL released.

    ``threads=0`` uses every core. ``color`` is the order of the frames handed in ("BGR"
    for cv2-decoded images); the output is in the model's order (``spec.channel_order``).
    """

    def __init__(self, spec: PreprocessSpec, threads: int = 0):
        from . import _native

        self.spec = spec
        self.threads = int(threads)
        self._native = _native
        self._params = spec.to_native()

    def __call__(self, frames, color: str = "BGR", out: Optional[np.ndarray] = None) -> np.ndarray:
        return self._native.preprocess(frames, self._params, color, self.threads, out)

    def cuda(self, frames, color: str = "BGR", device: int = 0):
        """Same on a CUDA device; returns a ``CudaBatch`` (``.numpy()``, ``__dlpack__``)."""
        if not hasattr(self._native, "preprocess_cuda"):
            from .errors import BackendError

            raise BackendError("this build of personcls has no CUDA preprocessing (no CUDA toolkit at build time)")
        return self._native.preprocess_cuda(frames, self._params, color, device)


def reference_preprocess(frame: np.ndarray, spec: PreprocessSpec, color: str = "BGR") -> np.ndarray:
    """The reference pipeline (cv2.resize INTER_LINEAR, crop, numpy normalise): CHW float32.

    Training's eval transforms and the tests use this; the native kernel matches it to
    within one grey level of the resized image (see tests/test_preprocess.py).
    """
    import cv2

    img = np.ascontiguousarray(frame)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    elif img.shape[2] == 4:
        img = np.ascontiguousarray(img[:, :, :3])
    if color.upper() != spec.channel_order:
        img = np.ascontiguousarray(img[:, :, ::-1])
    h, w = img.shape[:2]
    rw, rh = spec.resized_size(w, h)
    img = cv2.resize(img, (rw, rh), interpolation=cv2.INTER_LINEAR)
    cw, ch = spec.crop_size
    x0, y0 = (rw - cw) // 2, (rh - ch) // 2
    img = img[y0:y0 + ch, x0:x0 + cw]
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    out = (img.astype(np.float32) * np.float32(spec.scale) - mean) / std
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def reference_batch(frames: Sequence[np.ndarray], spec: PreprocessSpec, color: str = "BGR") -> np.ndarray:
    return np.stack([reference_preprocess(f, spec, color) for f in frames])
