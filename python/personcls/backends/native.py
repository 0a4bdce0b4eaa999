"""The ``native`` backend: the C++ engine of ``personcls._native``.

CPU: one ``_native.Engine`` on the OpenVINO runtime runs fused preprocessing -> OpenVINO ->
softmax (for logit models) for a whole batch in C++ with the GIL released.

GPU: the Paddle Inference C++ runtime when the extension was built with it (``PADDLE_INFERENCE_DIR``),
preprocessing on the GPU inside the engine; otherwise the CUDA preprocessing kernel of
``_native`` writes the batch into device memory and hands it to the Python Paddle GPU predictor
through DLPack, without a host round trip (:class:`CudaPaddlePipeline`).

Threads: a pipeline may be shared by several threads. The C++ engine keeps a pool of runtime
clones (one compiled model, one infer request per concurrent caller), so concurrent calls run
in parallel; see docs/native_engine.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import BackendError
from ..modelfolder import ModelFiles, ModelMeta, openvino_files, paddle_files, trt_cache_dir
from . import RuntimeOptions


def _native_module():
    try:
        from .. import _native
    except ImportError as e:  # pragma: no cover - broken installs
        raise BackendError(f"the personcls native extension cannot be imported: {e}") from e
    return _native


def engine_options(meta: ModelMeta, options: RuntimeOptions, threads: int = 0, runtime: str = "openvino",
                   model_dir: Optional[os.PathLike] = None):
    """``RuntimeOptions`` + metadata -> ``_native.EngineOptions`` (the TensorRT cache goes
    beside the model in ``model_dir`` unless ``trt_cache_dir`` says where)."""
    _native = _native_module()
    o = _native.EngineOptions()
    o.runtime = runtime
    o.device = options.device
    o.device_id = int(options.gpu_id)
    o.threads = int(options.cpu_threads)
    o.preprocess_threads = int(threads or options.cpu_threads)
    o.output_is_probability = bool(meta.output_is_probability)
    o.num_classes = int(meta.num_classes)
    o.input_name = meta.input_name
    o.performance_hint = options.performance_hint
    if runtime == "openvino":
        # int8 runs the folder's quantized IR (FakeQuantize nodes); the rest of the graph is fp32.
        o.precision = "fp32" if options.cpu_precision == "int8" else options.cpu_precision
    else:
        # Paddle Inference: TensorRT precision on GPU; oneDNN fp32 / bf16 on CPU.
        o.precision = options.precision if options.device == "gpu" else options.cpu_precision
    o.enable_mkldnn = bool(options.enable_mkldnn)
    o.mkldnn_cache_capacity = int(options.mkldnn_cache_capacity)
    o.ir_optim = bool(options.ir_optim)
    o.gpu_mem_mb = int(options.gpu_mem_mb)
    o.use_tensorrt = bool(options.use_tensorrt)
    o.min_batch, o.opt_batch, o.max_batch = int(options.min_batch), int(options.opt_batch), int(options.max_batch)
    o.trt_workspace_mb = int(options.trt_workspace_mb)
    o.trt_min_subgraph = int(options.trt_min_subgraph)
    o.trt_calib = bool(options.trt_calib)
    if options.trt_cache_dir:
        o.cache_dir = str(options.trt_cache_dir)
    elif runtime == "paddle" and options.use_tensorrt and model_dir is not None:
        o.cache_dir = str(trt_cache_dir(model_dir))
    return o


def runtime_files(model_dir: os.PathLike, meta: ModelMeta, options: RuntimeOptions, runtime: str) -> ModelFiles:
    """The files the engine's ``runtime`` loads from the folder (personcls.modelfolder decides)."""
    if runtime == "paddle":
        return paddle_files(model_dir, meta)
    return openvino_files(model_dir, meta, options.model_format, int8_ir=options.cpu_precision == "int8")


def create_engine(model_dir: os.PathLike, meta: ModelMeta, options: RuntimeOptions, threads: int = 0,
                  runtime: str = "openvino"):
    """A ``_native.Engine`` over the folder's resolved files."""
    files = runtime_files(model_dir, meta, options, runtime)
    return _native_module().Engine(str(files.model), str(files.weights or ""), meta.preprocess.to_native(),
                                   runtime, engine_options(meta, options, threads, runtime, model_dir))


class NativePipeline:
    """Frames -> probabilities in the C++ engine.

    ``run_frames(frames, color)`` -> float32 (N, classes) probabilities (softmax applied by
    the engine when the model outputs logits); ``preprocess`` and ``infer`` expose the two
    halves for benchmarks (model-only timing). Bad frames raise ``InputError`` naming the
    frame (``frame[i]``).
    """

    name = "native"
    #: run_frames() returns probabilities whatever the model outputs (the engine applies softmax)
    outputs_probabilities = True

    def __init__(self, model_dir: os.PathLike, meta: ModelMeta, options: Optional[RuntimeOptions] = None,
                 threads: int = 0, runtime: Optional[str] = None):
        options = options or RuntimeOptions()
        options.validate()
        self.model_dir = Path(model_dir)
        self.meta = meta
        self.options = options
        self.threads = int(threads or options.cpu_threads)
        _native = _native_module()
        if not hasattr(_native, "Engine"):
            raise BackendError("this build of personcls has no native engine (OpenVINO was not found at build time; "
                               "pip install openvino and rebuild)")
        self._native = _native
        self._params = meta.preprocess.to_native()
        self._gpu: Optional[CudaPaddlePipeline] = None
        self.engine = None
        info = _native.build_info()
        if runtime is None:
            runtime = "paddle" if options.device == "gpu" else "openvino"
        if runtime == "paddle" and not info.get("paddle_inference"):
            if options.device != "gpu":
                raise BackendError("this build of personcls has no Paddle Inference C++ runtime (build with "
                                   "PADDLE_INFERENCE_DIR, see docs/native_engine.md); use backend='paddle'")
            # GPU without the C++ Paddle runtime: CUDA preprocessing + the Python Paddle predictor.
            self._gpu = CudaPaddlePipeline(model_dir, meta, options, threads=self.threads)
            self.runtime = "paddle-python+cuda-preprocess"
            return
        self.runtime = runtime
        self.engine = create_engine(self.model_dir, meta, options, self.threads, runtime)

    # -- the pipeline interface of personcls.classifier ------------------------------------
    def run_frames(self, frames: Sequence[np.ndarray], color: str) -> np.ndarray:
        if self._gpu is not None:
            return self._gpu.run_frames(frames, color)
        return self.engine.run(list(frames) if not isinstance(frames, np.ndarray) else frames, color)

    @property
    def host_preprocess(self) -> bool:
        """True when preprocessing runs on the CPU, so a caller may preprocess frames itself
        (in parallel with inference) and hand the batch to :meth:`run_batch`."""
        return self._gpu is None and not self.engine.cuda_preprocess

    def run_batch(self, batch: np.ndarray) -> np.ndarray:
        """A preprocessed (N, 3, H, W) batch -> probabilities, as :meth:`run_frames` returns them."""
        out = np.asarray(self.infer(batch), dtype=np.float32)
        return out if self.meta.output_is_probability else self._native.softmax(out)

    def preprocess(self, frames: Sequence[np.ndarray], color: str) -> np.ndarray:
        """The engine's fused preprocessing alone (host memory), for benchmarks and checks."""
        return self._native.preprocess(list(frames) if not isinstance(frames, np.ndarray) else frames,
                                       self._params, color, self.threads)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Model only: a preprocessed (N, 3, H, W) batch -> the model's raw output."""
        if self._gpu is not None:
            return self._gpu.infer(batch)
        return self.engine.infer(batch)

    def describe(self) -> str:
        if self._gpu is not None:
            return self._gpu.describe()
        return self.engine.description

    def __repr__(self) -> str:
        return f"NativePipeline({self.describe()})"


class CudaPaddlePipeline:
    """GPU path without the Paddle Inference C++ runtime: ``_native.preprocess_cuda`` writes
    the batch into device memory, DLPack hands that buffer to Paddle as a GPU tensor, and the
    Python Paddle GPU predictor reads it in place (``PaddleRuntime.infer_device``)."""

    name = "native"
    outputs_probabilities = True

    def __init__(self, model_dir: os.PathLike, meta: ModelMeta, options: RuntimeOptions, threads: int = 0):
        _native = _native_module()
        if not hasattr(_native, "preprocess_cuda"):
            raise BackendError("this build of personcls has no CUDA preprocessing (no CUDA toolkit at build time)")
        if _native.cuda_device_count() <= options.gpu_id:
            raise BackendError(f"no CUDA device {options.gpu_id} is visible (found {_native.cuda_device_count()})")
        from .paddle_runtime import PaddleRuntime, _import_inference

        _import_inference()
        import paddle

        if not paddle.device.is_compiled_with_cuda():
            raise BackendError("device='gpu' needs the GPU build of PaddlePaddle (pip install 'personcls[gpu]')")
        if options.device != "gpu":
            raise BackendError("CudaPaddlePipeline needs options.device == 'gpu'")
        self._native = _native
        self._paddle = paddle
        self.meta = meta
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

    def _probabilities(self, out: np.ndarray) -> np.ndarray:
        out = np.asarray(out, dtype=np.float32)
        return out if self.meta.output_is_probability else self._native.softmax(out)

    def run_frames(self, frames: Sequence[np.ndarray], color: str) -> np.ndarray:
        if len(frames) == 0:
            return np.zeros((0, self.meta.num_classes), np.float32)
        batch = self._native.preprocess_cuda(list(frames), self._params, color, self.device)
        return self._probabilities(self.infer_device(batch))

    def preprocess(self, frames: Sequence[np.ndarray], color: str) -> np.ndarray:
        return self._native.preprocess(list(frames), self._params, color, self.threads)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.runtime.infer(batch)

    def describe(self) -> str:
        return f"CUDA preprocessing on GPU {self.device} -> DLPack -> Paddle Inference (Python) GPU predictor"
