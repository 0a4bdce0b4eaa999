"""The ``paddle`` backend: Paddle Inference through ``paddle.inference`` (CPU + oneDNN; GPU +
TensorRT), after the native fused preprocessing on the host."""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import BackendError, ModelError
from ..modelfolder import ModelMeta, paddle_files, trt_cache_dir
from . import Pipeline, RuntimeOptions


def _import_inference():
    try:
        with warnings.catch_warnings():  # paddle warns about ccache at import time
            warnings.simplefilter("ignore")
            import paddle.inference as pi
    except ImportError as e:
        raise BackendError("the 'paddle' backend needs PaddlePaddle: pip install 'personcls[paddle]' "
                           "(CPU) or 'personcls[gpu]' (NVIDIA GPU)") from e
    return pi


def build_config(model_dir: os.PathLike, meta: ModelMeta, opt: RuntimeOptions):
    """A ``paddle.inference.Config`` for the model folder and options (no predictor yet)."""
    opt.validate()
    pi = _import_inference()
    prog, params = paddle_files(model_dir, meta)
    config = pi.Config(str(prog), str(params))
    config.disable_glog_info()
    config.switch_ir_optim(opt.ir_optim)
    if opt.device == "gpu":
        import paddle

        if not paddle.device.is_compiled_with_cuda():
            raise BackendError("device='gpu' needs a CUDA build of PaddlePaddle (pip install 'personcls[gpu]'); "
                               f"the installed paddle {paddle.__version__} is CPU-only")
        config.enable_use_gpu(opt.gpu_mem_mb, opt.gpu_id)
        # Memory reuse is safe on GPU; on CPU it breaks predictors of PIR programs.
        config.enable_memory_optim()
        if opt.use_tensorrt:
            precision = {
                "fp32": pi.PrecisionType.Float32,
                "fp16": pi.PrecisionType.Half,
                "int8": pi.PrecisionType.Int8,
            }[opt.trt_precision]
            cache = trt_cache_dir(model_dir, opt.trt_cache_dir)
            cache.mkdir(parents=True, exist_ok=True)
            # Serialized engines land in the cache folder and are reused by later starts.
            config.set_optim_cache_dir(str(cache))
            try:
                config.enable_tensorrt_engine(
                    workspace_size=opt.trt_workspace_mb << 20,
                    max_batch_size=opt.max_batch,
                    min_subgraph_size=opt.trt_min_subgraph,
                    precision_mode=precision,
                    use_static=True,
                    use_calib_mode=(opt.trt_precision == "int8" and opt.trt_calib),
                )
            except Exception as e:  # Paddle raises its own types when built without TensorRT
                raise BackendError(f"TensorRT is not usable with this PaddlePaddle ({paddle.__version__}): {e}") from e
            w, h = meta.preprocess.crop_size
            name = meta.input_name
            config.set_trt_dynamic_shape_info(
                {name: [opt.min_batch, 3, h, w]},
                {name: [opt.max_batch, 3, h, w]},
                {name: [opt.opt_batch, 3, h, w]},
            )
    else:
        if opt.cpu_precision != "fp32":
            # Paddle Inference here runs fp32 on CPU; a quiet fp32 run would not be what was asked.
            raise BackendError(f"cpu_precision={opt.cpu_precision!r} is a native-engine option; the paddle backend "
                               f"computes in fp32 on CPU. Use backend='native' or cpu_precision='fp32'")
        config.disable_gpu()
        threads = opt.cpu_threads or os.cpu_count() or 1
        config.set_cpu_math_library_num_threads(threads)
        if opt.enable_mkldnn:
            config.enable_mkldnn()
            config.set_mkldnn_cache_capacity(opt.mkldnn_cache_capacity)
    return config


def _declared_input_shape(prog: Path) -> list:
    """The input shape a legacy program declares (export writes [-1, 3, H, W]); [] when it
    cannot be read (a PIR program, an unknown protobuf layout): then there is nothing to check."""
    try:
        from paddle.base.proto import framework_pb2

        desc = framework_pb2.ProgramDesc()
        desc.ParseFromString(prog.read_bytes())
        block = desc.blocks[0]
        feeds = [op.outputs[0].arguments[0] for op in block.ops if op.type == "feed"]
        for v in block.vars:
            if len(feeds) == 1 and v.name == feeds[0]:
                for kind in ("dense_tensor", "lod_tensor"):  # renamed in Paddle 3
                    if kind in {f.name for f in v.type.DESCRIPTOR.fields} and v.type.HasField(kind):
                        return list(getattr(v.type, kind).tensor.dims)
    except Exception:  # noqa: BLE001 - best effort; the probe inference still checks the output
        pass
    return []


class PaddleRuntime:
    """One predictor; ``infer`` is serialised by a lock (use ``clone()`` per thread to run
    in parallel)."""

    name = "paddle"

    def __init__(self, model_dir: os.PathLike, meta: ModelMeta, options: Optional[RuntimeOptions] = None,
                 _predictor=None):
        self.model_dir = Path(model_dir)
        self.meta = meta
        self.options = options or RuntimeOptions()
        pi = _import_inference()
        if _predictor is None:
            config = build_config(model_dir, meta, self.options)
            try:
                _predictor = pi.create_predictor(config)
            except Exception as e:  # Paddle raises its own exception types
                raise ModelError(f"Paddle Inference could not load the model in {model_dir}: {e}") from e
        self._predictor = _predictor
        self._lock = threading.Lock()
        names = self._predictor.get_input_names()
        if len(names) != 1:
            raise ModelError(f"{model_dir}: expected one model input, found {names}")
        self._in = self._predictor.get_input_handle(names[0])
        shape = _declared_input_shape(paddle_files(self.model_dir, meta).model)
        w, h = meta.preprocess.crop_size
        if len(shape) == 4 and any(s > 0 and s != want for s, want in zip(shape[1:], (3, h, w))):
            raise ModelError(f"{model_dir}: the model's input is {shape} but the metadata says [N, 3, {h}, {w}] "
                             f"(crop_size / input.shape in personcls.json do not belong to this model)")
        self._out = self._predictor.get_output_handle(self._predictor.get_output_names()[0])

    def clone(self) -> "PaddleRuntime":
        return PaddleRuntime(self.model_dir, self.meta, self.options, _predictor=self._predictor.clone())

    def infer(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            try:
                self._in.reshape(list(batch.shape))
                self._in.copy_from_cpu(batch)
                self._predictor.run()
                return self._out.copy_to_cpu()
            except Exception as e:
                raise BackendError(f"Paddle Inference failed on a batch of shape {batch.shape}: {e}") from e

    def infer_device(self, tensor) -> np.ndarray:
        """Run on a batch already in GPU memory (a ``paddle.Tensor``, e.g. from DLPack of a
        ``CudaBatch``) without a host round-trip."""
        with self._lock:
            try:
                self._in.share_external_data(tensor)
                self._predictor.run()
                return self._out.copy_to_cpu()
            except Exception as e:
                raise BackendError(f"Paddle Inference failed on a device batch: {e}") from e


class PaddlePipeline(Pipeline):
    """Backend ``paddle``: the native fused preprocessing (host) + one :class:`PaddleRuntime`."""

    name = "paddle"
    host_preprocess = True

    def __init__(self, model_dir: os.PathLike, meta: ModelMeta, options: Optional[RuntimeOptions] = None,
                 threads: int = 0):
        from ..preprocess import Preprocessor

        super().__init__(meta)
        self.runtime = PaddleRuntime(model_dir, meta, options)
        self.preprocessor = Preprocessor(meta.preprocess, threads=threads)

    def preprocess(self, frames, color: str) -> np.ndarray:
        return self.preprocessor(list(frames), color)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.runtime.infer(batch)

    def describe(self) -> str:
        o = self.runtime.options
        where = f"GPU {o.gpu_id}" + (f" TensorRT {o.trt_precision}" if o.use_tensorrt else "") if o.device == "gpu" \
            else f"CPU threads={o.cpu_threads or os.cpu_count()}" + (" oneDNN" if o.enable_mkldnn else "")
        return f"Paddle Inference (Python) {where}"
