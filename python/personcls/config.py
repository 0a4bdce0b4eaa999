"""YAML configs with PaddleClas-style ``-o Key.path=value`` overrides.

Values are parsed with ``yaml.safe_load`` (so ``False``, ``8``, ``0.5``, ``[1, 2]`` get their
types; nothing is evaluated). An override must name a key that exists in the config; a
misspelt key is an error that suggests the closest valid one.
"""

from __future__ import annotations

import copy
import difflib
import os
from pathlib import Path
from typing import Any, Collection, Dict, Iterable, List, Optional, Sequence, Tuple

import yaml

from .errors import ConfigError


def parse_value(text: str) -> Any:
    """Type a command-line value the way YAML would ('False' -> False, '8' -> 8)."""
    if text == "":
        return ""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _all_keys(node: Any, prefix: str = "") -> List[str]:
    keys: List[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{prefix}.{k}" if prefix else str(k)
            keys.append(p)
            keys.extend(_all_keys(v, p))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            p = f"{prefix}.{i}"
            keys.append(p)
            keys.extend(_all_keys(v, p))
    return keys


def suggest_key(key: str, candidates: Collection[str]) -> str:
    """"; did you mean 'X'?" for the candidate closest to ``key``, or ""."""
    close = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _suggest(cfg: Dict[str, Any], key: str, known: Collection[str] = ()) -> str:
    """The closest valid key: from ``known`` (a command's table of keys) first, then the config's."""
    return suggest_key(key, list(known) + [k for k in _all_keys(cfg) if k not in known])


def set_by_path(cfg: Dict[str, Any], key: str, value: Any, allow_new: Sequence[str] = (),
                known: Collection[str] = ()) -> None:
    """Set ``cfg[a][b][0][c] = value`` for key 'a.b.0.c'; a last index equal to the list's length
    appends.

    The final key may be new only if its parent path starts with one of ``allow_new``, or if
    the whole key is one of ``known`` (missing sections are then created).
    """
    parts = key.split(".")
    if not key or any(p == "" for p in parts):
        raise ConfigError(f"override key {key!r} is malformed")
    if key in known:
        node = cfg
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
        return
    node: Any = cfg
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            try:
                idx = int(part)
            except ValueError:
                raise ConfigError(f"'{here}': '{'.'.join(parts[:depth])}' is a list; use an index") from None
            if last and idx == len(node):  # one past the end: append (e.g. a third Arch.models entry)
                node.append(value)
                return
            if not (-len(node) <= idx < len(node)):
                raise ConfigError(f"'{here}': index {idx} out of range (list has {len(node)} items; "
                                  f"index {len(node)} appends)")
            if last:
                node[idx] = value
                return
            node = node[idx]
        elif isinstance(node, dict):
            if part not in node:
                parent = ".".join(parts[:depth])
                if last and any(parent == a or parent.startswith(a + ".") for a in allow_new):
                    node[part] = value
                    return
                raise ConfigError(f"unknown config key '{key}'{_suggest(cfg, key, known)}")
            if last:
                node[part] = value
                return
            if node[part] is None:
                node[part] = {}
            node = node[part]
        else:
            raise ConfigError(f"'{here}': '{'.'.join(parts[:depth])}' is a value, not a section")


def parse_override(text: str) -> Tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like Key.path=value")
    key, _, raw = text.partition("=")
    return key.strip(), parse_value(raw.strip())


def apply_overrides(cfg: Dict[str, Any], overrides: Iterable[str], allow_new: Sequence[str] = (),
                    known: Collection[str] = ()) -> Dict[str, Any]:
    out = copy.deepcopy(cfg)
    for text in overrides or ():
        key, value = parse_override(text)
        set_by_path(out, key, value, allow_new, known)
    return out


def resolve_config_path(path: Optional[str], packaged_dir: Path, default: Path) -> Path:
    """An existing path as given (relative to the working directory), else a config of that
    file name shipped in ``packaged_dir`` (so ``-c PPLCNet_x1_0.yaml`` works from anywhere);
    ``default`` when no path is given."""
    if path is None:
        return default
    p = Path(path)
    if p.is_file():
        return p
    packaged = Path(packaged_dir) / p.name
    if packaged.is_file():
        return packaged
    have = ", ".join(sorted(f.name for f in Path(packaged_dir).glob("*.yaml")))
    raise ConfigError(f"config file {path} does not exist (packaged configs: {have})")


def read_yaml(path: os.PathLike) -> Dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"config file {p} is not valid YAML: {e}") from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping at the top level")
    return data


def merge_defaults(defaults: Dict[str, Any], cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Recursively fill keys missing from ``cfg`` with ``defaults``."""
    out = copy.deepcopy(defaults)
    for k, v in cfg.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_defaults(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_config(path: Optional[os.PathLike], overrides: Iterable[str] = (), defaults: Optional[Dict[str, Any]] = None,
                allow_new: Sequence[str] = (), known: Collection[str] = ()) -> Dict[str, Any]:
    """Read ``path`` (may be None: defaults only), fill from ``defaults``, apply overrides
    (``known``: the command's table of keys, e.g. ``personcls.inference_config.KEYS``)."""
    cfg = read_yaml(path) if path is not None else {}
    if defaults:
        cfg = merge_defaults(defaults, cfg)
    return apply_overrides(cfg, overrides, allow_new, known)


def get_path(cfg: Dict[str, Any], key: str, default: Any = None) -> Any:
    node: Any = cfg
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError):
                return default
        else:
            return default
    return node
