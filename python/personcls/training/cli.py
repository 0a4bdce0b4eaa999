"""``personcls train | eval | infer | export | search`` (called by personcls.cli)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..config import load_config
from ..config import resolve_config_path as _resolve
from ..errors import ConfigError
from .config_access import weights_prefix

# the repository's training/configs/*.yaml, installed here by the wheel (pyproject wheel.packages)
PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG = PACKAGED_CONFIGS / "PPLCNet_x1_0.yaml"
COMMANDS = ("train", "eval", "infer", "export", "search")

# Keys a config may leave out (filled before -o overrides apply, so they can be overridden).
DEFAULTS: Dict[str, Any] = {
    "Global": {"checkpoints": None, "resume": "auto", "pretrained_model": None, "output_dir": "./output/",
               "device": "auto", "seed": 42, "save_interval": 1, "eval_during_train": True, "eval_interval": 1,
               "start_eval_epoch": 1, "epochs": 20, "print_batch_step": 10, "use_visualdl": True,
               "best_metric": "acc", "sync_bn": True, "save_inference_dir": "./inference"},
    "Preprocess": {"resize_short": 256, "crop_size": 224, "scale": 1.0 / 255.0,
                   "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "channel_order": "RGB"},
    "Arch": {"name": "PPLCNet_x1_0", "class_num": 2, "pretrained": False, "use_ssld": False},
    "Infer": {"infer_imgs": None, "batch_size": 10,
              "PostProcess": {"name": "ThreshOutput", "threshold": 0.5, "label_0": "nobody", "label_1": "someone"}},
}


def resolve_config_path(path: Optional[str]) -> Path:
    return _resolve(path, PACKAGED_CONFIGS, DEFAULT_CONFIG)


def load(config_path: Optional[str], overrides: List[str]) -> Dict[str, Any]:
    return load_config(resolve_config_path(config_path), overrides or [], defaults=copy.deepcopy(DEFAULTS),
                       allow_new=("Arch",))


# The parts of a config that define the trained network and its input: eval / infer / export of
# a checkpoint take them from the run that produced it (its config.yaml), not from -c.
MODEL_KEYS = ("Arch", "Preprocess")


def run_config_of(checkpoint: str) -> Optional[Path]:
    """The resolved config a checkpoint's run wrote (``<run folder>/config.yaml``), if any."""
    f = Path(weights_prefix(checkpoint)).parent / "config.yaml"
    return f if f.is_file() else None


def load_for_checkpoint(config_path: Optional[str], overrides: List[str]) -> Dict[str, Any]:
    """``load`` for eval / infer / export: when ``Global.pretrained_model`` is a checkpoint of a
    run folder, the network and preprocessing (``MODEL_KEYS``) come from that run's
    ``config.yaml``; ``-o`` overrides of those keys still apply on top."""
    import logging

    from ..config import apply_overrides, parse_override, read_yaml

    cfg = load(config_path, overrides)
    pm = (cfg.get("Global") or {}).get("pretrained_model")
    run_cfg = run_config_of(str(pm)) if pm else None
    if run_cfg is None:
        return cfg
    saved = read_yaml(run_cfg)
    mine = [o for o in overrides or [] if parse_override(o)[0].split(".")[0] in MODEL_KEYS]
    before = {k: copy.deepcopy(cfg.get(k)) for k in MODEL_KEYS}
    for k in MODEL_KEYS:
        if k in saved:
            cfg[k] = copy.deepcopy(saved[k])
    cfg = apply_overrides(cfg, mine, allow_new=("Arch",))
    changed = [k for k in MODEL_KEYS if cfg.get(k) != before[k]]
    if changed:
        logging.getLogger("personcls.training").warning(
            "%s and preprocessing from the checkpoint's run config %s (they differ from %s)%s", "/".join(changed),
            run_cfg, config_path or "the default config", "; -o overrides of them applied on top" if mine else "")
    return cfg


def run(command: str, config_path: Optional[str], overrides: List[str]) -> int:
    """Run a training command; returns the process exit status."""
    if command not in COMMANDS:
        raise ConfigError(f"unknown training command {command!r} (known: {', '.join(COMMANDS)})")
    if command == "search":  # -c names a search config (see search.py), not a training config
        from .search import search

        return int(search(config_path, overrides) or 0)
    if command == "train":
        from .engine import train

        train(load(config_path, overrides))  # returns the run's metrics (search uses them)
        return 0
    cfg = load_for_checkpoint(config_path, overrides)
    from .engine import export, infer
    from .evaluation import evaluate

    return int({"eval": evaluate, "infer": infer, "export": export}[command](cfg) or 0)
