"""The native engine (personcls._native.Engine on OpenVINO) over real exported models and photos:
loading, results, bad frames, broken model folders, concurrent use from threads, and the GPU
hand-off (skipped without a GPU)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from personcls import BackendError, InputError, ModelError, _native
from personcls.backends import RuntimeOptions, available_backends
from personcls.modelfolder import ModelMeta, openvino_files
from personcls.spec import PostprocessSpec, PreprocessSpec

pytestmark = pytest.mark.skipif(not hasattr(_native, "Engine"),
                                reason="this build has no native engine (OpenVINO not found at build time)")


def options(**kw):
    return _native.EngineOptions(**kw)


def load_folder(d, params, runtime="openvino", opts=None, model_format="auto"):
    """An Engine over the files personcls.modelfolder resolves in folder ``d`` (the engine
    itself is given files and searches nothing)."""
    f = openvino_files(d, None, model_format)
    return _native.Engine(f.model, f.weights, params, runtime, opts)


def test_openvino_is_opened_at_run_time_and_a_bad_library_is_a_clear_error(tmp_path, random_model):
    """The engine opens OpenVINO's C library itself. In a fresh copy of the extension (own
    globals, no openvino package beside it): a path that does not load and a library without
    OpenVINO's functions are BackendErrors naming the path, so is an engine before any library;
    then the openvino package's library loads and the engine runs."""
    import subprocess
    import sys
    import textwrap

    src = Path(_native.__file__)
    iso = tmp_path / "iso"
    iso.mkdir()
    shutil.copy(src, iso / src.name)
    real = _native.openvino_library()
    assert real, "personcls opened no OpenVINO library on import"
    code = textwrap.dedent(f"""
        import importlib.util, sys
        import numpy as np
        from personcls import BackendError
        from personcls.modelfolder import ModelMeta, openvino_files
        spec = importlib.util.spec_from_file_location("personcls._native", {str(iso / src.name)!r})
        m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
        import personcls  # the copy serves personcls, as it is (the package would open OpenVINO for it)
        sys.modules["personcls._native"] = personcls._native = m
        meta = ModelMeta.load({str(random_model)!r}); f = openvino_files({str(random_model)!r}, meta)
        def engine():
            return m.Engine(f.model, f.weights, meta.preprocess.to_native(), "openvino", None)
        for bad, want in (("/nonexistent/libopenvino_c.so.1", "could not be loaded"), ("libm.so.6", "lacks")):
            try:
                m._load_openvino(bad); sys.exit("no error for " + bad)
            except BackendError as e:
                assert bad in str(e) and want in str(e), str(e)
        try:
            engine(); sys.exit("an engine without OpenVINO")
        except BackendError as e:
            assert "libm.so.6" in str(e), str(e)
        assert m.openvino_library() == ""
        m._load_openvino({real!r})
        out = engine().run([np.full((40, 50, 3), 128, np.uint8)], "BGR")
        assert sys.modules["personcls._native"] is m and m.__file__ == {str(iso / src.name)!r}
        print("ok", m.openvino_library(), out.shape)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"ok {real} (1, 2)" in r.stdout, r.stdout


@pytest.fixture(scope="module")
def meta(random_model):
    return ModelMeta.load(random_model)


@pytest.fixture(scope="module")
def engine(random_model, meta):
    return load_folder(random_model, meta.preprocess.to_native(), "openvino",
                       options(num_classes=meta.num_classes))


@pytest.fixture(scope="module")
def frames(demo_dir):
    paths = sorted(demo_dir.glob("*.jpg"))[:6]
    out = [cv2.imread(str(p)) for p in paths]
    assert all(f is not None for f in out)
    return out


def test_build_lists_the_openvino_runtime():
    info = _native.build_info()
    assert "openvino" in info["features"]
    assert info["openvino"]
    assert "native" in available_backends()


def test_engine_loads_the_ir_and_returns_probabilities(engine, frames, meta):
    assert engine.runtime == "openvino"
    assert Path(engine.model_path).name == "inference.xml"  # measured fastest to load, see docs
    assert engine.num_classes == 2 and engine.input_size == meta.preprocess.crop_size
    probs = engine.run(frames)
    assert probs.shape == (len(frames), 2) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # run() == model-only infer() on the same fused preprocessing (the model ends in softmax)
    batch = _native.preprocess(frames, meta.preprocess.to_native(), "BGR")
    np.testing.assert_allclose(engine.infer(batch), probs, atol=1e-6)
    assert engine.run([]).shape == (0, 2)


def test_frame_layouts_and_colour_orders_agree(engine, frames):
    ref = engine.run(frames[:2])
    rgb_views = [f[:, :, ::-1] for f in frames[:2]]  # negative-stride views, no copy
    np.testing.assert_allclose(engine.run(rgb_views, color="RGB"), ref, atol=1e-6)
    same = [cv2.resize(f, (320, 240)) for f in frames[:3]]
    np.testing.assert_allclose(engine.run(np.stack(same)), engine.run(same), atol=1e-6)  # one NHWC array
    np.testing.assert_allclose(engine.run(same[0]), engine.run(same[:1]), atol=1e-6)  # one HWC frame


def test_other_model_formats_give_the_same_numbers(random_model, meta, engine, frames):
    pd = load_folder(random_model, meta.preprocess.to_native(), "openvino", options(num_classes=2), "paddle")
    assert Path(pd.model_path).name == "inference.pdmodel"
    np.testing.assert_allclose(pd.run(frames), engine.run(frames), atol=1e-6)
    tput = load_folder(random_model, meta.preprocess.to_native(), "openvino",
                       options(num_classes=2, performance_hint="throughput", num_streams=2))
    assert "throughput" in tput.description
    np.testing.assert_allclose(tput.run(frames), engine.run(frames), atol=1e-5)


def test_bad_frames_raise_input_error_naming_the_frame(engine, frames):
    good = frames[0]
    cases = [
        (good.astype(np.float32), r"frame\[1\].*dtype float32"),
        (good[:, :, :2].copy(), r"frame\[1\].*2 channels"),
        (np.zeros((0, 0, 3), np.uint8), r"frame\[1\].*empty"),
        (np.zeros((4, 4, 3, 1), np.uint8), r"frame\[1\].*4 dimensions"),
        ("not a frame", r"frame\[1\].*str"),
    ]
    for bad, msg in cases:
        with pytest.raises(InputError, match=msg):
            engine.run([good, bad, good])
    with pytest.raises(InputError, match="color"):
        engine.run([good], color="YUV")
    with pytest.raises(InputError, match="shape"):
        engine.infer(np.zeros((2, 3, 100, 100), np.float32))
    with pytest.raises(InputError):
        engine.infer(np.zeros((2, 224, 224), np.float32))


def test_classifier_answers_the_good_frames_of_a_batch(random_model, frames):
    from personcls.classifier import Classifier

    c = Classifier(random_model, backend="native", batch_size=8)
    assert c.backend == "native"
    res = c.predict([frames[0], frames[1].astype(np.float32), frames[2], np.zeros((5, 5, 2), np.uint8)])
    assert [r.ok for r in res] == [True, False, True, False]
    assert isinstance(res[1].error, InputError) and "float32" in str(res[1].error)
    assert "2 channels" in str(res[3].error)
    with pytest.raises(InputError):
        c.predict(frames[0].astype(np.float32))


def test_missing_and_corrupt_model_files_raise_model_error(random_model, meta, tmp_path):
    params = meta.preprocess.to_native()

    def load(d, model_format="auto", **kw):
        return load_folder(d, params, "openvino", options(num_classes=2, **kw), model_format)

    with pytest.raises(ModelError, match="does not exist"):
        load(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="no model OpenVINO can read"):
        load(empty)

    def copy(name):
        d = tmp_path / name
        shutil.copytree(random_model, d)
        return d

    nobin = copy("nobin")
    (nobin / "inference.bin").unlink()
    with pytest.raises(ModelError, match=r"inference\.bin is missing"):
        load(nobin)
    short = copy("truncated_bin")
    data = (short / "inference.bin").read_bytes()
    (short / "inference.bin").write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelError, match="could not read"):
        load(short)
    garbage = copy("garbage_xml")
    (garbage / "inference.xml").write_text("<net><layers><layer id='0' type='What'")
    with pytest.raises(ModelError, match="could not read"):
        load(garbage)
    badpd = copy("garbage_pdmodel")
    (badpd / "inference.pdmodel").write_bytes(b"\x00\x01not a program" * 50)
    with pytest.raises(ModelError):
        load(badpd, model_format="paddle")
    with pytest.raises(ModelError, match="ONNX model .* is missing"):
        load(random_model, model_format="onnx")
    with pytest.raises(ModelError, match="outputs 2 classes .* lists 3"):
        load_folder(random_model, params, "openvino", options(num_classes=3))
    with pytest.raises(ModelError, match="is missing"):  # the engine takes files, never searches a folder
        _native.Engine(random_model, None, params, "openvino")
    from personcls.classifier import Classifier

    with pytest.raises(ModelError):
        Classifier(short, backend="native")


def test_unknown_runtime_and_options_are_refused(random_model, meta):
    params = meta.preprocess.to_native()
    with pytest.raises(InputError, match="unknown runtime"):
        load_folder(random_model, params, "tflite")
    with pytest.raises(InputError, match="performance_hint"):
        load_folder(random_model, params, "openvino", options(performance_hint="fast"))
    with pytest.raises(InputError, match="cpu_precision"):
        load_folder(random_model, params, "openvino", options(cpu_precision="int4"))
    with pytest.raises(TypeError, match="no option"):
        options(thread=2)
    with pytest.raises(InputError, match="model_format"):
        openvino_files(random_model, None, "tflite")
    with pytest.raises(InputError, match="no Paddle Inference runtime"):  # configured once, in Python
        load_folder(random_model, params, "paddle")


def test_logit_models_get_softmax_once(tmp_path, frames):
    """A real OpenVINO model that outputs logits (mean colour -> linear layer): the engine
    returns them as they are, the Postprocessor (the one place) applies softmax once."""
    import openvino as ov
    import openvino.opset13 as ops

    from personcls.classifier import Classifier

    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 2)).astype(np.float32) * 4
    b = np.array([0.3, -0.2], np.float32)
    x = ops.parameter([-1, 3, 224, 224], np.float32, name="x")
    logits = ops.add(ops.matmul(ops.reduce_mean(x, [2, 3], False), ops.constant(w), False, False), ops.constant(b))
    d = tmp_path / "logits"
    d.mkdir()
    ov.save_model(ov.Model([logits], [x], "mean_colour"), str(d / "inference.xml"), compress_to_fp16=False)
    meta = ModelMeta(arch="mean_colour", preprocess=PreprocessSpec(), postprocess=PostprocessSpec(),
                     output_is_probability=False)
    meta.save(d)

    batch = _native.preprocess(frames, meta.preprocess.to_native(), "BGR")
    z = batch.mean(axis=(2, 3)) @ w + b
    ref = np.exp(z - z.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    e = load_folder(d, meta.preprocess.to_native(), "openvino", options())
    np.testing.assert_allclose(e.infer(batch), z, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(e.run(frames), z, rtol=1e-4, atol=1e-4)
    clf = Classifier(d, backend="native")
    assert not clf.pipeline.outputs_are_probabilities
    res = clf.predict(frames)
    np.testing.assert_allclose([r.person_score for r in res], ref[:, 1], atol=1e-5)
    clf._host_preprocess = False  # the run_frames path: the same single softmax
    np.testing.assert_allclose([r.person_score for r in clf.predict(frames)], ref[:, 1], atol=1e-5)


def test_one_engine_shared_by_threads(engine, frames):
    """Concurrent run() / infer() calls on one Engine give the single-threaded answers."""
    params = engine.params
    jobs = [frames[i:i + 3] for i in range(len(frames) - 2)]
    expected = [engine.run(j) for j in jobs]
    batch = _native.preprocess(frames, params, "BGR")
    expected_infer = engine.infer(batch)
    errors, start = [], threading.Barrier(4)

    def worker(k):
        try:
            start.wait()
            for it in range(6):
                i = (k + it) % len(jobs)
                np.testing.assert_allclose(engine.run(jobs[i]), expected[i], atol=1e-6)
                if it % 3 == 0:
                    np.testing.assert_allclose(engine.infer(batch), expected_infer, atol=1e-6)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    assert 1 <= engine.slots <= 4  # clones made on demand, at most one per concurrent caller


def test_one_classifier_shared_by_threads(random_model, frames):
    from personcls.classifier import Classifier

    c = Classifier(random_model, backend="native", batch_size=4)
    ref = [r.person_score for r in c.predict(frames)]
    out, errors = {}, []

    def worker(k):
        try:
            out[k] = [r.person_score for r in c.predict(frames)]
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    for k in range(3):
        np.testing.assert_allclose(out[k], ref, atol=1e-6)


def _gpu_ready():
    if _native.cuda_device_count() == 0:
        return "no CUDA device visible (or the build has no CUDA preprocessing)"
    try:
        import paddle
    except ImportError:
        return "PaddlePaddle is not installed"
    if not paddle.device.is_compiled_with_cuda():
        return "PaddlePaddle is the CPU build"
    return None


@pytest.mark.gpu
@pytest.mark.skipif(_gpu_ready() is not None, reason=f"GPU hand-off needs a GPU: {_gpu_ready()}")
def test_cuda_preprocessing_hands_device_memory_to_paddle(random_model, meta, frames):  # pragma: no cover - GPU only
    from personcls.backends import create_pipeline

    gpu = create_pipeline("paddle-cuda", random_model, meta, RuntimeOptions(device="gpu"))
    cpu = create_pipeline("paddle", random_model, meta, RuntimeOptions(), 0)
    params = meta.preprocess.to_native()
    dev = _native.preprocess_cuda(frames, params, "BGR", 0)
    np.testing.assert_allclose(dev.numpy(), _native.preprocess(frames, params, "BGR"), atol=1e-5)
    t = gpu.to_device_tensor(dev)  # the DLPack path: the paddle tensor must alias the CUDA buffer
    assert t.place.is_gpu_place() and t.data_ptr() == dev.data_ptr
    np.testing.assert_allclose(gpu.run_frames(frames, "BGR"), cpu.run_frames(frames, "BGR"), atol=1e-4)
