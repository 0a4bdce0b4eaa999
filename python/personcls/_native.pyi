"""Type stub of ``personcls._native``, the C++ extension (cpp/src/bindings*.cpp).

Every call that processes frames or runs a model releases the GIL. C++ errors arrive as
``personcls.errors.InputError`` (bad frame or argument; the message names the frame as
``frame[i]``), ``ModelError`` (missing / unreadable model) or ``BackendError`` (runtime or CUDA
failure).

Parts depend on the build: ``Engine`` / ``EngineOptions`` exist when OpenVINO was found at
build time; ``CudaBatch`` / ``preprocess_cuda`` when a CUDA
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
    "cuda-preprocess"]``), ``openvino`` (version, "" when absent), ``cuda`` (toolkit version, ""),
    ``cuda_devices`` (seen now), ``compiler``, ``hardware_threads``."""

def hardware_threads() -> int: ...
def _load_openvino(path: str) -> None:
    """Load OpenVINO's C library (``libopenvino_c.so.*``) for the engine; once per process (builds
    with the ``openvino`` feature only; ``personcls`` calls it on import)."""
def openvino_library() -> str:
    """The OpenVINO C library the engine uses ("" before it is loaded)."""
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
    """Options of the native engine. The fields it shares with ``personcls.backends.RuntimeOptions``
    (``cpu_threads``, ``cpu_precision``, ``performance_hint``) carry the same names and are copied
    by name (``backends.native.engine_options``); the rest are the engine's own.
    ``EngineOptions(**fields)`` sets fields by name (unknown names raise TypeError)."""

    runtime: str  # "openvino" (the only runtime of the engine)
    cpu_threads: int  # inference threads, 0 = runtime default (all cores)
    cpu_precision: str  # OpenVINO inference precision: fp32 | bf16 | fp16
    performance_hint: str  # OpenVINO: "latency" | "throughput" (batch split over CPU streams)
    preprocess_threads: int  # 0 = all cores
    num_classes: int  # expected classes (0 = whatever the model says; a mismatch is a ModelError)
    input_name: str
    num_streams: int  # OpenVINO throughput streams, 0 = plugin's choice
    cache_dir: str  # OpenVINO compiled-model cache ("" = none)
    max_slots: int  # concurrent calls served in parallel, 0 = 2 x hardware threads
    def __init__(self, **fields: Any) -> None: ...

class Engine:
    """A model's files loaded for batched inference: fused preprocessing -> runtime, all in C++
    with the GIL released (raw model output; personcls.postprocess.Postprocessor applies softmax
    to logit models, the one place that does). Safe to share between threads: each
    call takes a free runtime clone from an internal pool (made on demand, at most
    ``options.max_slots``; further calls wait)."""

    def __init__(self, model_file: _Path, weights_file: Optional[_Path], params: PreprocessParams,
                 runtime: Optional[str] = None, options: Optional[EngineOptions] = None) -> None:
        """Load exactly these files (``personcls.modelfolder`` resolves a folder's; the engine
        searches nothing). ``weights_file``: None or "" for single-file formats (ONNX)."""
    def run(self, frames: _Frames, color: str = "BGR") -> npt.NDArray[np.float32]:
        """Frames -> float32 (N, num_classes) model output."""
    def infer(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Model only: float32 (N, 3, H, W) -> raw (N, num_classes) output."""
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
    def options(self) -> EngineOptions: ...
    @property
    def params(self) -> PreprocessParams: ...
