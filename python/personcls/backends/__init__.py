"""Inference runtimes behind one small interface, found at run time.

A runtime takes a preprocessed float32 NCHW batch and returns the model's (N, classes)
output. ``available_backends()`` lists the ones usable in this environment.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence


@dataclass
class RuntimeOptions:
    """Options of every runtime; each uses the ones that apply to it.

    device: "cpu" or "gpu" (``gpu_id`` picks the card). cpu_threads: 0 = all cores.
    TensorRT (Paddle, GPU only): ``use_tensorrt``, ``precision`` fp32/fp16/int8, dynamic
    batch from ``min_batch`` to ``max_batch`` (optimised for ``opt_batch``), a serialized
    engine cache in ``trt_cache_dir`` so engines are built once, ``trt_workspace_mb``,
    ``trt_min_subgraph``. INT8 needs calibration data in the cache dir (``trt_calib``).
    Native engine on CPU (OpenVINO): ``cpu_precision`` fp32 (default; matches Paddle to
    ~1e-6) or bf16 / fp16 (faster where the CPU has them, scores move by up to ~3e-2; a
    BackendError where it has not, see :func:`cpu_precisions`), or
    int8 (the folder's INT8 IR from ``personcls quantize``; its measured agreement is in
    personcls.json),
    ``performance_hint`` latency / throughput, ``model_format`` auto / ir / onnx / paddle.
    """

    device: str = "cpu"
    gpu_id: int = 0
    gpu_mem_mb: int = 500
    cpu_threads: int = 0
    enable_mkldnn: bool = True
    mkldnn_cache_capacity: int = 10
    ir_optim: bool = True
    use_tensorrt: bool = False
    precision: str = "fp32"
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
        if self.precision not in ("fp32", "fp16", "int8"):
            raise InputError(f"precision must be fp32, fp16 or int8, got {self.precision!r}")
        if not (1 <= self.min_batch <= self.opt_batch <= self.max_batch):
            raise InputError(f"need 1 <= min_batch <= opt_batch <= max_batch, got "
                             f"{self.min_batch}, {self.opt_batch}, {self.max_batch}")
        if self.device == "cpu" and (self.use_tensorrt or self.precision != "fp32"):
            raise InputError(f"TensorRT (use_tensorrt={self.use_tensorrt}, precision={self.precision!r}) needs "
                             f"device='gpu'; on CPU the precision is cpu_precision")
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


def _has(mod: str) -> bool:
    try:
        return importlib.util.find_spec(mod) is not None
    except (ImportError, ValueError):
        return False


def available_backends() -> List[str]:
    """Backends usable here, fastest first: "native" (C++ engine, OpenVINO inside) when the
    extension was built with it, "paddle" when paddlepaddle(-gpu) is installed."""
    out = []
    try:
        from .. import _native

        if hasattr(_native, "Engine"):
            out.append("native")
    except ImportError:
        pass
    if _has("paddle"):
        out.append("paddle")
    return out
