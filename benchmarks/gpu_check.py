#!/usr/bin/env python3
"""GPU check of the CUDA preprocessing: same numbers as the CPU kernel, speed, zero-copy DLPack.

Prepared for a GPU machine that has CUDA, PyTorch and OpenCV but neither Paddle nor OpenVINO
(PyTorch stands in as the DLPack consumer; the Paddle hand-off uses the same capsule). Steps:

1. for several preprocessing specs, ``preprocess_cuda(frames).numpy()`` against
   ``preprocess(frames)`` on real photos: max and mean |diff| (they share pixel.h, so the
   expected difference is float rounding only; the check fails above 1e-4);
2. time both at batch 1, 8 and 32 of 1280x720 frames (CPU: all cores; CUDA: upload + kernel
   + synchronise, the batch left in device memory), median of repeated calls;
3. hand a CudaBatch to PyTorch through DLPack (``to_dlpack()`` capsule and ``__dlpack__``):
   the tensor must alias the same device memory (equal data pointers) and hold the same values.

Build only the extension there (no OpenVINO needed) and run, from the repository root::

    cmake -S . -B build/gpu -DPERSONCLS_WITH_OPENVINO=OFF -DPERSONCLS_WITH_CUDA=ON \\
          -DPERSONCLS_CUDA_ARCHITECTURES=90 -Dpybind11_DIR=$(python3 -m pybind11 --cmakedir)
    cmake --build build/gpu -j 16 && cp build/gpu/_native*.so python/personcls/
    PYTHONPATH=python python3 benchmarks/gpu_check.py --images <folder of jpgs, with cat_720p.jpg>

Results are printed and, when ``$OUT`` is set, written to ``$OUT/gpu_check.json``.
Exit status 0 only if every comparison is within tolerance.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from personcls.shared_data import data_root

REPO = Path(__file__).resolve().parents[1]
TOL_MAX = 1e-4


def default_images() -> Path:
    return data_root(REPO) / "demo"


def median_ms(fn, reps: int) -> float:
    fn()
    fn()  # warm-up: first CUDA call creates the context
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts) * 1e3)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=Path, default=default_images(), help="folder of .jpg/.png photos")
    ap.add_argument("--device", type=int, default=0)
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args(argv)

    import cv2

    from personcls import PreprocessSpec, _native

    info = _native.build_info()
    print(f"# build: {info}")
    report = {"build": info, "comparisons": [], "timings": [], "dlpack": {}}
    if not hasattr(_native, "preprocess_cuda"):
        print("FAIL: this build has no CUDA preprocessing")
        return 2
    if _native.cuda_device_count() <= args.device:
        print(f"FAIL: no CUDA device {args.device} (found {_native.cuda_device_count()})")
        return 2
    paths = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    frames = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths]
    frames = [f for f in frames if f is not None]
    if not frames:
        print(f"FAIL: no readable images in {args.images}")
        return 2
    print(f"# {len(frames)} images from {args.images}: sizes {sorted({f.shape[:2] for f in frames})[:5]} ...")
    ok = True

    # 1. agreement, several specs, BGR and RGB input, contiguous and strided frames
    specs = {
        "tutorial 256/224": PreprocessSpec(),
        "vww 96/96": PreprocessSpec(resize_short=96, crop_size=96),
        "fixed 160x128 crop 144x112": PreprocessSpec(resize_short=0, resize_size=(160, 128), crop_size=(144, 112)),
        "BGR model 256/224": PreprocessSpec(channel_order="BGR"),
    }
    variants = {
        "BGR": (frames, "BGR"),
        "RGB views": ([f[:, :, ::-1] for f in frames], "RGB"),
        "grey": ([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames[:4]], "BGR"),
        "BGRA": ([cv2.cvtColor(f, cv2.COLOR_BGR2BGRA) for f in frames[:4]], "BGR"),
    }
    print(f"\n{'spec':<28} {'input':<10} {'max |diff|':>11} {'mean |diff|':>12}")
    for sname, spec in specs.items():
        p = spec.to_native()
        for vname, (fr, color) in variants.items():
            cpu = _native.preprocess(fr, p, color)
            gpu = _native.preprocess_cuda(fr, p, color, args.device).numpy()
            d = np.abs(cpu - gpu)
            good = gpu.shape == cpu.shape and float(d.max()) <= TOL_MAX
            ok &= good
            report["comparisons"].append({"spec": sname, "input": vname, "max": float(d.max()),
                                          "mean": float(d.mean()), "ok": good})
            print(f"{sname:<28} {vname:<10} {d.max():11.2e} {d.mean():12.2e}{'' if good else '  FAIL'}")

    # 2. speed on 1280x720 frames
    cat = next((f for p, f in zip(paths, frames) if p.name == "cat_720p.jpg"), None)
    if cat is None:
        cat = cv2.resize(frames[0], (1280, 720))
    p = PreprocessSpec().to_native()
    print(f"\n{'batch':>5} {'CPU ms':>8} {'CUDA ms':>8} {'CUDA+copy back ms':>18} {'CPU/CUDA':>9}   (1280x720 -> 224, "
          f"{os.cpu_count()} CPU threads)")
    for b in (1, 8, 32):
        fr = [cat.copy() for _ in range(b)]
        t_cpu = median_ms(lambda: _native.preprocess(fr, p, "BGR"), args.reps)
        t_gpu = median_ms(lambda: _native.preprocess_cuda(fr, p, "BGR", args.device), args.reps)
        t_back = median_ms(lambda: _native.preprocess_cuda(fr, p, "BGR", args.device).numpy(), args.reps)
        report["timings"].append({"batch": b, "cpu_ms": t_cpu, "cuda_ms": t_gpu, "cuda_copy_back_ms": t_back})
        print(f"{b:>5} {t_cpu:8.2f} {t_gpu:8.2f} {t_back:18.2f} {t_cpu / t_gpu:8.2f}x")

    # 3. DLPack hand-off, zero copy
    try:
        import torch
        import torch.utils.dlpack as tdl
    except ImportError:
        print("\n# PyTorch not installed: DLPack hand-off not checked")
    else:
        batch = _native.preprocess_cuda(frames[:4], p, "BGR", args.device)
        ref = batch.numpy()
        t1 = tdl.from_dlpack(batch.to_dlpack())
        t2 = torch.from_dlpack(batch)
        same_ptr = t1.data_ptr() == batch.data_ptr and t2.data_ptr() == batch.data_ptr
        same_val = bool(np.array_equal(t1.cpu().numpy(), ref)) and bool(np.array_equal(t2.cpu().numpy(), ref))
        dev_ok = t1.device.type == "cuda" and t1.device.index == args.device and tuple(t1.shape) == batch.shape
        del batch  # the torch tensors keep the device buffer alive through the capsule deleter
        torch.cuda.synchronize()
        alive = float(t1.float().mean().item())
        ok &= same_ptr and same_val and dev_ok and np.isfinite(alive)
        report["dlpack"] = {"same_pointer": same_ptr, "same_values": same_val, "device_ok": dev_ok,
                            "torch": torch.__version__}
        print(f"\nDLPack -> torch {torch.__version__}: same device pointer {same_ptr}, same values {same_val}, "
              f"device/shape ok {dev_ok}, buffer alive after the CudaBatch is dropped: {np.isfinite(alive)}")

    report["ok"] = bool(ok)
    out = os.environ.get("OUT")
    if out:
        Path(out, "gpu_check.json").write_text(json.dumps(report, indent=2))
    print("\nOK" if ok else "\nFAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
