"""The fused C++ preprocessing against the cv2 + numpy reference of the same steps.

The kernel reproduces OpenCV's INTER_LINEAR fixed-point arithmetic, so the resized pixels
are identical and only float rounding of the normalisation remains. Tolerance: max |diff|
<= 1e-5 in normalised units (one grey level is ~0.017), and mean |diff| <= 1e-6.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from personcls import InputError, PreprocessSpec, _native
from personcls.preprocess import Preprocessor, reference_batch, reference_preprocess


def tolerance(spec: PreprocessSpec):
    return 1e-5, 1e-6


def assert_close(native, ref, spec):
    max_tol, mean_tol = tolerance(spec)
    diff = np.abs(native - ref)
    assert native.shape == ref.shape
    assert diff.max() <= max_tol, f"max diff {diff.max()} > {max_tol}"
    assert diff.mean() <= mean_tol, f"mean diff {diff.mean()} > {mean_tol}"


SPECS = [
    PreprocessSpec(),  # tutorial: short side 256, crop 224, ImageNet mean/std
    PreprocessSpec(resize_short=96, crop_size=96),
    PreprocessSpec(resize_short=0, resize_size=(160, 128), crop_size=(144, 112)),
    PreprocessSpec(resize_short=240, crop_size=(224, 192), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    PreprocessSpec(resize_short=256, crop_size=224, channel_order="BGR"),
]


@pytest.fixture(scope="module")
def frames(demo_dir, data_dir):
    names = ["objects365_02035329.jpg", "cat_720p.jpg", "grace_hopper.jpg", "squat.jpg"]
    out = [cv2.imread(str(demo_dir / n)) for n in names]
    out.append(cv2.imread(str(sorted((data_dir / "vww" / "images").iterdir())[0])))  # 96x96
    assert all(f is not None for f in out)
    return out


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.resize_short}-{s.crop_size}-{s.channel_order}")
def test_matches_reference_on_real_images(frames, spec):
    native = Preprocessor(spec)(frames, "BGR")
    assert native.dtype == np.float32 and native.flags.c_contiguous
    assert_close(native, reference_batch(frames, spec, "BGR"), spec)


def test_rgb_input_and_views(frames):
    spec = PreprocessSpec()
    pp = Preprocessor(spec)
    img = frames[1]
    ref = reference_preprocess(img, spec, "BGR")
    rgb_view = img[:, :, ::-1]                                   # negative channel stride
    assert_close(pp([rgb_view], "RGB")[0], ref, spec)
    big = np.zeros((img.shape[0] + 20, img.shape[1] * 2, 3), np.uint8)
    big[10:-10, ::2] = img
    strided = big[10:-10, ::2]                                   # row padding + pixel step 6
    assert not strided.flags.c_contiguous
    assert_close(pp([strided])[0], ref, spec)
    flipped = img[::-1, ::-1]                                    # negative row/pixel strides
    assert_close(pp([flipped])[0], reference_preprocess(np.ascontiguousarray(flipped), spec), spec)
    fortran = np.asfortranarray(img)
    assert_close(pp([fortran])[0], ref, spec)


def test_grey_bgra_and_nhwc_batch(frames):
    spec = PreprocessSpec()
    pp = Preprocessor(spec)
    grey = cv2.cvtColor(frames[0], cv2.COLOR_BGR2GRAY)
    assert_close(pp([grey])[0], reference_preprocess(grey, spec), spec)
    bgra = cv2.cvtColor(frames[0], cv2.COLOR_BGR2BGRA)
    assert_close(pp([bgra])[0], reference_preprocess(frames[0], spec), spec)
    nhwc = np.stack([frames[1], frames[1][:, ::-1]])
    out = pp(nhwc)
    assert out.shape == (2, 3, 224, 224)
    assert_close(out, reference_batch(list(nhwc), spec), spec)


def test_threads_give_identical_results(frames):
    spec = PreprocessSpec()
    one = Preprocessor(spec, threads=1)(frames)
    many = Preprocessor(spec, threads=4)(frames)
    np.testing.assert_array_equal(one, many)


def test_out_buffer_is_filled_in_place(frames):
    spec = PreprocessSpec()
    out = np.empty((2, 3, 224, 224), np.float32)
    res = Preprocessor(spec)(frames[:2], out=out)
    assert np.shares_memory(res, out)
    with pytest.raises(InputError, match="out must be"):
        Preprocessor(spec)(frames[:3], out=out)


@pytest.mark.parametrize("bad, msg", [
    (np.zeros((10, 10, 3), np.float64), r"frame\[1\] has dtype float64"),
    (np.zeros((10, 10, 2), np.uint8), r"frame\[1\] has 2 channels"),
    (np.zeros((0, 10, 3), np.uint8), r"frame\[1\] is empty"),
    (np.zeros((4, 10, 10, 3), np.uint8)[0, :, :, 0][None], r"frame\[1\] has 3 dimensions|frame\[1\]"),
    ("not an array", r"frame\[1\] is a str"),
])
def test_bad_frames_name_the_frame(frames, bad, msg):
    with pytest.raises(InputError, match=msg):
        Preprocessor(PreprocessSpec())([frames[0], bad])


def test_bad_params_and_color(frames):
    with pytest.raises(ValueError):
        PreprocessSpec(resize_short=100, crop_size=224)
    p = PreprocessSpec().to_native()
    p.resize_short = 10
    with pytest.raises(InputError, match="smaller than the crop"):
        _native.preprocess([frames[0]], p)
    with pytest.raises(InputError, match="color must be"):
        _native.preprocess([frames[0]], PreprocessSpec().to_native(), "YUV")


def test_gil_is_released_during_the_work(frames):
    pp = Preprocessor(PreprocessSpec(), threads=1)
    batch = [frames[1]] * 64  # ~50 ms of native work on one thread
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.02)
    before = counter[0]
    t0 = time.perf_counter()
    pp(batch)
    elapsed = time.perf_counter() - t0
    during = counter[0] - before
    stop.set()
    t.join()
    # With the GIL held for the whole call, the spinning thread could not run at all while
    # the main thread was inside the extension.
    assert during > 1000, f"only {during} increments in {elapsed * 1e3:.0f} ms"


def test_build_info_reports_features():
    info = _native.build_info()
    assert "cpu-preprocess" in info["features"]
    assert isinstance(info["cuda_devices"], int)


@pytest.mark.gpu
@pytest.mark.skipif(_native.cuda_device_count() == 0, reason="no CUDA device (or no CUDA build)")
def test_cuda_matches_cpu(frames):
    spec = PreprocessSpec()
    pp = Preprocessor(spec)
    cpu = pp(frames)
    gpu = pp.cuda(frames).numpy()
    assert_close(gpu, cpu, spec)


@pytest.mark.parametrize("spec", SPECS, ids=range(len(SPECS)))
def test_paddleclas_ops_round_trip(spec):
    """to_paddleclas_ops (benchmarks/vs_paddleclas.py sets up the paddleclas package with it)
    reads back as the same spec; a BGR model has no PaddleClas form (its predictor feeds RGB)."""
    if spec.channel_order == "BGR":
        with pytest.raises(ValueError, match="RGB"):
            spec.to_paddleclas_ops()
    else:
        assert PreprocessSpec.from_paddleclas_ops(spec.to_paddleclas_ops()) == spec
