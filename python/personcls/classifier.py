"""The SDK: ``Classifier`` = preprocessor + runtime + postprocessor, over a model folder."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Deque, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import imageio
from .backends import RuntimeOptions, available_backends, choose_backend, create_pipeline
from .errors import InputError, ModelError, PersonclsError
from .postprocess import Postprocessor, Result, Timing
from .modelfolder import ModelMeta, default_model_dir, has_metadata
from .spec import PostprocessSpec, PreprocessSpec

__all__ = ["Classifier", "Result", "available_backends"]


@dataclass
class _Prepared:
    """One input on its way through the pipeline."""

    index: Optional[int]
    name: str
    row: int
    taken: float
    frame: Optional[np.ndarray] = None
    error: Optional[InputError] = None
    result: Optional[Result] = None
    decode_ms: float = 0.0
    preprocess_ms: float = 0.0
    infer_ms: float = 0.0
    post_ms: float = 0.0


def _item_error(e: Exception, name: str) -> InputError:
    """An input's failure as an InputError naming that input (the native code names frames
    by their place in the call, ``frame[0]``, which is not the caller's index)."""
    msg = str(e)
    for token in ("frame[0]", "frame"):
        if msg.startswith(token):
            return InputError(name + msg[len(token):])
    if not isinstance(e, InputError):
        msg = f"{type(e).__name__}: {msg}"
    elif name in msg:
        return e
    return InputError(f"{name}: {msg}")


def _entries(items: Iterable, names: Optional[Iterable[str]]) -> Iterator[Tuple[int, object, str]]:
    name_it = iter(names) if names is not None else None
    for i, item in enumerate(items):
        if name_it is None:
            name = imageio.display_name(item, i)
        else:
            name = next(name_it, None)
            if name is None:
                raise InputError(f"names ran out at input {i}")
        yield i, item, str(name)



def default_decode_threads() -> int:
    """Decode-pool size when none is given: one per core (at most 8), beside inference on all
    cores (docs/throughput.md: the splits measured)."""
    return min(8, os.cpu_count() or 1)


def check_model_output(pipeline, meta: ModelMeta, model_dir: Path) -> None:
    """Run the model once on two fixed inputs and hold its raw output against the metadata:
    (N, classes) with one column per label, and probabilities (rows in [0, 1] summing to 1)
    exactly when ``output.probability`` says so. Otherwise a wrong label count, or softmax
    applied twice / never, would give plausible-looking wrong answers."""
    w, h = meta.preprocess.crop_size
    x = np.zeros((2, 3, h, w), np.float32)
    x[1] = np.linspace(-2.0, 2.0, 3 * h * w, dtype=np.float32).reshape(3, h, w)
    try:
        out = np.asarray(pipeline.infer(x), dtype=np.float64)
    except PersonclsError:
        raise
    except Exception as e:  # noqa: BLE001 - any runtime failure on the probe is the model's
        raise ModelError(f"{model_dir}: the model fails on a [2, 3, {h}, {w}] input: {e}") from e
    if out.ndim != 2 or out.shape != (2, meta.num_classes):
        raise ModelError(f"{model_dir}: the model outputs shape {list(out.shape[1:])} per image; the metadata "
                         f"lists {meta.num_classes} labels {list(meta.postprocess.label_names)}")
    if not np.isfinite(out).all():
        raise ModelError(f"{model_dir}: the model outputs non-finite values on a plain input (damaged weights?)")
    looks_prob = bool((out >= -1e-6).all() and (out <= 1 + 1e-6).all() and np.allclose(out.sum(1), 1.0, atol=1e-3))
    if meta.output_is_probability and not looks_prob:
        raise ModelError(f"{model_dir}: personcls.json says output.probability=true but the model's outputs are not "
                         f"probabilities (rows {np.round(out, 4).tolist()}); set it to false for a logits model")
    if not meta.output_is_probability and looks_prob:
        raise ModelError(f"{model_dir}: personcls.json says output.probability=false but the model already outputs "
                         f"probabilities (rows sum to 1); softmax would be applied twice. Set it to true")


class Classifier:
    """Is someone there? One model folder, one backend.

    Args:
        model_dir: an exported model folder (``personcls.json`` inside); default: the model
            shipped with the package.
        backend: "native", "paddle" or "paddle-cuda" (GPU); "auto": the first available of
            :data:`personcls.backends.BACKEND_PREFERENCE` for the device (CPU: native, then
            paddle); or a sequence of names, the order to try them in.
        device: "cpu" or "gpu". threads: CPU threads for preprocessing and inference (0 = all).
        batch_size: frames per inference call when predicting lists.
        threshold: overrides the model's someone/nobody threshold.
        mode: "topk" (the tutorial's listing) or "threshold" (one decided class).
        topk: classes listed per input in topk mode (default: the model's, at most its labels).
        preprocess: preprocessing for a folder without ``personcls.json`` (e.g. an official
            PaddleClas export); ignored when the folder has metadata unless given explicitly.
        options: a :class:`RuntimeOptions` for everything else (TensorRT, precision, ...).
        fast_decode: decode large JPEGs at 1/2, 1/4 or 1/8 scale in the DCT domain, never
            below twice what the resize needs (1.4x faster decoding of 720p for the 96 px
            model). Scores move by about as much as a one-pixel shift of the photo moves them
            (docs/reliability.md: mean 0.02, no decision changed on the demo photos); off by
            default.
        decode: an :class:`personcls.imageio.DecodeOptions` (corrupt data strictness, pixel
            limit, alpha background); default: strict, 50 MP, white.
        decode_threads: threads of the pool that reads, decodes and preprocesses inputs while
            the model runs on the previous batch (0 = :func:`default_decode_threads`).
        prefetch: batches prepared ahead of the one being inferred (memory: at most
            ``(prefetch + 1) * batch_size`` inputs are held at once); 0 = no overlap (each
            batch decoded by the pool, then inferred). docs/throughput.md has the measurements
            behind the defaults and ``benchmarks/thread_split.py`` repeats them on any box.

    One Classifier may be shared by several threads (the native engine serves concurrent
    calls from a pool of runtime instances; the paddle backend serialises them).

    ``predict`` takes one input (path, encoded bytes, or a decoded HxWxC uint8 frame) and
    returns a :class:`Result`, raising :class:`InputError` if it is bad; given a list, it
    returns one Result per item, bad items carrying ``error`` (the rest still answered).
    """

    def __init__(self, model_dir: Optional[Union[str, os.PathLike]] = None, backend: str = "auto",
                 device: str = "cpu", threads: int = 0, batch_size: int = 8, threshold: Optional[float] = None,
                 mode: str = "topk", topk: Optional[int] = None, preprocess: Optional[PreprocessSpec] = None,
                 label_names: Optional[Sequence[str]] = None, options: Optional[RuntimeOptions] = None,
                 decode_threads: int = 0, fast_decode: bool = False, prefetch: int = 1,
                 decode: Optional[imageio.DecodeOptions] = None):
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        if not self.model_dir.is_dir():
            raise ModelError(f"model folder {self.model_dir} does not exist")
        if preprocess is not None and not has_metadata(self.model_dir):
            post = PostprocessSpec(label_names=tuple(label_names)) if label_names else PostprocessSpec()
            self.meta = ModelMeta(arch="unknown", preprocess=preprocess, postprocess=post)
            if threshold is None:
                logging.getLogger("personcls").warning(
                    "%s has no personcls.json: deciding at P(someone) >= %g (PaddleClas's ThreshOutput default); "
                    "pass threshold= (-o PostProcess.ThreshOutput.threshold=...) to choose", self.model_dir,
                    post.threshold)
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
        # A copy: the caller's RuntimeOptions is never written to.
        opts = dataclasses.replace(options or RuntimeOptions(), device=device)
        if threads:
            opts.cpu_threads = int(threads)
        opts.validate()
        self.options = opts
        self.backend = choose_backend(backend, device)
        self.pipeline = create_pipeline(self.backend, self.model_dir, self.meta, opts, int(threads))
        check_model_output(self.pipeline, self.meta, self.model_dir)
        self.postprocessor = Postprocessor(self.meta.postprocess, mode=mode, threshold=threshold, topk=topk,
                                           output_is_probability=self.pipeline.outputs_are_probabilities)
        if decode_threads < 0 or prefetch < 0:
            raise InputError(f"decode_threads and prefetch must be >= 0, got {decode_threads}, {prefetch}")
        self.decode_threads = int(decode_threads) or default_decode_threads()
        self.prefetch = int(prefetch)
        self.fast_decode = bool(fast_decode)
        self.decode = decode or imageio.DEFAULT_DECODE
        self._min_size = self._decode_min_size() if fast_decode else None
        self._host_preprocess = bool(self.pipeline.host_preprocess)
        if self._host_preprocess:
            from .preprocess import Preprocessor

            # One thread per call: inputs are preprocessed one each, in parallel, by the pool.
            self._item_preprocessor = Preprocessor(self.meta.preprocess, threads=1)
        self._pool: Optional[ThreadPoolExecutor] = None
        self._pool_lock = threading.Lock()

    # -- inputs ---------------------------------------------------------------------------
    def _decode_min_size(self):
        """Smallest decoded (w, h) fast decode may produce: :data:`imageio.FAST_DECODE_MARGIN`
        times what the resize needs, so the bilinear resize still does most of the reduction."""
        pre = self.meta.preprocess
        w, h = (pre.resize_short, pre.resize_short) if pre.resize_short > 0 else tuple(pre.resize_size)
        return (w * imageio.FAST_DECODE_MARGIN, h * imageio.FAST_DECODE_MARGIN)

    def _get_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.decode_threads, thread_name_prefix="personcls-decode")
            return self._pool

    def _prepare(self, index: Optional[int], item, name: str, color: str, buf: Optional[np.ndarray],
                 row: int, taken: float) -> _Prepared:
        """One input -> decoded and (on the host) preprocessed into ``buf[row]``. Runs in the
        decode pool; every failure becomes this input's own error."""
        p = _Prepared(index=index, name=name, row=row, taken=taken)
        t0 = time.perf_counter()
        try:
            frame, _ = imageio.load(item, index, self._min_size, self.decode, name=name)
            decoded = not isinstance(item, np.ndarray)
            t1 = time.perf_counter()
            if decoded:
                p.decode_ms = (t1 - t0) * 1e3
            fcolor = "BGR" if decoded else color
            if buf is not None:
                self._item_preprocessor([frame], fcolor, out=buf[row:row + 1])
                p.preprocess_ms = (time.perf_counter() - t1) * 1e3
            else:
                # The pipeline preprocesses a whole chunk in one colour order: present decoded
                # (BGR) frames in the caller's order as zero-copy views.
                p.frame = frame[:, :, ::-1] if fcolor.upper() != color.upper() else frame
        except Exception as e:  # noqa: BLE001 - any failure is this input's, never the batch's
            p.error = _item_error(e, name)
        return p

    def _finish(self, prepared: List[_Prepared], buf: Optional[np.ndarray], color: str) -> List[Result]:
        """Run the model on the good inputs of one batch; results in input order."""
        good = [p for p in prepared if p.error is None]
        out: List[Result] = []
        if good:
            t0 = time.perf_counter()
            if buf is not None:
                batch = buf if len(good) == len(buf) else buf[[p.row for p in good]]
                raw = self.pipeline.infer(batch)
                t1 = time.perf_counter()
                res = self.postprocessor(raw, [p.name for p in good])
            else:
                res, t1 = self._run_frames(good, color)
            t2 = time.perf_counter()
            for p, r in zip(good, res):
                p.result = r
                if r.ok:
                    p.infer_ms = (t1 - t0) * 1e3
                    p.post_ms = (t2 - t1) * 1e3 / len(good)
        done = time.perf_counter()
        for p in prepared:
            r = p.result if p.error is None else Result(source=p.name, error=p.error)
            r.timing = Timing(decode_ms=p.decode_ms, preprocess_ms=p.preprocess_ms, infer_ms=p.infer_ms,
                              postprocess_ms=p.post_ms, latency_ms=(done - p.taken) * 1e3,
                              batch_size=len(good) if r.ok else 0)
            out.append(r)
        return out

    def _run_frames(self, good: List[_Prepared], color: str):
        """Pipelines that preprocess themselves (e.g. on a GPU): one call for the chunk; if it
        refuses a frame, each frame alone so the error lands on the right input."""
        try:
            raw = self.pipeline.run_frames([p.frame for p in good], color)
            t1 = time.perf_counter()
            return self.postprocessor(raw, [p.name for p in good]), t1
        except InputError as e:
            if len(good) == 1:
                return [Result(source=good[0].name, error=_item_error(e, good[0].name))], time.perf_counter()
        res = []
        for p in good:
            res.extend(self._run_frames([p], color)[0])
        return res, time.perf_counter()

    def _stream(self, entries: Iterator[Tuple[int, object, str]], color: str) -> Iterator[Result]:
        """(index, input, name) entries -> Results in input order, pipelined: the decode pool
        reads, decodes and preprocesses the next ``prefetch`` batches while the model runs on
        the current one, so at most ``(prefetch + 1) * batch_size`` inputs are held at once."""
        pool = self._get_pool()
        shape = (3, self.meta.preprocess.crop_size[1], self.meta.preprocess.crop_size[0])
        pending: Deque[Tuple[Optional[np.ndarray], list]] = deque()

        def submit() -> bool:
            chunk = list(itertools.islice(entries, self.batch_size))
            if not chunk:
                return False
            buf = np.empty((len(chunk),) + shape, np.float32) if self._host_preprocess else None
            now = time.perf_counter()
            pending.append((buf, [pool.submit(self._prepare, i, item, name, color, buf, k, now)
                                  for k, (i, item, name) in enumerate(chunk)]))
            return True

        try:
            more = True
            while True:
                while more and len(pending) <= self.prefetch:
                    more = submit()
                if not pending:
                    return
                buf, futures = pending.popleft()
                yield from self._finish([f.result() for f in futures], buf, color)
        finally:
            for _, futures in pending:  # an abandoned iterator: drop the work queued for it
                for f in futures:
                    f.cancel()

    # -- public API -----------------------------------------------------------------------
    def predict(self, inputs, color: str = "BGR", names: Optional[Sequence[str]] = None):
        """One input -> Result (raises InputError on a bad input); a list -> list of Results.

        ``color`` is the channel order of decoded frames you pass in (files and bytes are
        decoded to BGR internally, so leave it "BGR" for them). A list is streamed through
        the pipeline (bounded memory whatever its length); a bad item gets its own error.
        """
        if isinstance(inputs, (list, tuple)):
            return self.predict_batch(inputs, color=color, names=names)
        name = names[0] if names else imageio.display_name(inputs)
        w, h = self.meta.preprocess.crop_size
        buf = np.empty((1, 3, h, w), np.float32) if self._host_preprocess else None
        p = self._prepare(None, inputs, name, color, buf, 0, time.perf_counter())
        r = self._finish([p], buf, color)[0]
        if r.error is not None:
            raise r.error
        return r

    __call__ = predict

    def predict_batch(self, items: Sequence, color: str = "BGR", names: Optional[Sequence[str]] = None) -> List[Result]:
        """A list of inputs -> one Result per input, in order (see :meth:`predict_iter`)."""
        if names is not None and len(names) != len(items):
            raise InputError(f"names has {len(names)} entries for {len(items)} inputs")
        return list(self.predict_iter(items, color=color, names=names))

    def predict_iter(self, items: Iterable, color: str = "BGR", names: Optional[Iterable[str]] = None) -> Iterator[Result]:
        """Stream results for an iterable of inputs (e.g. frames of a video), in input order.

        Inputs are taken lazily: decoding and preprocessing of the next batches run in the
        decode pool while the current batch is inferred. Results are named by the input's
        position in the stream (``<frame 12>``) unless ``names`` gives one per input.
        """
        return self._stream(_entries(items, names), color)
    def close(self) -> None:
        """Stop the decode pool's threads (a later predict starts a new pool)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __del__(self):
        # A Classifier dropped without close() must not leave its idle decode threads behind.
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        w, h = self.meta.preprocess.crop_size
        return (f"Classifier(model_dir='{self.model_dir}', arch={self.meta.arch}, input={w}x{h}, "
                f"backend={self.backend}, device={self.options.device}, batch_size={self.batch_size}, "
                f"decode_threads={self.decode_threads}, fast_decode={self.fast_decode})")
