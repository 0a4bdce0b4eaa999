"""The ``personcls`` command line.

    personcls predict -c inference.yaml -o Global.infer_imgs=images/ -o Global.use_gpu=False
    personcls train|eval|infer|export|search -c PPLCNet_x1_0.yaml -o Key.path=value ...
    personcls info [-o Global.inference_model_dir=...]
    personcls watch SOURCE [SOURCE ...] [-o Watch.key=value] [--json]   (docs/video.md)
    personcls calibrate SOURCE --max-false-rate R
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from .errors import ConfigError, PersonclsError

PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"
DEFAULT_INFER_CONFIG = PACKAGED_CONFIGS / "inference_person_cls.yaml"
TRAINING_COMMANDS = ("train", "eval", "infer", "export", "search")


def _resolve_config(path: Optional[str], fallback: Path) -> Path:
    from .config import resolve_config_path

    return resolve_config_path(path, PACKAGED_CONFIGS, fallback)


def build_classifier(cfg: dict):
    """A Classifier from an inference config (``Global`` / ``PreProcess`` / ``PostProcess``)."""
    from .backends import RuntimeOptions
    from .classifier import Classifier
    from .spec import PreprocessSpec

    g = cfg.get("Global") or {}
    post = cfg.get("PostProcess") or {}
    main = post.get("main_indicator", "Topk")
    if main not in ("Topk", "ThreshOutput"):
        raise ConfigError(f"PostProcess.main_indicator must be Topk or ThreshOutput, got {main!r}")
    precision = "int8" if g.get("use_int8") else ("fp16" if g.get("use_fp16") else "fp32")
    opts = RuntimeOptions(
        gpu_id=int(g.get("gpu_id", 0)), gpu_mem_mb=int(g.get("gpu_mem", 500)),
        enable_mkldnn=bool(g.get("enable_mkldnn", True)), ir_optim=bool(g.get("ir_optim", True)),
        use_tensorrt=bool(g.get("use_tensorrt", False)), precision=precision,
        min_batch=int(g.get("min_batch", 1)), opt_batch=int(g.get("opt_batch", 8)), max_batch=int(g.get("max_batch", 32)),
        trt_cache_dir=g.get("trt_cache_dir"), cpu_precision=str(g.get("cpu_precision", "fp32")),
    )
    model_dir = g.get("inference_model_dir")
    pre = None
    if model_dir and not (Path(model_dir) / "personcls.json").is_file():
        ops = (cfg.get("PreProcess") or {}).get("transform_ops")
        if not ops:
            raise ConfigError(f"{model_dir} has no personcls.json and the config has no PreProcess.transform_ops")
        try:
            pre = PreprocessSpec.from_paddleclas_ops(ops)
        except ValueError as e:
            raise ConfigError(f"PreProcess.transform_ops: {e}") from e
    topk_cfg = post.get("Topk") or {}
    thr_cfg = post.get("ThreshOutput") or {}
    clf = Classifier(
        model_dir, backend=str(g.get("backend", "auto")), device="gpu" if g.get("use_gpu") else "cpu",
        threads=int(g.get("cpu_num_threads", 0) or 0), batch_size=int(g.get("batch_size", 8)),
        threshold=thr_cfg.get("threshold"), mode="topk" if main == "Topk" else "threshold",
        preprocess=pre, label_names=topk_cfg.get("label_names"), options=opts,
        fast_decode=bool(g.get("fast_decode", False)),
    )
    if main == "Topk" and topk_cfg.get("topk"):
        clf.postprocessor.topk = min(int(topk_cfg["topk"]), len(clf.meta.postprocess.label_names))
    return clf


def cmd_predict(args) -> int:
    from . import imageio
    from .config import load_config

    cfg = load_config(_resolve_config(args.config, DEFAULT_INFER_CONFIG), args.override)
    target = (cfg.get("Global") or {}).get("infer_imgs")
    if not target:
        raise ConfigError("no images given: set Global.infer_imgs (-o Global.infer_imgs=path/to/image_or_folder)")
    from .video.sources import is_video_file

    if is_video_file(target):  # one line per frame, named clip.mp4#<frame>
        from .video.cli import predict_video

        return predict_video(cfg, str(target), args.json)
    paths = imageio.expand_target(target)  # a missing or broken file gets its error line below
    clf = build_classifier(cfg)
    failed = 0
    bs = clf.batch_size
    with clf:
        for start in range(0, len(paths), bs):
            chunk = paths[start:start + bs]
            for r in clf.predict_batch(chunk):
                if r.ok:
                    print(json.dumps(r.to_dict()) if args.json else r.format_line(), flush=True)
                else:
                    failed += 1
                    print(f"{r.source}:\terror: {r.error}", file=sys.stderr, flush=True)
    if failed:
        print(f"personcls: {failed} of {len(paths)} image(s) failed", file=sys.stderr)
        return 1
    return 0


def cmd_info(args) -> int:
    from . import build_info
    from .backends import available_backends
    from .config import load_config
    from .spec import ModelMeta, default_model_dir

    cfg = load_config(_resolve_config(args.config, DEFAULT_INFER_CONFIG), args.override)
    info = {"build": build_info(), "backends": available_backends()}
    model_dir = (cfg.get("Global") or {}).get("inference_model_dir") or default_model_dir()
    try:
        info["model"] = {"dir": str(model_dir), **ModelMeta.load(model_dir).to_dict()}
    except PersonclsError as e:
        info["model"] = {"dir": str(model_dir), "error": str(e)}
    print(json.dumps(info, indent=2))
    return 0


def cmd_quantize(args) -> int:
    from .config import load_config
    from .quantize import main_quantize

    return main_quantize(load_config(_resolve_config(args.config, DEFAULT_INFER_CONFIG), args.override))


def make_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="personcls", description="Is someone there? Person / no-person classification.")
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("-c", "--config", help="YAML config (a bare name also finds the packaged configs)")
        p.add_argument("-o", "--override", action="append", default=[], metavar="Key.path=value",
                       help="override a config value (repeatable); values are typed as YAML")

    p = sub.add_parser("predict", help="classify an image or a folder of images with an exported model")
    common(p)
    p.add_argument("--json", action="store_true", help="one JSON object per image instead of the tutorial's line")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("info", help="what this install can run, and the model's metadata")
    common(p)
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("quantize", help="INT8 post-training quantization of a model folder's OpenVINO IR (NNCF)")
    common(p)
    p.set_defaults(func=cmd_quantize)
    from .video.cli import register_commands

    register_commands(sub, common)  # watch, calibrate (personcls/video)
    for name in TRAINING_COMMANDS:
        p = sub.add_parser(name, help=f"{name} (training package; needs PaddlePaddle)")
        common(p)
        p.set_defaults(func=None)
    return ap


def main(argv: Optional[List[str]] = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        if args.command in TRAINING_COMMANDS:
            try:
                from .training.cli import run
            except ImportError as e:
                raise ConfigError(f"'{args.command}' needs the training extras: pip install 'personcls[train]' ({e})") from e
            return int(run(args.command, args.config, args.override) or 0)
        return int(args.func(args) or 0)
    except PersonclsError as e:
        print(f"personcls {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
