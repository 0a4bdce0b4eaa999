"""The ``native`` backend (the C++ engine of ``personcls._native``) and ``paddle-cuda``.

``native`` (CPU): one ``_native.Engine`` on the OpenVINO runtime runs fused preprocessing ->
OpenVINO for a whole batch in C++ with the GIL released.

``paddle-cuda`` (GPU, :class:`CudaPaddlePipeline`): the CUDA preprocessing kernel of ``_native``
writes the batch into device memory and hands it to the Python Paddle GPU predictor through
DLPack, without a host round trip. Paddle Inference itself is configured in one place,
``paddle_runtime.build_config``.

Threads: a pipeline may be shared by several threads. The C++ engine keeps a pool of runtime
clones (one compiled model, one infer request per concurrent caller), so concurrent calls run
in parallel; see docs/native_engine.md.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import BackendError
from ..modelfolder import ModelMeta, openvino_files
from . import Pipeline, RuntimeOptions


def _native_module():
    try:
        from .. import _native
    except ImportError as e:  # pragma: no cover - broken installs
        raise BackendError(f"the personcls native extension cannot be imported: {e}") from e
    return _native


def engine_options(meta: ModelMeta, options: RuntimeOptions, threads: int = 0):
    """``_native.EngineOptions``: the fields it shares with ``RuntimeOptions`` copied by name,
    then the engine's own (preprocessing threads, the metadata's class count and input name)."""
    o = _native_module().EngineOptions()
    for f in dataclasses.fields(RuntimeOptions):
        if hasattr(o, f.name):
            setattr(o, f.name, getattr(options, f.name))
    if options.cpu_precision == "int8":
        # int8 chose the folder's quantized IR (create_engine); OpenVINO runs its float parts in fp32
        o.cpu_precision = "fp32"
    o.preprocess_threads = int(threads or options.cpu_threads)
    o.num_classes = int(meta.num_classes)
    o.input_name = meta.input_name
    return o


def create_engine(model_dir: os.PathLike, meta: ModelMeta, options: RuntimeOptions, threads: int = 0):
    """A ``_native.Engine`` over the folder's files, as :func:`personcls.modelfolder.openvino_files`
    resolves them (``cpu_precision="int8"``: the INT8 IR)."""
    files = openvino_files(model_dir, meta, options.model_format, int8_ir=options.cpu_precision == "int8")
    return _native_module().Engine(str(files.model), str(files.weights or ""), meta.preprocess.to_native(),
                                   "openvino", engine_options(meta, options, threads))


class NativePipeline(Pipeline):
    """Frames -> model output in the C++ engine on the CPU (backend ``native``, OpenVINO).
    Bad frames raise ``InputError`` naming the frame (``frame[i]``)."""

    name = "native"

    def __init__(self, model_dir: os.PathLike, meta: ModelMeta, options: Optional[RuntimeOptions] = None,
                 threads: int = 0):
        super().__init__(meta)
        options = options or RuntimeOptions()
        options.validate()
        if options.device != "cpu":
            raise BackendError("backend 'native' runs on the CPU (OpenVINO); on a GPU use backend='paddle' or "
                               "'paddle-cuda' (CUDA preprocessing + the Paddle GPU predictor)")
        self.model_dir = Path(model_dir)
        self.options = options
        self.threads = int(threads or options.cpu_threads)
        _native = _native_module()
        if not hasattr(_native, "Engine"):
            raise BackendError("this build of personcls has no native engine (OpenVINO was not found at build time; "
                               "pip install openvino and rebuild)")
        self._native = _native
        self._params = meta.preprocess.to_native()
        self.engine = create_engine(self.model_dir, meta, options, self.threads)

    def run_frames(self, frames: Sequence[np.ndarray], color: str) -> np.ndarray:
        return self.engine.run(list(frames) if not isinstance(frames, np.ndarray) else frames, color)

    def preprocess(self, frames: Sequence[np.ndarray], color: str) -> np.ndarray:
        """The engine's fused preprocessing alone (host memory), for benchmarks and checks."""
        return self._native.preprocess(list(frames) if not isinstance(frames, np.ndarray) else frames,
                                       self._params, color, self.threads)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.engine.infer(batch)

    def describe(self) -> str:
        return self.engine.description


class CudaPaddlePipeline(Pipeline):
    """Backend ``paddle-cuda`` (GPU): ``_native.preprocess_cuda`` writes the batch into device
    memory, DLPack hands that buffer to Paddle as a GPU tensor, and the Python Paddle GPU
    predictor reads it in place (``PaddleRuntime.infer_device``)."""

    name = "paddle-cuda"
    host_preprocess = False

    def __init__(self, model_dir: os.PathLike, meta: ModelMeta, options: Optional[RuntimeOptions] = None,
                 threads: int = 0):
        super().__init__(meta)
        options = options or RuntimeOptions()
        _native = _native_module()
        if options.device != "gpu":
            raise BackendError("backend 'paddle-cuda' runs on a GPU: pass device='gpu'")
        if not hasattr(_native, "preprocess_cuda"):
            raise BackendError("this build of personcls has no CUDA preprocessing (no CUDA toolkit at build time)")
        if _native.cuda_device_count() <= options.gpu_id:
            raise BackendError(f"no CUDA device {options.gpu_id} is visible (found {_native.cuda_device_count()})")
        from .paddle_runtime import PaddleRuntime, _import_inference

        _import_inference()
        import paddle

        if not paddle.device.is_compiled_with_cuda():
            raise BackendError("device='gpu' needs the GPU build of PaddlePaddle (pip install 'personcls[gpu]')")
        self._native = _native
        self._paddle = paddle
        self.threads = int(threads)
        self.device = int(options.gpu_id)
        self._params = meta.preprocess.to_native()
        self.runtime = PaddleRuntime(model_dir, meta, options)

    def to_device_tensor(self, batch):
        """A ``_native.CudaBatch`` -> a ``paddle.Tensor`` on the same GPU memory (zero copy)."""
        from paddle.utils.dlpack import from_dlpack

        return from_dlpack(batch.to_dlpack())

    def infer_device(self, batch) -> np.ndarray:
        """Model only, on a ``CudaBatch`` (already in device memory)."""
        return self.runtime.infer_device(self.to_device_tensor(batch))

    def run_frames(self, frames: Sequence[np.ndarray], color: str) -> np.ndarray:
        if len(frames) == 0:
            return np.zeros((0, self.meta.num_classes), np.float32)
        batch = self._native.preprocess_cuda(list(frames), self._params, color, self.device)
        return np.asarray(self.infer_device(batch), dtype=np.float32)

    def preprocess(self, frames: Sequence[np.ndarray], color: str) -> np.ndarray:
        return self._native.preprocess(list(frames), self._params, color, self.threads)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.runtime.infer(batch)

    def describe(self) -> str:
        return f"CUDA preprocessing on GPU {self.device} -> DLPack -> Paddle Inference (Python) GPU predictor"
