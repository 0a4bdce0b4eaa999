#!/usr/bin/env python3
"""Backend speed: a thin wrapper over ``personcls benchmark``, plus the model-file comparison.

* ``python benchmarks/bench_backends.py [ARGS]`` runs ``personcls benchmark [ARGS]``: end to end
  (files -> decision) and model only, at batch 1/8/32, per backend and precision, with the
  ratio to a PaddleClas-style baseline measured in the same run (``--help`` for the options).
* ``python benchmarks/bench_backends.py --formats [--model DIR]`` compares the model files the
  OpenVINO runtime can read (IR, ONNX when ``inference.onnx`` exists or paddle2onnx is
  importable, the Paddle program): load time and model-only images/s at batch 8.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def time_calls(fn: Callable[[], object], seconds: float, min_calls: int = 3) -> List[float]:
    times = []
    end = time.perf_counter() + seconds
    while len(times) < min_calls or time.perf_counter() < end:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def find_model(arg: Optional[str], tmp: Path) -> Path:
    if arg:
        return Path(arg)
    shipped = REPO / "python" / "personcls" / "models" / "person_MobileNetV2"
    if (shipped / "personcls.json").is_file():
        return shipped
    from personcls.training.export import export_random_model

    out = tmp / "PPLCNet_x1_0_random"
    print(f"# no shipped model; exporting a random PPLCNet_x1_0 (224) to {out}", flush=True)
    export_random_model(out, arch="PPLCNet_x1_0", crop=224, resize_short=256, seed=0)
    return out


def bench_formats(model_dir: Path, tmp: Path, seconds: float, rounds: int, threads: int) -> None:
    from personcls.backends import RuntimeOptions
    from personcls.backends.native import create_engine
    from personcls.errors import ModelError
    from personcls.modelfolder import ModelMeta, openvino_files

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
    formats = []
    for f in ("ir", "onnx", "paddle"):
        try:
            openvino_files(work, meta, f)
            formats.append(f)
        except ModelError:
            pass
    params = meta.preprocess.to_native()
    # The first engine of a process also starts OpenVINO's Core (plugin discovery): not counted.
    create_engine(work, meta, RuntimeOptions(), threads)
    engines, load = {}, {}
    for f in formats:
        o = RuntimeOptions(model_format=f, cpu_threads=threads)
        ts = []
        for _ in range(3):
            t = time.perf_counter()
            engines[f] = create_engine(work, meta, o, threads)
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
    """``--formats``: the model-file comparison below. Anything else goes to ``personcls
    benchmark`` (end to end from files and model only, per backend and precision, against the
    same-run PaddleClas-style baseline): ``python benchmarks/bench_backends.py --batches 8``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--formats" not in argv:
        from personcls.benchmark import main as benchmark_main

        return benchmark_main(argv)
    ap = argparse.ArgumentParser(description="IR vs ONNX vs .pdmodel in the OpenVINO runtime")
    ap.add_argument("--formats", action="store_true", required=True)
    ap.add_argument("--model", help="model folder (default: the shipped model, else a random PPLCNet_x1_0 export)")
    ap.add_argument("--seconds", type=float, default=1.5, help="timed seconds per format")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds the seconds are split into")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")
    args = ap.parse_args(argv)

    import personcls

    info = personcls.build_info()
    tmp = Path(tempfile.mkdtemp(prefix="personcls-bench-"))
    try:
        model_dir = find_model(args.model, tmp)
        print(f"# personcls {personcls.__version__}; features {info['features']}; OpenVINO {info['openvino']}; "
              f"{os.cpu_count()} CPU threads; load average {os.getloadavg()[0]:.2f}")
        print(f"# model {model_dir}")
        bench_formats(model_dir, tmp, args.seconds, args.rounds, args.threads)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
