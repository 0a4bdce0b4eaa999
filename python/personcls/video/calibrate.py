"""Per-camera threshold calibration on footage known to be empty (or a labeled frame list).

The footage runs through the same smoothing as ``watch`` (file mode, every frame); the
``on_threshold`` picked is the lowest at which at most ``max_false_rate`` of the empty
(label 0) frames have a smoothed score at or above it. ``off_threshold`` keeps the configured
gap below it. The result is written to ``Sources.<source>`` of a watch config, which
``personcls watch -c that.yaml <source>`` then applies to that source.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigError, InputError
from .runner import FrameResult, Watcher
from .settings import WatchSettings
from .sources import Notice


def pick_threshold(negative_scores: Sequence[float], max_false_rate: float) -> Tuple[float, float]:
    """(threshold, achieved false rate): the lowest 4-decimal threshold t with
    ``mean(scores >= t) <= max_false_rate``."""
    s = np.sort(np.asarray(negative_scores, dtype=np.float64))[::-1]
    if s.size == 0:
        raise InputError("calibration needs at least one frame known to be empty")
    if not 0.0 <= max_false_rate < 1.0:
        raise InputError(f"--max-false-rate must be in [0, 1), got {max_false_rate}")
    k = int(math.floor(max_false_rate * s.size + 1e-9))  # frames allowed at or above the threshold
    if k >= s.size:
        thr = 0.0
    else:
        # t qualifies iff t > s[k] (the (k+1)-th highest score): the next 4-decimal value above it
        thr = (math.floor(s[k] * 1e4) + 1) / 1e4
        while np.count_nonzero(s >= thr) > k:  # float rounding at an exact 4-decimal score
            thr = round(thr + 1e-4, 4)
    thr = min(1.0, thr)
    return thr, float(np.count_nonzero(s >= thr)) / s.size


def read_labels(path: os.PathLike) -> Dict[int, int]:
    """A labeled frame list: lines ``<frame index> <0|1>`` (``#`` comments, blank lines ignored)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such label file")
    out: Dict[int, int] = {}
    for n, line in enumerate(p.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            frame, label = int(parts[0]), int(parts[1])
            if len(parts) != 2 or frame < 0 or label not in (0, 1):
                raise ValueError
        except (ValueError, IndexError):
            raise InputError(f"{p}:{n}: expected '<frame index> <0|1>', got {line!r}") from None
        out[frame] = label
    if not out:
        raise InputError(f"{p}: no labeled frames")
    return out


def calibrate(classifier, source, max_false_rate: float, settings: Optional[WatchSettings] = None,
              labels: Optional[Dict[int, int]] = None) -> dict:
    """Run ``source`` (every frame) and pick its thresholds; returns the ``Sources.<source>`` entry."""
    st = (settings or WatchSettings()).replace(frames=True, mode="file", pace=False, stride=1, target_fps=0.0,
                                               max_seconds=0.0)
    neg, pos = [], []
    error = None
    for rec in Watcher(classifier, [source], st):
        if isinstance(rec, FrameResult) and rec.smoothed is not None and rec.health == "ok":
            lab = 0 if labels is None else labels.get(rec.frame)
            (neg if lab == 0 else pos if lab == 1 else []).append(rec.smoothed)
        elif isinstance(rec, Notice) and rec.kind == "error":
            error = rec.message
    if error:
        raise InputError(error)
    if not neg:
        raise InputError(f"{source}: no healthy frame known to be empty to calibrate on")
    on, rate = pick_threshold(neg, max_false_rate)
    gap = max(0.0, st.on_threshold - st.off_threshold)
    entry = {"on_threshold": on, "off_threshold": round(max(0.0, on - gap), 4),
             "calibration": {"max_false_rate": max_false_rate, "false_rate": round(rate, 5), "empty_frames": len(neg),
                             "smoothing_s": st.smoothing_s, "model": str(getattr(classifier, "model_dir", ""))}}
    if pos:
        entry["calibration"]["person_frames"] = len(pos)
        entry["calibration"]["person_rate"] = round(float(np.mean(np.asarray(pos) >= on)), 5)
    return entry


def write_source_entry(path: os.PathLike, source: str, entry: dict) -> Path:
    """Set ``Sources.<source>`` in the YAML config at ``path`` (created if missing; the rest of
    the file is kept), atomically."""
    import yaml

    p = Path(path)
    cfg: dict = {}
    if p.exists():
        from ..config import read_yaml

        cfg = read_yaml(p)
    sources = cfg.get("Sources")
    if sources is None:
        sources = cfg["Sources"] = {}
    if not isinstance(sources, dict):
        raise ConfigError(f"{p}: Sources must be a mapping")
    sources[str(source)] = entry
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    tmp.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    os.replace(tmp, p)
    return p
