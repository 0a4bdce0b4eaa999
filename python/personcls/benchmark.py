"""``personcls benchmark``: throughput and latency on your own box, model and images.

Two modes, each at several batch sizes and for each backend and precision:

* ``end-to-end``: image files -> decision, through ``Classifier.predict`` (the pipelined
  read / decode / preprocess pool and the model);
* ``model-only``: a preprocessed float32 batch -> model output.

Every table carries a baseline measured in the same run, in the PaddleClas style: one batch
after another, ``cv2.imread`` + the plain cv2 + numpy reference preprocessing, then the Paddle
Inference predictor (oneDNN) — and each row's ratio to it. Rows are measured round-robin
(``rounds`` times) so that foreign load on a shared machine hits every row alike; images/s
uses the median round, and a ratio is the median of the per-round ratios. ``profile=True``
adds the per-stage split (read, decode, preprocess, infer, postprocess) measured one stage
at a time, so the bottleneck of this box shows.

Python: :func:`run_benchmark` returns the report as a dict; the CLI prints it, and writes
``--json FILE`` and ``--plot FILE.png`` (the plot needs matplotlib).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from .errors import InputError

MODES = ("end-to-end", "model-only")
BASELINE = "baseline"
STAGES = ("read", "decode", "preprocess", "infer", "postprocess")


@dataclass
class Row:
    """One measured configuration: a backend at a precision (or the baseline)."""

    name: str
    backend: str
    precision: str
    fast_decode: bool = False
    threads: int = 0
    decode_threads: int = 0


# -- inputs -------------------------------------------------------------------------------
def synthetic_frames(folder: os.PathLike, count: int, size=(1280, 720), seed: int = 0) -> List[str]:
    """``count`` distinct JPEG files of ``size`` (w, h): gradients, shapes and sensor-like
    noise, so that they decode about as slowly as camera frames (flat images decode faster)."""
    import cv2

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    paths = []
    for i in range(count):
        base = np.stack([(xx / w * 255 * rng.uniform(0.3, 1)) % 256,
                         (yy / h * 255 * rng.uniform(0.3, 1)) % 256,
                         ((xx + yy) / (w + h) * 255 * rng.uniform(0.3, 1)) % 256], axis=-1)
        img = base.astype(np.uint8)
        for _ in range(12):
            color = tuple(int(c) for c in rng.integers(0, 256, 3))
            c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            if rng.random() < 0.5:
                cv2.circle(img, c, int(rng.integers(10, h // 3)), color, -1)
            else:
                cv2.rectangle(img, c, (int(rng.integers(0, w)), int(rng.integers(0, h))), color, -1)
        noise = rng.normal(0, 4, img.shape).astype(np.float32)
        img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        p = folder / f"synthetic_{i:04d}.jpg"
        cv2.imwrite(str(p), img, [cv2.IMWRITE_JPEG_QUALITY, 85])
        paths.append(str(p))
    return paths


def collect_images(sources: Sequence[str]) -> List[str]:
    from . import imageio

    paths: List[str] = []
    for s in sources:
        paths.extend(imageio.expand_target(s))
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise InputError(f"{missing[0]}: no such image file")
    return paths


# -- the machine ----------------------------------------------------------------------------
def machine_setup() -> dict:
    """CPU model and flags, cores, load and library versions: what a figure depends on."""
    from .backends import machine_info

    info = machine_info(("personcls", "openvino", "paddlepaddle", "numpy", "opencv-python-headless", "opencv-python"))
    try:
        from . import build_info

        features = build_info().get("features")
    except ImportError:
        features = None
    return {
        "cpu": info["cpu"], "cpu_flags": info["isa"], "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(), "python": platform.python_version(),
        "versions": info["versions"], "build_features": features,
        **({"onednn_max_cpu_isa": info["onednn_max_cpu_isa"]} if "onednn_max_cpu_isa" in info else {}),
    }


def default_rows(model_dir: Path, backends: Optional[Sequence[str]], precisions: Optional[Sequence[str]],
                 fast_decode: bool, splits: Sequence[tuple] = ((0, 0),)) -> List[Row]:
    """Each backend at each precision it can run here: the native engine at fp32, bf16 where
    the CPU has bf16 instructions, int8 where the folder has an INT8 IR; paddle at fp32.
    ``splits``: (inference threads, decode threads) pairs, a row each when more than one."""
    from .backends import available_backends, cpu_precisions
    from .modelfolder import ModelMeta

    avail = available_backends()
    backends = list(backends or avail)
    for b in backends:
        if b not in avail:
            raise InputError(f"backend {b!r} is not available here (available: {avail})")
    has_int8 = ModelMeta.load(model_dir).has_int8_ir
    rows = []
    for b in backends:
        if b == "native":
            here = cpu_precisions()
            precs = precisions or [p for p in ("fp32", "bf16", "int8") if p in here and (p != "int8" or has_int8)]
        else:
            precs = [p for p in (precisions or ["fp32"]) if p == "fp32"]
        for p in precs:
            for fd in (False, True) if fast_decode else (False,):
                for t, d in splits:
                    name = f"{b}-{p}" + ("+fast-decode" if fd else "") + (f" t{t}/d{d}" if len(splits) > 1 else "")
                    rows.append(Row(name, b, p, fast_decode=fd, threads=t, decode_threads=d))
    return rows


# -- the PaddleClas-style baseline ------------------------------------------------------------
class Baseline:
    """What PaddleClas's own Python predictor does: per batch, ``cv2.imread`` each file, the
    cv2 + numpy reference preprocessing, the Paddle Inference predictor, softmax/Topk."""

    def __init__(self, model_dir: Path, threads: int):
        from .backends import RuntimeOptions
        from .backends.paddle_runtime import PaddleRuntime
        from .postprocess import Postprocessor
        from .modelfolder import ModelMeta

        self.meta = ModelMeta.load(model_dir)
        self.runtime = PaddleRuntime(model_dir, self.meta, RuntimeOptions(cpu_threads=threads))
        self.postprocessor = Postprocessor(self.meta.postprocess, output_is_probability=self.meta.output_is_probability)
        self.batch_size = 1

    def predict_paths(self, paths: Sequence[str]) -> List[float]:
        """Latency (ms) of each input: from its batch being started to its result."""
        import cv2

        from .preprocess import reference_preprocess

        lat = []
        for s in range(0, len(paths), self.batch_size):
            chunk = paths[s:s + self.batch_size]
            t0 = time.perf_counter()
            frames = [cv2.imread(p, cv2.IMREAD_COLOR) for p in chunk]
            x = np.stack([reference_preprocess(f, self.meta.preprocess, "BGR") for f in frames])
            self.postprocessor(self.runtime.infer(x), [os.path.basename(p) for p in chunk])
            lat.extend([(time.perf_counter() - t0) * 1e3] * len(chunk))
        return lat

    def stage_times(self, paths: Sequence[str], batch: int) -> Dict[str, Dict[str, float]]:
        import cv2

        from .preprocess import reference_preprocess

        sw = _Stages()
        for s in range(0, len(paths), batch):
            chunk = paths[s:s + batch]
            sw.start()
            data = [Path(p).read_bytes() for p in chunk]
            sw.lap("read")
            frames = [cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR) for d in data]
            sw.lap("decode")
            x = np.stack([reference_preprocess(f, self.meta.preprocess, "BGR") for f in frames])
            sw.lap("preprocess")
            out = self.runtime.infer(x)
            sw.lap("infer")
            self.postprocessor(out, [os.path.basename(p) for p in chunk])
            sw.lap("postprocess")
        return sw.per_image(len(paths))


class _Stages:
    """Wall and process-CPU time per stage. CPU time counts every thread of the process (the
    model's own threads too) and, unlike wall time, hardly moves with foreign load."""

    def __init__(self):
        self.wall = dict.fromkeys(STAGES, 0.0)
        self.cpu = dict.fromkeys(STAGES, 0.0)

    def start(self) -> None:
        self._w, self._c = time.perf_counter(), time.process_time()

    def lap(self, stage: str) -> None:
        w, c = time.perf_counter(), time.process_time()
        self.wall[stage] += w - self._w
        self.cpu[stage] += c - self._c
        self._w, self._c = w, c

    def per_image(self, n: int) -> Dict[str, Dict[str, float]]:
        return {"wall": {k: v / n * 1e3 for k, v in self.wall.items()},
                "cpu": {k: v / n * 1e3 for k, v in self.cpu.items()}}


def _classifier_stage_times(clf, paths: Sequence[str], batch: int) -> Dict[str, Dict[str, float]]:
    """The Classifier's stages one at a time, on one thread each (preprocess per input, as
    its decode pool does it): what each stage costs before any overlap."""
    from . import imageio

    sw = _Stages()
    w, h = clf.meta.preprocess.crop_size
    for s in range(0, len(paths), batch):
        chunk = paths[s:s + batch]
        buf = np.empty((len(chunk), 3, h, w), np.float32)
        sw.start()
        data = [Path(p).read_bytes() for p in chunk]
        sw.lap("read")
        frames = [imageio.decode_bytes(d, p, clf._min_size) for d, p in zip(data, chunk)]
        sw.lap("decode")
        for k, f in enumerate(frames):
            clf._item_preprocessor([f], "BGR", out=buf[k:k + 1])
        sw.lap("preprocess")
        out = clf.pipeline.infer(buf)
        sw.lap("infer")
        clf.postprocessor(out, [os.path.basename(p) for p in chunk])
        sw.lap("postprocess")
    return sw.per_image(len(paths))


def _timed(fn, seconds: float, min_calls: int = 2) -> List[float]:
    times: List[float] = []
    end = time.perf_counter() + seconds
    while len(times) < min_calls or time.perf_counter() < end:
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return times


def _percentiles(ms: Sequence[float]) -> Dict[str, float]:
    a = np.asarray(ms, dtype=np.float64)
    return {f"p{q}": round(float(np.percentile(a, q)), 3) for q in (50, 95, 99)}


# -- the run ------------------------------------------------------------------------------
def run_benchmark(model_dir: Optional[os.PathLike] = None, images: Optional[Sequence[str]] = None,
                  frames: int = 64, batches: Sequence[int] = (1, 8, 32), backends: Optional[Sequence[str]] = None,
                  precisions: Optional[Sequence[str]] = None, modes: Sequence[str] = MODES,
                  threads: Union[int, Sequence[int]] = 0, decode_threads: Union[int, Sequence[int]] = 0, rounds: int = 3, seconds: float = 0.5, baseline: bool = True,
                  profile: bool = False, fast_decode: bool = False, log=None) -> dict:
    """Measure and return the report (see the module docstring). ``images``: files or
    folders; default ``frames`` synthetic 1280x720 JPEGs. ``threads``: inference threads
    (0 = all cores); ``decode_threads``: the Classifier's decode pool (0 = its default); a
    list of either measures every (threads, decode_threads) split as its own row. The
    baseline uses the one ``threads`` value given, else all cores."""
    from .backends import RuntimeOptions
    from .classifier import Classifier
    from .modelfolder import default_model_dir

    say = log or (lambda *a: None)
    for m in modes:
        if m not in MODES:
            raise InputError(f"mode {m!r} is not one of {MODES}")
    if not batches or any(int(b) < 1 for b in batches):
        raise InputError(f"batch sizes must be >= 1, got {list(batches)}")
    if rounds < 1:
        raise InputError(f"rounds must be >= 1, got {rounds}")
    model_dir = Path(model_dir) if model_dir else default_model_dir()
    setup = machine_setup()
    tmp = None
    try:
        if images:
            paths = collect_images(images)
            source = f"{len(paths)} image file(s) from {', '.join(map(str, images))}"
        else:
            if frames < 1:
                raise InputError(f"frames must be >= 1, got {frames}")
            tmp = tempfile.TemporaryDirectory(prefix="personcls-bench-")
            paths = synthetic_frames(tmp.name, frames)
            source = f"{frames} synthetic 1280x720 JPEG frames (quality 85)"
        tl = [int(threads)] if isinstance(threads, (int, np.integer)) else [int(t) for t in threads]
        dl = [int(decode_threads)] if isinstance(decode_threads, (int, np.integer)) else [int(d) for d in decode_threads]
        if not tl or not dl or min(tl + dl) < 0:
            raise InputError(f"threads and decode threads must be >= 0, got {tl} and {dl}")
        rows = default_rows(model_dir, backends, precisions, fast_decode, [(t, d) for t in tl for d in dl])
        clfs = {}
        for r in rows:
            opts = RuntimeOptions(cpu_precision=r.precision)
            clfs[r.name] = Classifier(model_dir, backend=r.backend, threads=r.threads, decode_threads=r.decode_threads,
                                      options=opts, fast_decode=r.fast_decode)
        base = None
        if baseline:
            from .backends import available_backends

            if "paddle" in available_backends():
                base = Baseline(model_dir, tl[0] if len(tl) == 1 else 0)
            else:
                say("# baseline skipped: it runs on Paddle Inference (pip install 'personcls[bench]')")
        any_clf = next(iter(clfs.values()))
        setup.update({
            "model_dir": str(model_dir), "input_size": list(any_clf.meta.preprocess.crop_size),
            "inputs": source,
            "threads": {r.name: {"inference": r.threads or os.cpu_count(), "decode": clfs[r.name].decode_threads}
                        for r in rows},
            "baseline_threads": (tl[0] if len(tl) == 1 else 0) or os.cpu_count(),
            "prefetch_batches": any_clf.prefetch,
            "fast_decode": {r.name: r.fast_decode for r in rows},
            "rows": {r.name: clfs[r.name].pipeline.describe() for r in rows},
        })
        all_names = [r.name for r in rows] + ([BASELINE] if base else [])
        fast = {r.name: r.fast_decode for r in rows} | {BASELINE: False}
        for line in format_setup(setup) + [HEADER]:
            say(line)
        report = {"setup": setup, "rows": [], "profile": [],
                  "notes": ["images/s: median round; latency: per input, from predict taking it (end to end) "
                            "or from the batch call starting (model only) to its result",
                            "ratio: median over rounds of images/s over the baseline's in the same round, mode and "
                            "batch (paired: slow swings of foreign load cancel)",
                            "cpu_ms_per_image: process CPU time (all threads) per image; on a busy machine it moves "
                            "far less than wall time, and x (cpu) is the baseline's CPU per image over the row's"]}
        for b in batches:
            b = int(b)
            for c in clfs.values():
                c.batch_size = b
            if base:
                base.batch_size = b
            w, h = any_clf.meta.preprocess.crop_size
            x = np.empty((b, 3, h, w), np.float32)
            for k in range(b):
                any_clf._item_preprocessor([_imread(paths[k % len(paths)])], "BGR", out=x[k:k + 1])
            for mode in modes:
                # fast_decode changes nothing the model sees: model-only rows once per model
                names = [n for n in all_names if mode == "end-to-end" or not fast[n]]
                walls: Dict[str, List[float]] = {n: [] for n in names}
                lats: Dict[str, List[float]] = {n: [] for n in names}
                errors = {n: 0 for n in names}
                cpu: Dict[str, List[float]] = {n: [] for n in names}
                done: Dict[str, int] = {}

                def once(n: str) -> None:
                    c0 = time.process_time()
                    _once(n)
                    cpu[n].append((time.process_time() - c0) * 1e3 / done[n])

                def _once(n: str) -> None:
                    if mode == "end-to-end":
                        t = time.perf_counter()
                        if n == BASELINE:
                            lats[n].extend(base.predict_paths(paths))
                        else:
                            res = clfs[n].predict(paths)
                            errors[n] += sum(not r.ok for r in res)
                            lats[n].extend(r.timing.latency_ms for r in res)
                        walls[n].append(len(paths) / (time.perf_counter() - t))
                        done[n] = len(paths)
                    else:
                        infer = base.runtime.infer if n == BASELINE else clfs[n].pipeline.infer
                        ms = _timed(lambda: infer(x), seconds)
                        lats[n].extend(ms)
                        walls[n].append(b / (np.median(ms) / 1e3))
                        done[n] = b * len(ms)

                for n in names:  # warm-up: compile for this batch shape, fill caches
                    if mode == "end-to-end":
                        (base.predict_paths if n == BASELINE else clfs[n].predict)(paths[:2 * b])
                    else:
                        (base.runtime.infer if n == BASELINE else clfs[n].pipeline.infer)(x)
                for _ in range(rounds):
                    for n in names:
                        once(n)
                for n in names:
                    ips = float(np.median(walls[n]))
                    # paired: each round's ratio to the baseline run right beside it, then the median
                    ratio = float(np.median(np.asarray(walls[n]) / np.asarray(walls[BASELINE]))) if base else None
                    row = {"mode": mode, "batch": b, "config": n, "images_per_s": round(ips, 2),
                           "latency_ms": _percentiles(lats[n]),
                           "ratio_to_baseline": round(ratio, 3) if base else None,
                           "cpu_ms_per_image": round(float(np.median(cpu[n])), 3),
                           "cpu_ratio_to_baseline": (round(float(np.median(cpu[BASELINE]) / np.median(cpu[n])), 3)
                                                     if base else None),
                           "rounds_images_per_s": [round(v, 2) for v in walls[n]]}
                    if errors[n]:
                        row["failed_inputs"] = errors[n]
                    report["rows"].append(row)
                    say(_format_row(row))
            if profile:
                for n in all_names:
                    st = base.stage_times(paths, b) if n == BASELINE else _classifier_stage_times(clfs[n], paths, b)
                    total = sum(st["wall"].values())
                    e2e = next((r for r in report["rows"] if r["config"] == n and r["batch"] == b
                                and r["mode"] == "end-to-end"), None)
                    entry = {"batch": b, "config": n, "ms_per_image": {k: round(v, 3) for k, v in st["wall"].items()},
                             "cpu_ms_per_image": {k: round(v, 3) for k, v in st["cpu"].items()},
                             "share": {k: round(v / total, 3) for k, v in st["wall"].items()},
                             "sum_ms_per_image": round(total, 3),
                             "pipelined_ms_per_image": round(1e3 / e2e["images_per_s"], 3) if e2e else None}
                    report["profile"].append(entry)
                    say(_format_profile(entry))
        for c in clfs.values():
            c.close()
        setup["load_average_after"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
        return report
    finally:
        if tmp is not None:
            tmp.cleanup()


def _imread(path: str) -> np.ndarray:
    from . import imageio

    return imageio.read_image(path)


# -- output -------------------------------------------------------------------------------
HEADER = (f"{'mode':<11} {'batch':>5} {'config':<26} {'img/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'x baseline':>10} {'cpu ms/img':>10} {'x (cpu)':>8}")


def _format_row(r: dict) -> str:
    lat = r["latency_ms"]
    ratio = f"{r['ratio_to_baseline']:9.2f}x" if r["ratio_to_baseline"] is not None else f"{'-':>10}"
    fail = f"  ({r['failed_inputs']} inputs failed)" if r.get("failed_inputs") else ""
    cratio = f"{r['cpu_ratio_to_baseline']:7.2f}x" if r["cpu_ratio_to_baseline"] is not None else f"{'-':>8}"
    return (f"{r['mode']:<11} {r['batch']:>5} {r['config']:<26} {r['images_per_s']:8.1f} {lat['p50']:8.2f} "
            f"{lat['p95']:8.2f} {lat['p99']:8.2f} {ratio} {r['cpu_ms_per_image']:10.2f} {cratio}{fail}")


def _format_profile(e: dict) -> str:
    parts = "  ".join(f"{k} {e['ms_per_image'][k]:.2f} ({e['share'][k]:.0%}, cpu {e['cpu_ms_per_image'][k]:.2f})"
                      for k in STAGES)
    pipe = f"; pipelined {e['pipelined_ms_per_image']:.2f}" if e["pipelined_ms_per_image"] else ""
    return f"profile batch {e['batch']:>3} {e['config']:<26} ms/image: {parts}; sum {e['sum_ms_per_image']:.2f}{pipe}"


def format_machine(setup: dict) -> List[str]:
    """The lines of :func:`machine_setup` a reader needs beside any figure: CPU, load, versions."""
    v = setup["versions"]
    return [f"# CPU: {setup['cpu']} ({setup['usable_cpus']} of {setup['logical_cpus']} logical CPUs usable); "
            f"flags: {' '.join(setup['cpu_flags']) or '-'}",
            f"# load average at start: {setup['load_average']} (figures on a busy machine are lower; compare the "
            f"ratios, measured in the same run)",
            f"# versions: python {setup['python']}, " + ", ".join(f"{k} {x}" for k, x in v.items())]


def format_setup(setup: dict) -> List[str]:
    lines = format_machine(setup) + [
        f"# model {setup['model_dir']} (input {setup['input_size'][0]}x{setup['input_size'][1]}); inputs: "
        f"{setup['inputs']}",
        f"# prefetch {setup['prefetch_batches']} batch(es); baseline threads {setup['baseline_threads']}"]
    for name, desc in setup["rows"].items():
        th = setup["threads"][name]
        fd = "; fast_decode ON (JPEGs decoded at reduced DCT scale)" if setup["fast_decode"].get(name) else ""
        lines.append(f"# {name}: {th['inference']} inference + {th['decode']} decode threads{fd}; {desc}")
    return lines


def summary_lines(report: dict) -> List[str]:
    out = []
    for r in report["rows"]:
        if r["config"] != BASELINE and r["ratio_to_baseline"] is not None and r["batch"] == 8:
            out.append(f"{r['mode']} batch 8: {r['config']} = {r['ratio_to_baseline']:.2f}x the baseline")
    return out


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(report: dict, path: os.PathLike) -> None:
    _atomic_write(Path(path), lambda p: p.write_text(json.dumps(report, indent=2) + "\n"))


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise InputError("--plot needs matplotlib: pip install 'personcls[bench]' (matplotlib, and Paddle "
                         "for the baseline)") from e
    return plt


def write_plot(report: dict, path: os.PathLike) -> None:
    """Images/s per batch size (end to end; model only) and end-to-end latency (p50, p99),
    one line per configuration."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    configs = sorted({r["config"] for r in report["rows"]}, key=lambda c: (c == BASELINE, c))
    colors = {c: plt.get_cmap("tab10")(i % 10) for i, c in enumerate(configs)}

    def series(mode, cfg):
        return sorted((r for r in report["rows"] if r["mode"] == mode and r["config"] == cfg), key=lambda r: r["batch"])

    for cfg in configs:
        for ax, mode in ((axes[0], "end-to-end"), (axes[1], "model-only")):
            rs = series(mode, cfg)
            if rs:
                ax.plot([r["batch"] for r in rs], [r["images_per_s"] for r in rs], "-o", color=colors[cfg], label=cfg)
        rs = series("end-to-end", cfg)
        if rs:
            bs = [r["batch"] for r in rs]
            axes[2].plot(bs, [r["latency_ms"]["p50"] for r in rs], "-o", color=colors[cfg], label=f"{cfg} p50")
            axes[2].plot(bs, [r["latency_ms"]["p99"] for r in rs], "--x", color=colors[cfg], label=f"{cfg} p99")
    batches = sorted({r["batch"] for r in report["rows"]})
    for ax, title, ylabel in ((axes[0], "end to end (files -> decision)", "images/s"),
                              (axes[1], "model only", "images/s"), (axes[2], "end-to-end latency per image", "ms")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(batches)
        ax.set_xticklabels([str(b) for b in batches])
        ax.set_xlabel("batch size")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    s = report["setup"]
    fig.suptitle(f"personcls benchmark: {s['cpu']}, {s['usable_cpus']} CPUs, load {s['load_average']} at start; "
                 f"{s['inputs']}", fontsize=9)
    fig.tight_layout()
    _atomic_write(Path(path), lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)


# -- command line -------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model folder (default: the shipped model)")
    p.add_argument("--images", nargs="+", metavar="PATH", help="image files or folders (default: synthetic frames)")
    p.add_argument("--frames", type=int, default=64, help="number of synthetic 1280x720 frames (default 64)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32], help="batch sizes (default 1 8 32)")
    p.add_argument("--backends", nargs="+", help="native and/or paddle (default: all available)")
    p.add_argument("--precisions", nargs="+", choices=["fp32", "bf16", "fp16", "int8"],
                   help="native engine precisions (default: fp32, bf16 where the CPU has it, int8 if the model has it)")
    p.add_argument("--mode", nargs="+", choices=MODES, default=list(MODES), dest="modes")
    p.add_argument("--threads", type=int, nargs="+", default=[0],
                   help="inference threads (0 = all cores); several values: a row per split")
    p.add_argument("--decode-threads", type=int, nargs="+", default=[0],
                   help="decode pool threads (0 = the Classifier's default); several values: a row per split")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--seconds", type=float, default=0.5, help="model-only: timed seconds per row and round")
    p.add_argument("--fast-decode", action="store_true", help="also time each row with fast_decode on")
    p.add_argument("--no-baseline", action="store_true", help="skip the PaddleClas-style baseline")
    p.add_argument("--profile", action="store_true", help="per-stage split: read, decode, preprocess, infer, postprocess")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="plot images/s and latency per batch size (needs matplotlib)")


def run_from_args(args) -> int:
    if args.plot:
        _pyplot()  # fail before measuring, not after
    report = run_benchmark(args.model, images=args.images, frames=args.frames, batches=args.batches,
                           backends=args.backends, precisions=args.precisions, modes=args.modes,
                           threads=args.threads, decode_threads=args.decode_threads, rounds=args.rounds,
                           seconds=args.seconds, baseline=not args.no_baseline, profile=args.profile,
                           fast_decode=args.fast_decode, log=lambda s: print(s, flush=True))
    for line in summary_lines(report):
        print(line)
    print(f"# load average at the end: {report['setup']['load_average_after']}")
    if args.json:
        write_json(report, args.json)
        print(f"# wrote {args.json}")
    if args.plot:
        write_plot(report, args.plot)
        print(f"# wrote {args.plot}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="personcls benchmark", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    return run_from_args(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
