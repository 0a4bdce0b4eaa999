"""``personcls train | eval | infer | export | search`` (called by personcls.cli): which
function runs each command. Loading a config: config_access.load / load_for_checkpoint."""

from __future__ import annotations

from typing import List, Optional

from ..errors import ConfigError
from .config_access import load, load_for_checkpoint

COMMANDS = ("train", "eval", "infer", "export", "search")


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
