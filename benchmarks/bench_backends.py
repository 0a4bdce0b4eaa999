#!/usr/bin/env python3
"""Speed of the inference backends, end to end and model only, in one run.

For each batch size (default 1, 8, 32) and each pipeline it times

* end to end: decoded 1280x720 BGR frames -> fused preprocessing -> model -> probabilities
  (``pipeline.run_frames``), and
* model only: a preprocessed float32 batch -> model output (``pipeline.infer``),

and prints per-image latency p50 / p95 (call time / batch), images/s (batch / median call
time), and the ratio of images/s to the ``paddle`` backend (Paddle Inference + oneDNN behind
the same fused native preprocessing) in the same mode.

Pipelines: ``paddle``; ``native`` (the C++ engine on OpenVINO, fp32, latency hint: the
defaults, scores equal to Paddle's within 1e-6); ``native-bf16`` (same engine with bf16
inference precision: faster where the CPU has bf16 instructions, scores move by up to ~3e-2);
with ``--variants`` also ``native-tput`` (throughput hint: the batch split over CPU streams).

Measurements are interleaved (round-robin over pipelines, ``--rounds`` times) so that load from
other processes on a shared machine hits every pipeline alike; percentiles are over all calls,
and images/s uses the median call so that a burst of foreign load does not decide a ratio.

``--formats`` instead compares the model files the OpenVINO runtime can read (IR, ONNX when
``inference.onnx`` exists or paddle2onnx is importable, the Paddle program): load time and
model-only images/s at batch 8.

Run from the repository root after ``pip install --no-build-isolation .``::

    python benchmarks/bench_backends.py                  # the table of the issue
    python benchmarks/bench_backends.py --variants       # + the throughput-hint rows
    python benchmarks/bench_backends.py --formats        # IR vs ONNX vs .pdmodel
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    env = os.environ.get("PERSONCLS_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def find_model(arg: Optional[str], tmp: Path) -> Path:
    if arg:
        return Path(arg)
    shipped = REPO / "python" / "personcls" / "models" / "person_PPLCNet_x1_0"
    if (shipped / "personcls.json").is_file():
        return shipped
    from personcls.training.export import export_random_model

    out = tmp / "PPLCNet_x1_0_random"
    print(f"# no shipped model; exporting a random PPLCNet_x1_0 (224) to {out}", flush=True)
    export_random_model(out, arch="PPLCNet_x1_0", crop=224, resize_short=256, seed=0)
    return out


def load_frame(arg: Optional[str]) -> np.ndarray:
    import cv2

    path = Path(arg) if arg else data_root() / "demo" / "cat_720p.jpg"
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        sys.exit(f"cannot read the benchmark frame {path} (set PERSONCLS_DATA or pass --frame)")
    return img


def make_pipelines(model_dir: Path, names: List[str], threads: int):
    from personcls.backends import RuntimeOptions
    from personcls.backends.native import NativePipeline
    from personcls.classifier import _make_pipeline
    from personcls.spec import ModelMeta

    meta = ModelMeta.load(model_dir)
    out = {}
    for name in names:
        opts = RuntimeOptions(cpu_threads=threads)
        if name == "paddle":
            out[name] = _make_pipeline("paddle", model_dir, meta, opts, threads)
            continue
        if name == "native-tput":
            opts.performance_hint = "throughput"
        elif name == "native-bf16":
            opts.cpu_precision = "bf16"
        elif name == "native-int8":
            opts.cpu_precision = "int8"
        elif name != "native":
            raise SystemExit(f"unknown pipeline {name}")
        out[name] = NativePipeline(model_dir, meta, opts, threads=threads)
    return out


def time_calls(fn: Callable[[], object], seconds: float, min_calls: int = 3) -> List[float]:
    times = []
    end = time.perf_counter() + seconds
    while len(times) < min_calls or time.perf_counter() < end:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def bench(pipes: Dict[str, object], frame: np.ndarray, batches: List[int], seconds: float, rounds: int) -> None:
    names = list(pipes)
    print(f"\n{'batch':>5} {'mode':<11} {'pipeline':<12} {'img/s':>8} {'per-image ms p50':>17} {'p95':>7} "
          f"{'call ms p50':>12} {'x paddle':>9}")
    summary = {}
    for b in batches:
        # distinct copies: each frame of the batch is its own 1280x720 buffer, as from a decoder
        frames = [frame.copy() for _ in range(b)]
        batch = next(iter(pipes.values())).preprocess(frames, "BGR")
        for mode in ("end-to-end", "model-only"):
            calls = {}
            for name in names:
                p = pipes[name]
                fn = (lambda p=p: p.run_frames(frames, "BGR")) if mode == "end-to-end" else (lambda p=p: p.infer(batch))
                time_calls(fn, 0.0, min_calls=3)  # warm-up (oneDNN primitive caches, first-shape compile)
                calls[name] = []
            for _ in range(rounds):
                for name in names:
                    p = pipes[name]
                    fn = (lambda p=p: p.run_frames(frames, "BGR")) if mode == "end-to-end" else (lambda p=p: p.infer(batch))
                    calls[name].extend(time_calls(fn, seconds / rounds))
            base = None
            for name in names:
                t = np.asarray(calls[name])
                ips = b / np.median(t)  # median call: robust to bursts of other work on a shared box
                if name == "paddle":
                    base = ips
                per = t / b * 1e3
                ratio = f"{ips / base:8.2f}x" if base else "        -"
                summary[(b, mode, name)] = ips
                print(f"{b:>5} {mode:<11} {name:<12} {ips:8.1f} {np.percentile(per, 50):17.2f} "
                      f"{np.percentile(per, 95):7.2f} {np.percentile(t, 50) * 1e3:12.2f} {ratio}", flush=True)
    if ("paddle" in names) and ("native" in names) and 8 in batches:
        r = summary[(8, "end-to-end", "native")] / summary[(8, "end-to-end", "paddle")]
        print(f"\nbatch 8 end-to-end: native / paddle = {r:.2f}x (goal >= 2x)")
        for v in ("native-tput", "native-bf16", "native-int8"):
            if v in names:
                print(f"batch 8 end-to-end: {v} / paddle = "
                      f"{summary[(8, 'end-to-end', v)] / summary[(8, 'end-to-end', 'paddle')]:.2f}x")


def bench_formats(model_dir: Path, tmp: Path, seconds: float, rounds: int, threads: int) -> None:
    from personcls import _native
    from personcls.backends import RuntimeOptions
    from personcls.backends.native import engine_options
    from personcls.spec import ModelMeta

    meta = ModelMeta.load(model_dir)
    work = tmp / "formats"
    shutil.copytree(model_dir, work)
    if not (work / "inference.onnx").exists():
        try:
            import paddle2onnx  # noqa: F401  (optional; only for this measurement)

            paddle2onnx.export(str(work / "inference.pdmodel"), str(work / "inference.pdiparams"),
                               str(work / "inference.onnx"), opset_version=13)
        except Exception as e:  # ImportError, or a converter failure
            print(f"# ONNX skipped: {type(e).__name__}: {e}")
    formats = [f for f, fn in (("ir", "inference.xml"), ("onnx", "inference.onnx"), ("paddle", "inference.pdmodel"))
               if (work / fn).exists()]
    params = meta.preprocess.to_native()
    # The first engine of a process also starts OpenVINO's Core (plugin discovery): not counted.
    _native.Engine(str(work), params, "openvino", engine_options(meta, RuntimeOptions(), threads))
    engines, load = {}, {}
    for f in formats:
        o = engine_options(meta, RuntimeOptions(model_format=f, cpu_threads=threads), threads)
        ts = []
        for _ in range(3):
            t = time.perf_counter()
            engines[f] = _native.Engine(str(work), params, "openvino", o)
            ts.append(time.perf_counter() - t)
        load[f] = min(ts)
    x = np.random.default_rng(0).standard_normal((8, 3, params.crop_h, params.crop_w)).astype(np.float32)
    outs = {f: e.infer(x) for f, e in engines.items()}
    calls = {f: [] for f in formats}
    for f in formats:
        time_calls(lambda: engines[f].infer(x), 0.0)
    for _ in range(rounds):
        for f in formats:
            calls[f].extend(time_calls(lambda: engines[f].infer(x), seconds / rounds))
    print(f"\n{'format':<8} {'file':<20} {'load ms':>8} {'b8 img/s':>9} {'max |diff| vs ir':>17}")
    for f in formats:
        t = np.asarray(calls[f])
        diff = float(np.abs(outs[f] - outs[formats[0]]).max())
        print(f"{f:<8} {Path(engines[f].model_path).name:<20} {load[f] * 1e3:8.1f} {8 / np.median(t):9.1f} "
              f"{diff:17.2e}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model folder (default: the shipped model, else a random PPLCNet_x1_0 export)")
    ap.add_argument("--frame", help="image to benchmark on (default: ../shared/data/demo/cat_720p.jpg)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--seconds", type=float, default=1.5, help="timed seconds per pipeline, batch and mode")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds the seconds are split into")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")
    ap.add_argument("--variants", action="store_true", help="also time native-tput (throughput hint)")
    ap.add_argument("--pipelines", nargs="+", help="explicit list: paddle native native-tput native-bf16 native-int8")
    ap.add_argument("--formats", action="store_true", help="compare IR / ONNX / .pdmodel in the OpenVINO runtime")
    args = ap.parse_args(argv)

    import personcls

    info = personcls.build_info()
    tmp = Path(tempfile.mkdtemp(prefix="personcls-bench-"))
    try:
        model_dir = find_model(args.model, tmp)
        print(f"# personcls {personcls.__version__}; features {info['features']}; OpenVINO {info['openvino']}; "
              f"{os.cpu_count()} CPU threads; load average {os.getloadavg()[0]:.2f}")
        print(f"# model {model_dir}")
        if args.formats:
            bench_formats(model_dir, tmp, args.seconds, args.rounds, args.threads)
            return 0
        frame = load_frame(args.frame)
        print(f"# frame {frame.shape[1]}x{frame.shape[0]} BGR, batches {args.batches}, "
              f"{args.seconds:.1f} s per cell in {args.rounds} interleaved rounds")
        from personcls.spec import ModelMeta

        from personcls.backends import cpu_precisions

        has_int8 = "openvino_int8" in ModelMeta.load(model_dir).files
        has_bf16 = "bf16" in cpu_precisions()  # an AVX2-only CPU cannot run bf16 (it would be an error)
        if not has_bf16 and not args.pipelines:
            print("# native-bf16 left out: this CPU has no bf16 instructions")
        names = args.pipelines or (["paddle", "native"] + (["native-bf16"] if has_bf16 else [])
                                   + (["native-int8"] if has_int8 else []) + (["native-tput"] if args.variants else []))
        pipes = make_pipelines(model_dir, names, args.threads)
        for n, p in pipes.items():
            desc = p.describe() if hasattr(p, "describe") else getattr(p.runtime, "name", n)
            print(f"# {n}: {desc}")
        bench(pipes, frame, args.batches, args.seconds, args.rounds)
        print(f"# load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
