"""Checkpoints of a training run, and where a run resumes from.

A checkpoint ``<prefix>`` is three files: ``<prefix>.pdparams`` (weights), ``<prefix>.pdopt``
(optimizer state) and ``<prefix>.json`` (epoch, best metric so far, validation metrics, config
fingerprint, sha256 of the other two). Each is written to a temporary name and renamed, the
``.json`` last, so a run killed while saving leaves either the previous checkpoint or a
``.json`` whose checksums expose the half-written files (``load_checkpoint`` refuses them).

The optimizer state is saved by parameter *structure* name (``conv1.conv.weight@velocity_0``),
not Paddle's per-process names (``conv2d_3.w_0_velocity_0``), so another process can load it.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import ConfigError, ModelError
from . import config_access as C
from .runlog import atomic_write_text
from .weights import sha256_file

log = logging.getLogger("personcls.training")

# parts of the config that must match for a resume to continue the same run
FINGERPRINT_KEYS = ("Arch", "Optimizer", "Loss", "Preprocess", "DataLoader.Train.dataset", "DataLoader.Train.sampler",
                    "Global.seed", "Global.epochs")


def fingerprint(cfg: Dict[str, Any]) -> Dict[str, Any]:
    return {k: copy.deepcopy(C.get(cfg, k)) for k in FINGERPRINT_KEYS}


def _diff_keys(a: Any, b: Any, prefix: str = "") -> List[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff_keys(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += _diff_keys(x, y, f"{prefix}.{i}")
        return out
    return [] if a == b else [prefix]


def resume_mode(cfg: Dict[str, Any]) -> str:
    g = cfg.get("Global") or {}
    resume = str(g.get("resume", "auto")).lower()
    if resume not in ("auto", "true", "false"):
        raise ConfigError(f"Global.resume must be auto, true or false, got {g.get('resume')!r}")
    return resume


def resume_point(cfg: Dict[str, Any], run_dir: Path) -> Optional[Path]:
    """The checkpoint prefix a ``train`` of ``cfg`` continues from, or None for a fresh start:
    ``Global.checkpoints`` when set, else ``<run_dir>/latest`` unless ``Global.resume`` is false.
    With ``Global.resume: auto`` a run folder holding another config's run is an error."""
    g = cfg.get("Global") or {}
    resume = resume_mode(cfg)
    ckpt: Optional[Path] = None
    if g.get("checkpoints"):
        ckpt = Path(C.weights_prefix(str(g["checkpoints"])))
    elif resume != "false" and (run_dir / "latest.json").is_file():
        ckpt = run_dir / "latest"
    elif resume == "true":
        raise ConfigError(f"Global.resume is true but {run_dir}/latest.json does not exist")
    if ckpt is None:
        return None
    diff = _diff_keys(saved_info(ckpt).get("fingerprint"), fingerprint(cfg))
    if diff and resume == "auto" and not g.get("checkpoints"):
        raise ConfigError(f"{run_dir} holds a run with a different config (differs at: {', '.join(diff[:8])}). "
                          f"Use -o Global.resume=false to start over, -o Global.resume=true to continue it with "
                          f"this config, or another Global.output_dir")
    if diff:
        log.warning("resuming %s with a changed config (differs at: %s): not an exact continuation",
                    ckpt, ", ".join(diff[:8]))
    return ckpt


def saved_info(prefix: Path) -> Dict[str, Any]:
    """A checkpoint's ``.json`` record ({} when absent)."""
    js = Path(str(prefix) + ".json")
    return json.loads(js.read_text()) if js.is_file() else {}


def _opt_state_by_structure(model, opt) -> Dict[str, Any]:
    """Optimizer state with accumulator keys renamed from Paddle's per-process parameter names
    (``conv2d_3.w_0_velocity_0``) to structural names (``conv1.conv.weight@velocity_0``)."""
    state = opt.state_dict()
    names = {p.name: k for k, p in model.named_parameters()}
    out: Dict[str, Any] = {}
    for key, val in state.items():
        new = key
        for pname, sname in names.items():
            if key.startswith(pname + "_"):
                new = f"{sname}@{key[len(pname) + 1:]}"
                break
        out[new] = val
    return out


def _opt_state_from_structure(model, state: Dict[str, Any]) -> Dict[str, Any]:
    names = {k: p.name for k, p in model.named_parameters()}
    out = {}
    for key, val in state.items():
        if "@" in key:
            sname, rest = key.split("@", 1)
            if sname not in names:
                raise ModelError(f"optimizer state names parameter {sname!r} that this model lacks")
            key = f"{names[sname]}_{rest}"
        out[key] = val
    return out


def save_checkpoint(run_dir: Path, prefix: str, model, opt, info: Dict[str, Any]) -> None:
    import paddle

    files = {}
    for ext, obj in (("pdparams", model.state_dict()), ("pdopt", _opt_state_by_structure(model, opt))):
        final = run_dir / f"{prefix}.{ext}"
        tmp = run_dir / f".{prefix}.{ext}.tmp"
        paddle.save(obj, str(tmp))
        files[ext] = sha256_file(tmp)
        os.replace(tmp, final)
    info = dict(info, files=files, saved=_dt.datetime.now().isoformat(timespec="seconds"))
    atomic_write_text(run_dir / f"{prefix}.json", json.dumps(info, indent=2, default=float) + "\n")


def load_checkpoint(prefix: Path, model, opt) -> Dict[str, Any]:
    import paddle

    js = Path(str(prefix) + ".json")
    pp, po = Path(str(prefix) + ".pdparams"), Path(str(prefix) + ".pdopt")
    for f in (js, pp, po):
        if not f.is_file():
            raise ModelError(f"checkpoint {prefix}: {f.name} is missing")
    try:
        info = json.loads(js.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelError(f"checkpoint {js}: unreadable ({e})") from e
    for ext, f in (("pdparams", pp), ("pdopt", po)):
        want = (info.get("files") or {}).get(ext)
        if want and sha256_file(f) != want:
            raise ModelError(f"checkpoint {prefix}: {f.name} does not match {js.name} (the run was killed while "
                             f"saving?); resume from another checkpoint with -o Global.checkpoints=... or start "
                             f"over with -o Global.resume=false")
    model.set_state_dict(paddle.load(str(pp)))
    opt.set_state_dict(_opt_state_from_structure(model, paddle.load(str(po))))
    return info
