#!/usr/bin/env python3
"""personcls against the PaddleClas pip package: the same model and the same JPEG files, end
to end (files -> decision), in one run.

Rows:

* ``paddleclas``: the ``paddleclas`` package's own Python predictor, as a user runs it:
  ``PaddleClas(inference_model_dir=..., batch_size=..., cpu_num_threads=..., use_gpu=False)``
  and ``.predict(folder)`` (``cv2.imread`` + the package's numpy ops, Paddle Inference with
  MKLDNN, its default), on the model folder's Paddle program. It runs in its own
  interpreter (``--paddleclas-python``; the package pins opencv-python 4.6 and other
  packages personcls's environment should not get). The package's default ops are
  ImageNet's (short side 256, crop 224); they are replaced with the model's own, built by
  the package's ``create_operators`` from ``PreprocessSpec.to_paddleclas_ops()``, so both
  sides resize, crop and normalise alike.
* ``personcls native <precision>``: ``Classifier.predict(paths)`` on the same files (the
  pipelined decode pool and the native OpenVINO engine), fp32 and, when the folder has an
  INT8 IR, int8.

Rows run round-robin, ``--rounds`` times (one pass over all files per row per round, after
a warm-up pass each). images/s is the median round; ``x paddleclas`` is the median over rounds of
the ratio to the first paddleclas row in the same round. Each row's top-1 class and P(positive
class) are held against that paddleclas row, file by file, so a row that is fast because it
computes something else shows.

    python benchmarks/vs_paddleclas.py --paddleclas-python /path/to/paddleclas-venv/bin/python \\
        [--model DIR] [--images DIR] [--frames 64] [--batch 8] [--threads 2] [--rounds 7] [--json FILE]

Setting up the paddleclas interpreter (docs/throughput.md has the versions that work):

    python3 -m venv ~/venv-paddleclas
    ~/venv-paddleclas/bin/pip install paddleclas==2.5.2 paddlepaddle==2.6.2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKER = "--paddleclas-worker"
ZLIB_PROBE = "import paddle, zlib; zlib.decompress(zlib.compress(b'x' * 4096))"
ZLIB_NOTE = ("after `import paddle`, zlib calls crash (Segmentation fault in inflateReset2 / deflateReset; "
             "PaddlePaddle/Paddle#70538), and `import paddleclas` is one; run with LD_PRELOAD={lib}")


# -- the paddleclas side: runs in the paddleclas interpreter, where personcls is not installed ----
def paddleclas_worker(config: str) -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)  # the protocol; library prints go to stderr
    os.dup2(2, 1)
    cfg = json.loads(config)
    from importlib import metadata

    import paddle
    from paddleclas import PaddleClas
    from paddleclas.deploy.python.preprocess import create_operators
    from paddleclas.deploy.utils.get_image_list import get_image_list

    engine = PaddleClas(inference_model_dir=cfg["model"], use_gpu=False, batch_size=cfg["batch"],
                        cpu_num_threads=cfg["threads"], topk=len(cfg["labels"]), class_id_map_file=cfg["labels_file"])
    engine.predictor.preprocess_ops = create_operators(cfg["ops"])
    pos = cfg["positive_class"]

    def run() -> dict:
        out = {}
        for preds in engine.predict(cfg["folder"]):
            for p in preds:
                out[p["filename"]] = [p["class_ids"][0], p["scores"][p["class_ids"].index(pos)]]
        return out

    run()  # warm-up: MKLDNN primitives for the full and the last batch's shape
    g = engine.get_config()["Global"]
    versions = {}
    for name in ("paddleclas", "paddlepaddle", "opencv-python", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    proto.write(json.dumps({"files": get_image_list(cfg["folder"]), "versions": versions,
                            "paddle_version": paddle.__version__, "enable_mkldnn": bool(g["enable_mkldnn"]),
                            "cpu_num_threads": g["cpu_num_threads"], "batch_size": g["batch_size"],
                            "ir_optim": bool(g["ir_optim"])}) + "\n")
    for line in sys.stdin:
        if line.strip() != "run":
            break
        t, c = time.perf_counter(), time.process_time()
        res = run()
        proto.write(json.dumps({"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c,
                                "results": res}) + "\n")
    return 0


# -- the driver: personcls's interpreter --------------------------------------------------------
class PaddleClasRow:
    """One paddleclas interpreter as a worker process, answering "run" with one timed pass."""

    def __init__(self, python: str, cfg: dict, log_dir: str, index: int):
        env, self.note = dict(os.environ), None
        probe = subprocess.run([python, "-c", ZLIB_PROBE], capture_output=True)
        if probe.returncode != 0:
            import ctypes.util

            lib = ctypes.util.find_library("z") or "libz.so.1"
            env["LD_PRELOAD"] = " ".join(x for x in (env.get("LD_PRELOAD"), lib) if x)
            if subprocess.run([python, "-c", ZLIB_PROBE], capture_output=True, env=env).returncode != 0:
                raise RuntimeError(f"{python}: `{ZLIB_PROBE}` fails (exit {probe.returncode}), with LD_PRELOAD={lib} "
                                   f"too:\n{probe.stderr.decode(errors='replace')[-2000:]}")
            self.note = ZLIB_NOTE.format(lib=lib)
        self.python = python
        self.log_path = Path(log_dir) / f"paddleclas{index}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([python, os.path.abspath(__file__), WORKER, json.dumps(cfg)], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True)
        self.info = self._read()
        v = self.info["versions"]
        self.name = f"paddleclas {v.get('paddleclas', '?')} (paddle {self.info['paddle_version']})"

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self._log.flush()
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the paddleclas worker ({self.python}) exited with {self.proc.returncode}:\n{tail}")
        return json.loads(line)

    def run(self) -> dict:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        self._log.close()


class PersonclsRow:
    def __init__(self, model_dir: Path, precision: str, threads: int, batch: int):
        from personcls.backends import RuntimeOptions
        from personcls.classifier import Classifier

        self.clf = Classifier(model_dir, backend="native", threads=threads, batch_size=batch,
                              options=RuntimeOptions(cpu_precision=precision))
        self.name = f"personcls native {precision}"
        self.threads = threads
        self.pos = self.clf.meta.postprocess.positive_class

    def run(self, files) -> dict:
        t, c = time.perf_counter(), time.process_time()
        res = self.clf.predict(files)
        sec, cpu = time.perf_counter() - t, time.process_time() - c
        out = {f: ([r.class_ids[0], r.scores[r.class_ids.index(self.pos)]] if r.ok else str(r.error))
               for f, r in zip(files, res)}
        return {"seconds": sec, "cpu_seconds": cpu, "results": out}


def compare(results: dict, reference: dict) -> dict:
    """Top-1 agreement and the largest |P(positive) difference| against the reference row."""
    same, diff, failed = 0, 0.0, 0
    for f, ref in reference.items():
        got = results.get(f)
        if not isinstance(got, list):
            failed += 1
            continue
        same += got[0] == ref[0]
        diff = max(diff, abs(got[1] - ref[1]))
    return {"top1_agree": same, "of": len(reference), "max_abs_dp": round(diff, 5), "failed": failed}


def main(argv=None) -> int:
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paddleclas-python", nargs="+", default=[os.environ["PADDLECLAS_PYTHON"]]
                    if os.environ.get("PADDLECLAS_PYTHON") else None,
                    help="interpreter(s) with the paddleclas package (default: $PADDLECLAS_PYTHON); "
                         "the first one is the baseline")
    ap.add_argument("--model", help="model folder (default: the shipped model)")
    ap.add_argument("--images", help="a folder of images (default: synthetic 1280x720 JPEG frames)")
    ap.add_argument("--frames", type=int, default=64, help="number of synthetic frames (default 64)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="paddleclas cpu_num_threads and personcls inference threads (default: all cores)")
    ap.add_argument("--precisions", nargs="+", default=["fp32", "int8"], choices=["fp32", "bf16", "int8"])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--pause", type=float, default=0.5,
                    help="seconds idle before each timed pass (lets the other rows' spinning threads sleep)")
    ap.add_argument("--json", metavar="FILE", help="write the report as JSON")
    args = ap.parse_args(argv)
    if not args.paddleclas_python:
        ap.error("give --paddleclas-python (or set PADDLECLAS_PYTHON): an interpreter with the paddleclas package")
    if args.rounds < 1 or args.batch < 1 or args.threads < 1:
        ap.error("--rounds, --batch and --threads must be >= 1")

    from personcls.benchmark import format_machine, machine_setup, synthetic_frames, write_json
    from personcls.modelfolder import PADDLE_PARAMS, PADDLE_PROGRAM, ModelMeta, default_model_dir, paddle_files

    model_dir = Path(args.model or default_model_dir()).resolve()
    meta = ModelMeta.load(model_dir)
    prog = paddle_files(model_dir, meta, legacy_only=True)
    if (prog.model.name, prog.weights.name) != (PADDLE_PROGRAM, PADDLE_PARAMS):
        ap.error(f"paddleclas loads {PADDLE_PROGRAM} + {PADDLE_PARAMS} by those names; {model_dir} names its Paddle "
                 f"program {prog.model.name} + {prog.weights.name}")
    setup = machine_setup()
    with tempfile.TemporaryDirectory(prefix="vs-paddleclas-") as tmp:
        if args.images:
            folder, source = os.path.abspath(args.images), f"the images in {args.images}"
        else:
            folder = os.path.join(tmp, "frames")
            synthetic_frames(folder, args.frames)
            source = f"{args.frames} synthetic 1280x720 JPEG frames (quality 85)"
        labels_file = os.path.join(tmp, "labels.txt")
        Path(labels_file).write_text("".join(f"{i} {n}\n" for i, n in enumerate(meta.postprocess.label_names)))
        cfg = {"model": str(model_dir), "folder": folder, "batch": args.batch, "threads": args.threads,
               "ops": meta.preprocess.to_paddleclas_ops(), "labels": list(meta.postprocess.label_names),
               "labels_file": labels_file, "positive_class": meta.postprocess.positive_class}
        rows, done = [], False
        try:
            for i, py in enumerate(args.paddleclas_python):
                rows.append(PaddleClasRow(py, cfg, tmp, i))
                if any(r.name == rows[-1].name for r in rows[:-1]):
                    rows[-1].name += f" #{i + 1}"
            files = rows[0].info["files"]
            for r in rows[1:]:
                if r.info["files"] != files:
                    raise RuntimeError(f"{r.python} lists other files in {folder} than {rows[0].python}")
            for p in args.precisions:
                if p == "int8" and not meta.has_int8_ir:
                    print(f"# int8 skipped: {model_dir} has no INT8 IR")
                    continue
                rows.append(PersonclsRow(model_dir, p, args.threads, args.batch))
            for r in rows:
                if isinstance(r, PersonclsRow):
                    r.run(files)  # warm-up
            lines = format_machine(setup) + [
                f"# model {model_dir} (input {meta.preprocess.crop_size[0]}x{meta.preprocess.crop_size[1]}); "
                f"inputs: {len(files)} files, {source}; batch {args.batch}; {args.rounds} rounds"]
            for r in rows:
                if isinstance(r, PaddleClasRow):
                    inf = r.info
                    lines.append(f"# {r.name}: {r.python}; " + ", ".join(f"{k} {v}" for k, v in inf["versions"].items())
                                 + f"; cpu_num_threads {inf['cpu_num_threads']}, enable_mkldnn {inf['enable_mkldnn']}, "
                                 f"ir_optim {inf['ir_optim']}, batch_size {inf['batch_size']}; decode: cv2.imread "
                                 f"on the calling thread; ops {json.dumps(cfg['ops'])}")
                    if r.note:
                        lines.append(f"#   note: {r.note}")
                else:
                    c = r.clf
                    lines.append(f"# {r.name}: {r.threads} inference + {c.decode_threads} decode "
                                 f"threads, prefetch {c.prefetch}; {c.pipeline.describe()}")
            for line in lines:
                print(line, flush=True)

            runs = {r.name: [] for r in rows}
            for k in range(args.rounds):
                order = rows[k % len(rows):] + rows[:k % len(rows)]  # who goes first rotates
                for r in order:
                    time.sleep(args.pause)
                    runs[r.name].append(r.run(files) if isinstance(r, PersonclsRow) else r.run())
            done = True
        finally:
            for r in rows:
                if isinstance(r, PaddleClasRow):
                    r.close()
                else:
                    r.clf.close()
            if not done:
                for r in rows:
                    if isinstance(r, PaddleClasRow) and r.log_path.exists():
                        sys.stderr.write(f"--- {r.python} log (tail) ---\n{r.log_path.read_text(errors='replace')[-2000:]}\n")

    base = rows[0].name
    n = len(files)
    ips = {name: np.array([n / x["seconds"] for x in rs]) for name, rs in runs.items()}
    table = []
    print(f"{'config':<36} {'img/s':>8} {'x paddleclas':>13} {'cpu ms/img':>11} {'x (cpu)':>8} {'top-1 agree':>12} "
          f"{'max |dP|':>9}")
    cpu = {name: float(np.median([x["cpu_seconds"] for x in rs])) / n * 1e3 for name, rs in runs.items()}
    for r in rows:
        rs = runs[r.name]
        agree = compare(rs[-1]["results"], runs[base][-1]["results"])
        row = {"config": r.name, "images_per_s": round(float(np.median(ips[r.name])), 2),
               "ratio_to_paddleclas": round(float(np.median(ips[r.name] / ips[base])), 3),
               "cpu_ms_per_image": round(cpu[r.name], 3), "cpu_ratio_to_paddleclas": round(cpu[base] / cpu[r.name], 3),
               "rounds_images_per_s": [round(float(v), 2) for v in ips[r.name]], "agreement": agree}
        table.append(row)
        fail = f"  ({agree['failed']} inputs failed)" if agree["failed"] else ""
        print(f"{r.name:<36} {row['images_per_s']:8.1f} {row['ratio_to_paddleclas']:12.2f}x "
              f"{row['cpu_ms_per_image']:11.2f} {row['cpu_ratio_to_paddleclas']:7.2f}x {agree['top1_agree']:>7}/{agree['of']:<4} {agree['max_abs_dp']:9.4f}{fail}")
    setup["load_average_after"] = round(os.getloadavg()[0], 2)
    print(f"# load average at the end: {setup['load_average_after']}; x paddleclas: median over rounds of the "
          f"ratio to '{base}' in the same round; x (cpu): the baseline's process CPU per image over the row's (moves far less "
          f"than wall time with foreign load); agreement: against '{base}', file by file")
    if args.json:
        setup.update({"model_dir": str(model_dir), "inputs": source, "files": n, "batch": args.batch,
                      "threads": args.threads, "rounds": args.rounds, "paddleclas_ops": cfg["ops"],
                      "rows": lines})
        write_json({"setup": setup, "rows": table}, args.json)
        print(f"# wrote {args.json}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == WORKER:
        sys.exit(paddleclas_worker(sys.argv[2]))
    try:
        sys.exit(main())
    except RuntimeError as e:  # a paddleclas interpreter that cannot run: its own error, no traceback of ours
        sys.exit(f"vs_paddleclas: {e}")
