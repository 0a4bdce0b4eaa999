"""Type stub of ``personcls._native``, the C++ extension (cpp/src/bindings*.cpp).

Every call that processes frames or runs a model releases the GIL. C++ errors arrive as
``personcls.errors.InputError`` (bad frame or argument; the message names the frame as
``frame[i]``), ``ModelError`` (missing / unreadable model) or ``BackendError`` (runtime or CUDA
failure).

Parts depend on the build: ``Engine`` / ``EngineOptions`` / ``softmax`` exist when OpenVINO or
Paddle Inference C++ was found at build time; ``CudaBatch`` / ``preprocess_cuda`` when a CUDA
toolkit was found (``cuda_device_count`` always exists and returns 0 without CUDA).
"""

from os import PathLike
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

_Frames = Union[npt.NDArray[np.uint8], Sequence[npt.NDArray[np.uint8]]]
_Path = Union[str, PathLike]

def build_info() -> Dict[str, Any]:
    """What this build contains: ``version``, ``features`` (e.g. ``["cpu-preprocess", "openvino",
    "cuda-preprocess", "paddle-inference"]``), ``openvino`` (version, "" when absent), ``cuda``
    (toolkit version, ""), ``paddle_inference`` (bool), ``cuda_devices`` (seen now),
    ``compiler``, ``hardware_threads``."""

def hardware_threads() -> int: ...
def cuda_device_count() -> int:
    """Usable CUDA devices; 0 without a driver, a device or a CUDA build (never raises)."""

class PreprocessParams:
    """Fused preprocessing parameters; build them with ``PreprocessSpec.to_native()``."""

    resize_short: int
    resize_w: int
    resize_h: int
    crop_w: int
    crop_h: int
    scale: float
    mean: List[float]  # 3 values
    std: List[float]  # 3 values
    model_order: str  # "RGB" | "BGR"
    def __init__(self) -> None: ...
    def validate(self) -> None: ...
    def resized_size(self, width: int, height: int) -> Tuple[int, int]: ...

def preprocess(frames: _Frames, params: PreprocessParams, color: str = "BGR", threads: int = 0,
               out: Optional[npt.NDArray[np.float32]] = None) -> npt.NDArray[np.float32]:
    """uint8 HxWxC frames (a list, or one NHWC / HWC / HW array) in ``color`` order -> float32
    (N, 3, crop_h, crop_w) batch in the model's channel order; ``out`` reuses a buffer."""

class CudaBatch:
    """A float32 NCHW batch in CUDA device memory (freed when the last reference goes)."""

    @property
    def shape(self) -> Tuple[int, int, int, int]: ...
    @property
    def device(self) -> int: ...
    @property
    def data_ptr(self) -> int: ...
    def numpy(self) -> npt.NDArray[np.float32]:
        """Copy to host memory."""
    def to_dlpack(self) -> Any:
        """A ``"dltensor"`` capsule sharing the device memory (zero copy), e.g. for
        ``paddle.utils.dlpack.from_dlpack`` or ``torch.utils.dlpack.from_dlpack``."""
    def __dlpack__(self, stream: Any = None) -> Any: ...
    def __dlpack_device__(self) -> Tuple[int, int]: ...

def preprocess_cuda(frames: _Frames, params: PreprocessParams, color: str = "BGR", device: int = 0) -> CudaBatch:
    """Same as :func:`preprocess` on a CUDA device; the result stays in device memory."""

class EngineOptions:
    """Options of the native engine; each runtime reads the ones that apply to it.
    ``EngineOptions(**fields)`` sets fields by name (unknown names raise TypeError)."""

    runtime: str  # "openvino" | "paddle"
    device: str  # "cpu" | "gpu"
    device_id: int
    threads: int  # inference threads, 0 = runtime default (all cores)
    preprocess_threads: int  # 0 = all cores
    output_is_probability: bool  # False: the engine applies softmax to the model's logits
    num_classes: int  # expected classes (0 = whatever the model says; a mismatch is a ModelError)
    input_name: str
    performance_hint: str  # OpenVINO: "latency" | "throughput" (batch split over CPU streams)
    num_streams: int  # OpenVINO throughput streams, 0 = plugin's choice
    precision: str  # OpenVINO CPU: fp32 | bf16 | fp16; TensorRT: fp32 | fp16 | int8; Paddle CPU: fp32 | bf16
    cache_dir: str  # OpenVINO compiled-model cache; Paddle optimisation / TensorRT engine cache
    max_slots: int  # concurrent calls served in parallel, 0 = 2 x hardware threads
    enable_mkldnn: bool
    mkldnn_cache_capacity: int
    ir_optim: bool
    gpu_mem_mb: int
    use_tensorrt: bool
    min_batch: int
    opt_batch: int
    max_batch: int
    trt_workspace_mb: int
    trt_min_subgraph: int
    trt_calib: bool
    cuda_preprocess: bool  # GPU: preprocess on the device and hand the buffer to the runtime
    def __init__(self, **fields: Any) -> None: ...

class Engine:
    """A model's files loaded for batched inference: fused preprocessing -> runtime -> softmax
    (logit models only), all in C++ with the GIL released. Safe to share between threads: each
    call takes a free runtime clone from an internal pool (made on demand, at most
    ``options.max_slots``; further calls wait)."""

    def __init__(self, model_file: _Path, weights_file: Optional[_Path], params: PreprocessParams,
                 runtime: Optional[str] = None, options: Optional[EngineOptions] = None) -> None:
        """Load exactly these files (``personcls.modelfolder`` resolves a folder's; the engine
        searches nothing). ``weights_file``: None or "" for single-file formats (ONNX)."""
    def run(self, frames: _Frames, color: str = "BGR") -> npt.NDArray[np.float32]:
        """Frames -> float32 (N, num_classes) probabilities."""
    def infer(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Model only: float32 (N, 3, H, W) -> raw (N, num_classes) output (no softmax)."""
    @property
    def num_classes(self) -> int: ...
    @property
    def input_size(self) -> Tuple[int, int]:
        """(width, height) of the network input."""
    @property
    def runtime(self) -> str: ...
    @property
    def model_path(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def load_seconds(self) -> float: ...
    @property
    def slots(self) -> int: ...
    @property
    def cuda_preprocess(self) -> bool: ...
    @property
    def options(self) -> EngineOptions: ...
    @property
    def params(self) -> PreprocessParams: ...

def softmax(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Row-wise softmax of an (N, C) array, the one the engine applies to logit models."""
