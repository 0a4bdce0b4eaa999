"""The SDK: ``Classifier`` = preprocessor + runtime + postprocessor, over a model folder."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Union

import numpy as np

from . import imageio
from .backends import RuntimeOptions, available_backends
from .errors import BackendError, InputError, ModelError, PersonclsError
from .postprocess import Postprocessor, Result
from .spec import ModelMeta, PostprocessSpec, PreprocessSpec, default_model_dir

__all__ = ["Classifier", "Result", "available_backends"]


class PythonPipeline:
    """Native fused preprocessing + a Python-driven runtime (``paddle``)."""

    def __init__(self, runtime, spec: PreprocessSpec, threads: int):
        from .preprocess import Preprocessor

        self.runtime = runtime
        self.name = runtime.name
        self.preprocessor = Preprocessor(spec, threads=threads)

    def preprocess(self, frames: Sequence[np.ndarray], color: str) -> np.ndarray:
        return self.preprocessor(list(frames), color)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.runtime.infer(batch)

    def run_frames(self, frames: Sequence[np.ndarray], color: str) -> np.ndarray:
        return self.infer(self.preprocess(frames, color))


def _make_pipeline(backend: str, model_dir: Path, meta: ModelMeta, options: RuntimeOptions, threads: int):
    if backend == "paddle":
        from .backends.paddle_runtime import PaddleRuntime

        return PythonPipeline(PaddleRuntime(model_dir, meta, options), meta.preprocess, threads)
    if backend == "native":
        try:
            from .backends.native import NativePipeline
        except ImportError as e:
            raise BackendError(f"the native engine is not available in this build: {e}") from e
        return NativePipeline(model_dir, meta, options, threads=threads)
    raise BackendError(f"unknown backend {backend!r}; available here: {available_backends()}")


class Classifier:
    """Is someone there? One model folder, one backend.

    Args:
        model_dir: an exported model folder (``personcls.json`` inside); default: the model
            shipped with the package.
        backend: "auto" (fastest available: native, then paddle), "native" or "paddle".
        device: "cpu" or "gpu". threads: CPU threads for preprocessing and inference (0 = all).
        batch_size: frames per inference call when predicting lists.
        threshold: overrides the model's someone/nobody threshold.
        mode: "topk" (the tutorial's listing) or "threshold" (one decided class).
        preprocess: preprocessing for a folder without ``personcls.json`` (e.g. an official
            PaddleClas export); ignored when the folder has metadata unless given explicitly.
        options: a :class:`RuntimeOptions` for everything else (TensorRT, precision, ...).
        fast_decode: decode large JPEGs at 1/2, 1/4 or 1/8 scale in the DCT domain, never
            below what the resize needs (about 3x faster decoding of 720p for a 224 model;
            scores shift slightly against a full decode). Off by default.

    One Classifier may be shared by several threads (the native engine serves concurrent
    calls from a pool of runtime instances; the paddle backend serialises them).

    ``predict`` takes one input (path, encoded bytes, or a decoded HxWxC uint8 frame) and
    returns a :class:`Result`, raising :class:`InputError` if it is bad; given a list, it
    returns one Result per item, bad items carrying ``error`` (the rest still answered).
    """

    def __init__(self, model_dir: Optional[Union[str, os.PathLike]] = None, backend: str = "auto",
                 device: str = "cpu", threads: int = 0, batch_size: int = 8, threshold: Optional[float] = None,
                 mode: str = "topk", preprocess: Optional[PreprocessSpec] = None,
                 label_names: Optional[Sequence[str]] = None, options: Optional[RuntimeOptions] = None,
                 decode_threads: int = 0, fast_decode: bool = False):
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        if not self.model_dir.is_dir():
            raise ModelError(f"model folder {self.model_dir} does not exist")
        if preprocess is not None and not (self.model_dir / "personcls.json").is_file():
            post = PostprocessSpec(label_names=tuple(label_names)) if label_names else PostprocessSpec()
            self.meta = ModelMeta(arch="unknown", preprocess=preprocess, postprocess=post)
        else:
            self.meta = ModelMeta.load(self.model_dir)
            if preprocess is not None:
                self.meta.preprocess = preprocess
            if label_names is not None:
                self.meta.postprocess = PostprocessSpec(label_names=tuple(label_names),
                                                        positive_class=self.meta.postprocess.positive_class,
                                                        threshold=self.meta.postprocess.threshold,
                                                        topk=self.meta.postprocess.topk)
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        opts = options or RuntimeOptions()
        opts.device = device
        if threads:
            opts.cpu_threads = int(threads)
        opts.validate()
        self.options = opts
        if backend == "auto":
            avail = available_backends()
            if not avail:
                raise BackendError("no inference backend is available: install openvino (native engine) or "
                                   "paddlepaddle (pip install 'personcls[paddle]')")
            backend = "native" if "native" in avail and device == "cpu" else ("paddle" if "paddle" in avail else avail[0])
        self.backend = backend
        self.pipeline = _make_pipeline(backend, self.model_dir, self.meta, opts, int(threads))
        self.postprocessor = Postprocessor(self.meta.postprocess, mode=mode, threshold=threshold,
                                           output_is_probability=self.meta.output_is_probability
                                           or getattr(self.pipeline, "outputs_probabilities", False))
        self._decode_threads = decode_threads or min(8, os.cpu_count() or 1)
        self._min_size = self._decode_min_size() if fast_decode else None
        self._pool: Optional[ThreadPoolExecutor] = None
        self._pool_lock = threading.Lock()

    # -- inputs ---------------------------------------------------------------------------
    def _decode_min_size(self):
        """Smallest decoded (w, h) that still resizes down (never up) to the network input."""
        pre = self.meta.preprocess
        if pre.resize_short > 0:
            return (pre.resize_short, pre.resize_short)
        return tuple(pre.resize_size)

    def _decode_all(self, items: Sequence, names: Optional[Sequence[str]]):
        def one(i):
            try:
                frame, name = imageio.load(items[i], i, self._min_size)
                return frame, (names[i] if names else name), None
            except PersonclsError as e:
                src = names[i] if names else (os.path.basename(os.fspath(items[i]))
                                              if isinstance(items[i], (str, os.PathLike)) else f"<input {i}>")
                return None, src, e

        if len(items) > 1 and any(not isinstance(x, np.ndarray) for x in items):
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self._decode_threads, thread_name_prefix="personcls-decode")
            return list(self._pool.map(one, range(len(items))))
        return [one(i) for i in range(len(items))]

    def _run_chunk(self, frames: List[np.ndarray], sources: List[str], color: str) -> List[Result]:
        try:
            probs = self.pipeline.run_frames(frames, color)
            return self.postprocessor(probs, sources)
        except InputError:
            if len(frames) == 1:
                raise
        # Some frame was refused: answer the others, pin the error on the bad ones.
        out = []
        for f, s in zip(frames, sources):
            try:
                out.extend(self._run_chunk([f], [s], color))
            except InputError as e:
                out.append(Result(source=s, error=InputError(f"{s}: {e}")))
        return out

    # -- public API -----------------------------------------------------------------------
    def predict(self, inputs, color: str = "BGR", names: Optional[Sequence[str]] = None):
        """One input -> Result (raises InputError on a bad input); a list -> list of Results.

        ``color`` is the channel order of decoded frames you pass in (files and bytes are
        decoded to BGR internally, so leave it "BGR" for them).
        """
        single = not isinstance(inputs, (list, tuple))
        items = [inputs] if single else list(inputs)
        results = self.predict_batch(items, color=color, names=names)
        if single:
            if results[0].error is not None:
                raise results[0].error
            return results[0]
        return results

    __call__ = predict

    def predict_batch(self, items: Sequence, color: str = "BGR", names: Optional[Sequence[str]] = None) -> List[Result]:
        if names is not None and len(names) != len(items):
            raise InputError(f"names has {len(names)} entries for {len(items)} inputs")
        decoded = self._decode_all(items, names)
        results: List[Optional[Result]] = [None] * len(items)
        good = [i for i, (f, _, e) in enumerate(decoded) if e is None]
        for i, (_, src, e) in enumerate(decoded):
            if e is not None:
                results[i] = Result(source=src, error=e)
        frames = [decoded[i][0] for i in range(len(items))]
        if color.upper() != "BGR":
            # Decoded files are BGR; present them in the caller's order as zero-copy views
            # (the native preprocessing takes any strides) so one chunk has one order.
            frames = [f if isinstance(items[i], np.ndarray) or f is None else f[:, :, ::-1]
                      for i, f in enumerate(frames)]
        for start in range(0, len(good), self.batch_size):
            idx = good[start:start + self.batch_size]
            chunk = self._run_chunk([frames[i] for i in idx], [decoded[i][1] for i in idx], color)
            for i, r in zip(idx, chunk):
                results[i] = r
        return results  # type: ignore[return-value]

    def predict_iter(self, items: Iterable, color: str = "BGR"):
        """Stream results for an iterable of inputs (e.g. frames of a video), batching as it goes."""
        buf = []
        for item in items:
            buf.append(item)
            if len(buf) == self.batch_size:
                yield from self.predict_batch(buf, color)
                buf = []
        if buf:
            yield from self.predict_batch(buf, color)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        w, h = self.meta.preprocess.crop_size
        return (f"Classifier(model_dir='{self.model_dir}', arch={self.meta.arch}, input={w}x{h}, "
                f"backend={self.backend}, device={self.options.device})")
