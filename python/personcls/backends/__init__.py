"""Inference backends behind one declared interface, :class:`Pipeline`.

A pipeline turns uint8 frames into the model's raw (N, classes) output: ``preprocess`` (frames ->
float32 NCHW batch), ``infer`` (batch -> output), ``run_frames`` (both), ``describe``; and says
whether that output is already probabilities (``outputs_are_probabilities``). Softmax, where a
model outputs logits, is applied in one place: :class:`personcls.postprocess.Postprocessor`.

Backends, and the order ``backend="auto"`` tries them in (:data:`BACKEND_PREFERENCE`, per device;
:func:`available_backends` lists the usable ones in that order):

- ``native`` (``backends/native.py``): the C++ engine on the CPU (OpenVINO).
- ``paddle`` (``backends/paddle_runtime.py``): Python Paddle Inference (CPU + oneDNN, GPU +
  TensorRT) after the native fused preprocessing on the host. Paddle Inference is configured in
  this one place (``build_config``).
- ``paddle-cuda`` (``backends/native.py``): GPU only: the CUDA preprocessing kernel writes the
  batch into device memory and hands it to the Python Paddle GPU predictor through DLPack.
"""

from __future__ import annotations

import abc
import importlib.util
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ..modelfolder import ModelMeta


@dataclass
class RuntimeOptions:
    """The runtime options: one object, whose field names are the only names (the inference YAML
    maps its keys onto them in ``personcls.inference_config.KEYS``; the native engine's
    ``EngineOptions`` shares the names of the fields it uses).

    device: "cpu" or "gpu" (``gpu_id`` picks the card). cpu_threads: 0 = all cores.
    Paddle Inference (``paddle`` / ``paddle-cuda`` backends): ``gpu_mem_mb``, ``enable_mkldnn``,
    ``mkldnn_cache_capacity``, ``ir_optim``; TensorRT (GPU only): ``use_tensorrt``,
    ``trt_precision`` fp32 / fp16 / int8 (TensorRT's INT8), dynamic batch from ``min_batch`` to
    ``max_batch`` (optimised for ``opt_batch``), a serialized engine cache in ``trt_cache_dir``
    so engines are built once, ``trt_workspace_mb``, ``trt_min_subgraph``; TensorRT INT8
    calibration data in the cache dir (``trt_calib``).
    Native engine on CPU (OpenVINO): ``cpu_precision`` fp32 (default; matches Paddle to ~1e-6)
    or bf16 / fp16 (faster where the CPU has them, scores move by up to ~3e-2; a BackendError
    where it has not, see :func:`cpu_precisions`), or int8: the folder's INT8 IR from
    ``personcls quantize`` (its measured agreement is in personcls.json);
    ``performance_hint`` latency / throughput, ``model_format`` auto / ir / onnx / paddle
    (which file of the folder OpenVINO reads, :func:`personcls.modelfolder.openvino_files`).
    """

    device: str = "cpu"
    gpu_id: int = 0
    gpu_mem_mb: int = 500
    cpu_threads: int = 0
    enable_mkldnn: bool = True
    mkldnn_cache_capacity: int = 10
    ir_optim: bool = True
    use_tensorrt: bool = False
    trt_precision: str = "fp32"
    min_batch: int = 1
    opt_batch: int = 8
    max_batch: int = 32
    trt_workspace_mb: int = 1024
    trt_min_subgraph: int = 3
    trt_cache_dir: Optional[str] = None
    trt_calib: bool = False
    cpu_precision: str = "fp32"
    performance_hint: str = "latency"
    model_format: str = "auto"

    def validate(self) -> None:
        from ..errors import InputError

        if self.device not in ("cpu", "gpu"):
            raise InputError(f"device must be 'cpu' or 'gpu', got {self.device!r}")
        if self.trt_precision not in ("fp32", "fp16", "int8"):
            raise InputError(f"trt_precision must be fp32, fp16 or int8, got {self.trt_precision!r}")
        if not (1 <= self.min_batch <= self.opt_batch <= self.max_batch):
            raise InputError(f"need 1 <= min_batch <= opt_batch <= max_batch, got "
                             f"{self.min_batch}, {self.opt_batch}, {self.max_batch}")
        if self.device == "cpu" and (self.use_tensorrt or self.trt_precision != "fp32"):
            raise InputError(f"TensorRT (use_tensorrt={self.use_tensorrt}, trt_precision={self.trt_precision!r}) "
                             f"needs device='gpu'; on CPU the precision is cpu_precision")
        if self.cpu_threads < 0:
            raise InputError(f"cpu_threads must be >= 0, got {self.cpu_threads}")
        if self.cpu_precision not in ("fp32", "bf16", "fp16", "int8"):
            raise InputError(f"cpu_precision must be fp32, bf16, fp16 or int8, got {self.cpu_precision!r}")
        if self.performance_hint not in ("latency", "throughput"):
            raise InputError(f"performance_hint must be latency or throughput, got {self.performance_hint!r}")
        from ..modelfolder import MODEL_FORMATS

        if self.model_format not in MODEL_FORMATS:
            raise InputError(f"model_format must be one of {', '.join(MODEL_FORMATS)}, got {self.model_format!r}")


#: CPU instruction sets that change numerics or speed of the runtimes (from /proc/cpuinfo)
ISA_FLAGS = ("avx2", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8")


def machine_info(packages: Sequence[str] = ("personcls", "openvino", "numpy", "opencv-python-headless")) -> Dict:
    """The CPU and package versions a measured figure came from (recorded beside figures
    that depend on them, e.g. the INT8 agreement in personcls.json)."""
    import platform
    from importlib import metadata

    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                if key.strip() == "model name" and cpu in ("", platform.machine()):
                    cpu = val.strip()
                elif key.strip() == "flags":
                    flags = set(val.split())
                    break
    except OSError:
        pass
    info: Dict = {"cpu": cpu, "isa": [f for f in ISA_FLAGS if f in flags]}
    if os.environ.get("ONEDNN_MAX_CPU_ISA"):
        info["onednn_max_cpu_isa"] = os.environ["ONEDNN_MAX_CPU_ISA"]
    versions = {}
    for p in packages:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    info["versions"] = versions
    return info


def cpu_precisions() -> List[str]:
    """cpu_precision values the native engine can honour on this CPU (OpenVINO's view:
    fp32 and int8 always; bf16 / fp16 only with the instructions for them)."""
    out = ["fp32", "int8"]
    try:
        import openvino as ov

        caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - no OpenVINO, no CPU plugin: nothing more to offer
        return out
    out += [p for p, cap in (("bf16", "BF16"), ("fp16", "FP16")) if cap in caps]
    return out


class Pipeline(abc.ABC):
    """What every backend implements (the Classifier and the benchmarks use nothing else).

    ``host_preprocess``: preprocessing runs on the CPU into host memory, so the Classifier may
    preprocess each input itself in its decode pool and call :meth:`infer` on the batch; False
    for pipelines that preprocess on a device (they get :meth:`run_frames`).
    ``outputs_are_probabilities``: what :meth:`infer` / :meth:`run_frames` return is already
    probabilities (the model ends in softmax, as exported ones do); otherwise logits, and the
    Postprocessor applies softmax. Bad frames raise ``InputError`` naming the frame.
    """

    name: str = ""
    host_preprocess: bool = True

    def __init__(self, meta: "ModelMeta"):
        self.meta = meta

    @property
    def outputs_are_probabilities(self) -> bool:
        return bool(self.meta.output_is_probability)

    @abc.abstractmethod
    def preprocess(self, frames: Sequence[np.ndarray], color: str) -> np.ndarray:
        """uint8 HxWxC frames in ``color`` order -> float32 (N, 3, H, W) batch (host memory)."""

    @abc.abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """A preprocessed (N, 3, H, W) batch -> the model's raw (N, classes) output."""

    def run_frames(self, frames: Sequence[np.ndarray], color: str) -> np.ndarray:
        """Frames -> the model's raw (N, classes) output."""
        return self.infer(self.preprocess(frames, color))

    @abc.abstractmethod
    def describe(self) -> str:
        """Runtime, device, precision ... for logs and benchmark reports."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


#: ``backend="auto"`` takes the first usable backend of this order for the device. CPU: the
#: native engine first (measured faster, docs/throughput.md). GPU: Paddle Inference (TensorRT
#: from the pip wheel), then CUDA preprocessing handed to the same predictor (neither measured
#: here: no GPU on the build machines).
BACKEND_PREFERENCE: Dict[str, Tuple[str, ...]] = {"cpu": ("native", "paddle"),
                                                  "gpu": ("paddle", "paddle-cuda")}
BACKENDS = ("native", "paddle", "paddle-cuda")


def _has(mod: str) -> bool:
    try:
        return importlib.util.find_spec(mod) is not None
    except (ImportError, ValueError):
        return False


def _usable(backend: str, device: str) -> bool:
    """Whether this install can build ``backend`` on ``device`` (cheap checks: no runtime starts)."""
    try:
        from .. import _native
    except ImportError:
        _native = None
    if backend == "native":
        # the engine, and OpenVINO's C library opened for it (personcls._import_native)
        return device == "cpu" and _native is not None and hasattr(_native, "Engine") and bool(_native.openvino_library())
    if backend == "paddle":
        return _has("paddle")
    if backend == "paddle-cuda":
        return device == "gpu" and _native is not None and hasattr(_native, "preprocess_cuda") and _has("paddle")
    return False


def available_backends(device: str = "cpu") -> List[str]:
    """Backends usable here on ``device``, in :data:`BACKEND_PREFERENCE` order."""
    if device not in BACKEND_PREFERENCE:
        from ..errors import InputError

        raise InputError(f"device must be 'cpu' or 'gpu', got {device!r}")
    return [b for b in BACKEND_PREFERENCE[device] if _usable(b, device)]


def choose_backend(backend: Union[str, Sequence[str]], device: str = "cpu") -> str:
    """``backend`` as named; ``"auto"``: the first usable one of :data:`BACKEND_PREFERENCE`;
    a sequence of names: the first usable one of that order."""
    from ..errors import BackendError

    if isinstance(backend, str) and backend != "auto":
        if backend not in BACKENDS:
            raise BackendError(f"unknown backend {backend!r}; available here: {available_backends(device)}")
        return backend
    order = BACKEND_PREFERENCE.get(device, ()) if backend == "auto" else tuple(backend)
    unknown = [b for b in order if b not in BACKENDS]
    if unknown:
        raise BackendError(f"unknown backend(s) {unknown}; known: {list(BACKENDS)}")
    usable = available_backends(device)
    for b in order:
        if b in usable:
            return b
    raise BackendError(f"no inference backend of {list(order)} is available on {device}: install openvino (native "
                       f"engine) or paddlepaddle (pip install 'personcls[paddle]')")


def create_pipeline(backend: str, model_dir: os.PathLike, meta: "ModelMeta", options: RuntimeOptions,
                    threads: int = 0) -> Pipeline:
    """The :class:`Pipeline` of one named backend (see :func:`choose_backend` for "auto")."""
    from ..errors import BackendError

    if backend == "paddle":
        from .paddle_runtime import PaddlePipeline

        return PaddlePipeline(model_dir, meta, options, threads)
    if backend in ("native", "paddle-cuda"):
        try:
            from .native import CudaPaddlePipeline, NativePipeline
        except ImportError as e:
            raise BackendError(f"the native engine is not available in this build: {e}") from e
        cls = NativePipeline if backend == "native" else CudaPaddlePipeline
        return cls(model_dir, meta, options, threads=threads)
    raise BackendError(f"unknown backend {backend!r}; available here: {available_backends(options.device)}")
