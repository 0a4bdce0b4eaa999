"""The ``personcls`` command line.

    personcls predict -c inference.yaml -o Global.infer_imgs=images/ -o Global.use_gpu=False
    personcls predict SOURCE... [--recursive] [--save out.csv|out.jsonl] [--json]
    personcls eval MODEL_DIR LIST [--pick-threshold [acc|fpr]]      (an exported model folder)
    personcls train|eval|infer|export|search -c PPLCNet_x1_0.yaml -o Key.path=value ...
    personcls info [-o Global.inference_model_dir=...]
    personcls --version;  personcls predict --print-config
    personcls benchmark [--images DIR] [--json FILE] [--plot FILE.png] [--profile]
    personcls watch SOURCE [SOURCE ...] [-o Watch.key=value] [--json]   (docs/video.md)
    personcls calibrate SOURCE --max-false-rate R
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import __version__
from .errors import ConfigError, InputError, PersonclsError

PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"
DEFAULT_INFER_CONFIG = PACKAGED_CONFIGS / "inference_person_cls.yaml"
TRAINING_COMMANDS = ("train", "eval", "infer", "export", "search")


def _resolve_config(path: Optional[str], fallback: Path) -> Path:
    from .config import resolve_config_path

    return resolve_config_path(path, PACKAGED_CONFIGS, fallback)


def load_inference_config(path: Optional[str], overrides) -> dict:
    """The inference YAML (``-c``, default the packaged one) with ``-o`` overrides; the keys of
    personcls.inference_config.KEYS are valid even where the file leaves them out."""
    from .config import load_config, suggest_key
    from .inference_config import KEYS, unused_keys

    cfg = load_config(_resolve_config(path, DEFAULT_INFER_CONFIG), overrides, known=KEYS)
    for key in unused_keys(cfg):  # -o typos are errors already; a file's are named here
        print(f"personcls: note: config key '{key}' is not used{suggest_key(key, KEYS)}", file=sys.stderr)
    return cfg


def build_classifier(cfg: dict):
    """A Classifier from an inference config: its keys become Classifier arguments through the
    one table of personcls.inference_config (``Global`` / ``PostProcess``); ``PreProcess`` only
    for a folder without personcls.json."""
    from .classifier import Classifier
    from .inference_config import classifier_kwargs
    from .modelfolder import has_metadata
    from .spec import PreprocessSpec

    kw = classifier_kwargs(cfg)
    model_dir = kw.get("model_dir")
    if model_dir and not has_metadata(model_dir):
        ops = (cfg.get("PreProcess") or {}).get("transform_ops")
        if not ops:
            raise ConfigError(f"{model_dir} has no personcls.json and the config has no PreProcess.transform_ops")
        try:
            kw["preprocess"] = PreprocessSpec.from_paddleclas_ops(ops)
        except ValueError as e:
            raise ConfigError(f"PreProcess.transform_ops: {e}") from e
    return Classifier(**kw)


def _save_fields() -> List[str]:
    import dataclasses

    from .postprocess import Timing

    return (["name", "path", "class_ids", "scores", "label_names", "someone", "person_score", "threshold", "error"]
            + [f.name for f in dataclasses.fields(Timing)])


class ResultWriter:
    """``--save FILE``: one row per image, CSV (``.csv``) or JSON lines (``.jsonl``, ``.json``,
    ``.ndjson``), written to ``FILE.tmp`` and renamed to FILE when the run ends."""

    def __init__(self, path: str):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix == ".csv":
            self.kind = "csv"
        elif suffix in (".jsonl", ".json", ".ndjson"):
            self.kind = "jsonl"
        else:
            raise ConfigError(f"--save {path}: the file name must end in .csv or .jsonl (JSON lines)")
        if self.path.parent and not self.path.parent.is_dir():
            raise ConfigError(f"--save {path}: folder {self.path.parent} does not exist")
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.f = open(self.tmp, "w", newline="")
        self.csv = None
        if self.kind == "csv":
            self.csv = csv.DictWriter(self.f, fieldnames=_save_fields())
            self.csv.writeheader()

    def write(self, row: Dict[str, Any]) -> None:
        if self.csv is not None:
            self.csv.writerow({k: (json.dumps(v) if isinstance(v, list) else ("" if v is None else v))
                               for k, v in row.items()})
        else:
            self.f.write(json.dumps(row) + "\n")

    def close(self, complete: bool) -> None:
        self.f.close()
        if complete:
            os.replace(self.tmp, self.path)


def _row(r, path: str) -> Dict[str, Any]:
    """One result as --save / --json write it: Result.to_dict with its source as ``name``, the
    path as given, and the Timing fields flattened."""
    d = r.to_dict()
    timing = d.pop("timing") or {}
    from .imageio import printable

    return {"name": d.pop("source"), "path": printable(path), **d, **timing}


def _sources(args, cfg) -> list:
    from . import imageio

    from .inference_config import resolve

    g = resolve(cfg)["command"]
    target = list(args.sources) if args.sources else g.get("infer_imgs")
    if target is None or target == "" or target == []:
        raise ConfigError("no images given: personcls predict SOURCE... (files, folders, list files, globs), or "
                          "-o Global.infer_imgs=path/to/image_or_folder")
    recursive = bool(args.recursive or g.get("recursive", False))
    skipped: List[str] = []
    items = imageio.expand_sources(target, recursive=recursive, skipped=skipped)
    if skipped:
        shown = ", ".join(imageio.printable(os.path.basename(s)) for s in skipped[:10])
        more = f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        print(f"personcls predict: skipped {len(skipped)} entries that are not images: {shown}{more} "
              f"(images: {', '.join(imageio.IMAGE_SUFFIXES)})", file=sys.stderr)
    if not recursive:
        for t in ([target] if isinstance(target, str) else target):
            if isinstance(t, str) and os.path.isdir(t):
                n = imageio.subfolders_with_images(t)
                if n:
                    print(f"personcls predict: note: {t} has {n} sub-folder(s) with images, not searched "
                          f"(--recursive or -o Global.recursive=true searches them)", file=sys.stderr)
    return items


def cmd_predict(args) -> int:
    cfg = load_inference_config(args.config, args.override)
    items = _sources(args, cfg)
    writer = ResultWriter(args.save) if args.save else None
    clf = build_classifier(cfg)
    from .video.cli import video_entries

    failed = total = 0
    complete = False
    reader_gone = False

    def out(line: str) -> None:
        nonlocal reader_gone
        if reader_gone:
            return
        try:
            print(line, flush=True)
        except BrokenPipeError:
            if writer is None:
                raise
            # `... --save f.csv | head`: the reader went away, the file still gets every result
            reader_gone = True
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    try:
        with clf:
            # a video file is one entry per frame, named clip.mp4#<frame> (personcls/video)
            paths, inputs, names = video_entries(items)
            for path, r in zip(paths, clf.predict_iter(inputs, names=names)):
                total += 1
                row = _row(r, path)
                if writer is not None:
                    writer.write(row)
                if not r.ok:
                    failed += 1
                    print(f"{r.source}:\terror: {r.error}", file=sys.stderr, flush=True)
                if args.json:
                    out(json.dumps(row))
                elif r.ok:
                    out(r.format_line())
        complete = True
    finally:
        if writer is not None:
            writer.close(complete)
    if failed:
        print(f"personcls: {failed} of {total} image(s) failed", file=sys.stderr)
        return 1
    return 0


def cmd_eval_folder(args) -> int:
    from .evaluate import evaluate_folder, format_report

    model_dir, list_file = args.paths
    overrides = list(args.override) + [f"Global.inference_model_dir={model_dir}"]
    cfg = load_inference_config(args.config, overrides)
    clf = build_classifier(cfg)
    out = args.out or str(Path("output") / "eval" / f"{Path(model_dir).resolve().name}-{Path(list_file).name}")
    with clf:
        report = evaluate_folder(clf, list_file, out, max_fpr=args.max_fpr, pick=args.pick_threshold)
    for f in report["failed"]:
        print(f"error: {f}", file=sys.stderr)
    print(json.dumps(report) if args.json else format_report(report))
    if not args.json:
        print(f"wrote {Path(out) / 'metrics.json'}, {Path(out) / 'scores.csv'}"
              + (f", {report['roc_png']}, {report['pr_png']}" if "roc_png" in report else f" ({report.get('plots')})"))
    return 1 if report["failed"] else 0


def cmd_info(args) -> int:
    from . import build_info
    from .backends import BACKEND_PREFERENCE, available_backends, cpu_precisions, machine_info
    from .modelfolder import ModelMeta, default_model_dir

    cfg = load_inference_config(args.config, args.override)
    info = {"version": __version__, "build": build_info(), "backends": available_backends(),
            "backend_preference": {d: list(order) for d, order in BACKEND_PREFERENCE.items()},
            "machine": machine_info(), "cpu_precisions": cpu_precisions()}
    from .inference_config import resolve

    model_dir = resolve(cfg)["classifier"].get("model_dir") or default_model_dir()
    try:
        info["model"] = {"dir": str(model_dir), **ModelMeta.load(model_dir).to_dict()}
    except PersonclsError as e:
        info["model"] = {"dir": str(model_dir), "error": str(e)}
    print(json.dumps(info, indent=2))
    return 0


def cmd_quantize(args) -> int:
    from .quantize import main_quantize

    return main_quantize(load_inference_config(args.config, args.override))


def config_keys_help(path: Path = DEFAULT_INFER_CONFIG) -> str:
    """``Section.key  default  comment`` for every commented key of the packaged config (its
    comments are the documentation of the keys)."""
    rows, stack = [], []
    for line in path.read_text().splitlines():
        m = re.match(r"^( *)([A-Za-z_]\w*):\s*([^#]*?)\s*(?:#\s*(.*))?$", line)
        if not m:
            continue
        depth = len(m.group(1)) // 2
        stack[depth:] = [m.group(2)]
        if m.group(3) and m.group(4):
            rows.append((".".join(stack), m.group(3), m.group(4)))
    w = max(len(k) for k, _, _ in rows)
    return "\n".join(f"  {k:<{w}}  {v:<6} {c}" for k, v, c in rows)


def cmd_print_config(args) -> int:
    import yaml

    if args.command in TRAINING_COMMANDS and not getattr(args, "paths", None):
        if args.command == "search":
            from .training.search import load_search_config

            cfg = load_search_config(args.config or "PPLCNet_x1_0_search.yaml", args.override)
            cfg.pop("_path", None)
        else:
            from .training.config_access import load

            cfg = load(args.config, args.override)
        print(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), end="")
        return 0
    if args.command in ("watch", "calibrate"):  # with the Watch / Sources sections (personcls/video)
        from .video.cli import load_watch_config

        print(yaml.safe_dump(load_watch_config(args.config, args.override), sort_keys=False), end="")
        return 0
    path = _resolve_config(args.config, DEFAULT_INFER_CONFIG)
    if not args.override:  # as written, comments included
        print(path.read_text(), end="")
        return 0
    print(yaml.safe_dump(load_inference_config(str(path), args.override), sort_keys=False, allow_unicode=True),
          end="")
    return 0


def cmd_benchmark(args) -> int:
    from .benchmark import run_from_args

    return run_from_args(args)


def make_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="personcls", description="Is someone there? Person / no-person classification.")
    ap.add_argument("--version", action="version", version=f"personcls {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("-c", "--config", help="YAML config (a bare name also finds the packaged configs)")
        p.add_argument("-o", "--override", action="append", default=[], metavar="Key.path=value",
                       help="override a config value (repeatable); values are typed as YAML")
        p.add_argument("--print-config", action="store_true",
                       help="print the config (after -c and -o) and exit; without -c/-o, the packaged default")

    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "predict", help="classify images with an exported model", formatter_class=fmt,
        description="Classify images: SOURCE arguments (files, folders, list files, globs) or, as in the tutorial, "
                    "-o Global.infer_imgs=PATH. One line per image (the tutorial's format), or --json.",
        epilog="examples:\n  personcls predict photo.jpg\n  personcls predict imgs/ 'more/**/*.png' list.txt "
               "--recursive --save results.csv\n  personcls predict -c inference_person_cls.yaml "
               "-o Global.infer_imgs=imgs/ -o Global.use_gpu=False\n\n"
               "config keys (-o Key=value; personcls predict --print-config shows them all):\n" + config_keys_help())
    common(p)
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="image file, folder, list file (.txt: one path per line) or glob; replaces Global.infer_imgs")
    p.add_argument("-r", "--recursive", action="store_true", help="search sub-folders of folder sources")
    p.add_argument("--save", metavar="FILE", help="also write every result to FILE: .csv or .jsonl (JSON lines)")
    p.add_argument("--json", action="store_true", help="one JSON object per image (failures too, with 'error')")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("info", help="what this install can run, and the model's metadata")
    common(p)
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("quantize", help="INT8 post-training quantization of a model folder's OpenVINO IR (NNCF)")
    common(p)
    p.set_defaults(func=cmd_quantize)
    from .video.cli import register_commands

    register_commands(sub, common)  # watch, calibrate (personcls/video)

    from .benchmark import add_arguments as benchmark_arguments

    p = sub.add_parser("benchmark", help="images/s and latency on this machine, against a same-run PaddleClas-style baseline")
    benchmark_arguments(p)
    p.set_defaults(func=cmd_benchmark, print_config=False)  # takes no -c/-o config
    for name in TRAINING_COMMANDS:
        if name == "eval":
            p = sub.add_parser(
                "eval", formatter_class=fmt,
                help="evaluate: an exported model folder on a labeled list, or a training checkpoint (-c ...)",
                description="personcls eval MODEL_DIR LIST: the exported model as deployed on a labeled list "
                            "(accuracy, precision/recall/F1 at its threshold, TPR at FPR, ROC/PR plots with the "
                            "operating point).\npersoncls eval -c CONFIG -o Global.pretrained_model=...: a training "
                            "checkpoint (needs the training extra).")
            common(p)
            p.add_argument("paths", nargs="*", metavar="MODEL_DIR LIST", help="exported model folder and labeled list")
            p.add_argument("--max-fpr", type=float, default=0.01, help="FPR bound of the TPR@FPR figure (0.01)")
            p.add_argument("--pick-threshold", nargs="?", const="acc", choices=("acc", "fpr"),
                           help="pick the threshold on LIST (acc: best accuracy; fpr: best TPR with FPR <= --max-fpr) "
                                "and store it in MODEL_DIR/personcls.json")
            p.add_argument("--out", help="folder for metrics.json, scores.csv, roc.png, pr.png "
                                         "(default output/eval/<model>-<list>)")
            p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
        else:
            p = sub.add_parser(name, help=f"{name} (training package; needs PaddlePaddle)")
            common(p)
        p.set_defaults(func=None)
    return ap


def _run_training(args) -> int:
    try:
        import paddle  # noqa: F401
    except ImportError as e:
        raise ConfigError(f"'personcls {args.command}' needs the training extra: pip install 'personcls[train]' "
                          f"({e})") from None
    from .training.cli import run

    try:
        return int(run(args.command, args.config, args.override) or 0)
    except ModuleNotFoundError as e:
        raise ConfigError(f"'personcls {args.command}' needs {e.name}: pip install 'personcls[train]'") from None


def main(argv: Optional[List[str]] = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        try:
            if args.print_config:
                rc = cmd_print_config(args)
            elif args.command == "eval" and args.paths:
                if len(args.paths) != 2:
                    raise ConfigError(f"eval takes MODEL_DIR LIST (an exported model folder and a labeled list), "
                                      f"got {len(args.paths)} argument(s)")
                rc = cmd_eval_folder(args)
            elif args.command in TRAINING_COMMANDS:
                if args.command == "eval" and (args.pick_threshold or args.out or args.json):
                    raise ConfigError("--pick-threshold, --out and --json need MODEL_DIR LIST "
                                      "(personcls eval MODEL_DIR LIST ...)")
                rc = _run_training(args)
            else:
                rc = int(args.func(args) or 0)
            sys.stdout.flush()
            return rc
        except PersonclsError as e:
            sys.stdout.flush()
            print(f"personcls {args.command}: error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
    except BrokenPipeError:
        # the reader went away (personcls predict ... | head): stop quietly, like other Unix tools
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
