"""Every setting of the video loop, with its default: the one home of these values.

``personcls watch`` reads them from the ``Watch:`` section of its config (``-o Watch.key=value``
overrides one); a ``Sources:`` section may override the per-source keys
(:data:`PER_SOURCE_KEYS`) for one source, keyed by the source exactly as given on the command
line (``personcls calibrate`` writes its thresholds there).

The presence defaults were picked from score sequences of the shipped model on the shared clips
(``benchmarks/tune_events.py`` re-checks or re-tunes them for another model; docs/video.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, Dict, Mapping, Optional

from ..errors import ConfigError


@dataclass
class WatchSettings:
    # -- presence events (per source) ------------------------------------------------------
    on_threshold: float = 0.55      # enter: smoothed P(someone) >= this ...
    min_on_s: float = 0.0           # ... for at least this long (stream time)
    off_threshold: float = 0.35     # leave: smoothed P(someone) < this ...
    min_off_s: float = 0.5          # ... for at least this long
    smoothing_s: float = 0.0        # time constant of the exponential smoothing (0: raw scores)
    # -- camera health (per source) --------------------------------------------------------
    dark_level: float = 16.0        # dark: mean grey level of the frame below this (0-255) ...
    uniform_std: float = 3.0        # ... or its grey standard deviation below this (uniform frame)
    dark_s: float = 1.0             # ... for at least this long
    frozen_tol: float = 0.5         # frozen: no pixel of the 64x36 grey thumbnail changes by more ...
    frozen_s: float = 2.0           # ... for at least this long
    lost_s: float = 3.0             # lost: a live source delivered no frame for this long
    # -- reading -----------------------------------------------------------------------------
    mode: str = "auto"              # auto (files: file, cameras and URLs: live) | file | live
    stride: int = 1                 # file mode: process every stride-th frame
    target_fps: float = 0.0         # file mode: process about this many frames per stream second (0: all)
    pace: bool = False              # read files at their own frame rate, like a camera
    queue_size: int = 8             # file mode: decoded frames buffered per source
    live_buffer: int = 1            # live mode: newest frames kept per source (1: latest frame wins)
    image_fps: float = 1.0          # stream time of an image folder / glob: frames per second
    open_timeout_s: float = 10.0    # network sources: open and read timeouts
    read_timeout_s: float = 5.0
    reconnect: bool = True          # reopen a live source that fails, with backoff
    backoff_s: float = 0.5          # first wait before reopening; doubles up to backoff_max_s
    backoff_max_s: float = 8.0
    max_reconnects: int = 0         # give a source up after this many failed reopenings (0: never)
    # -- running -----------------------------------------------------------------------------
    batch_size: int = 0             # frames per inference call across sources (0: the classifier's)
    frames: bool = False            # also report every frame (JSON: one line per frame)
    max_seconds: float = 0.0        # stop after this long (0: when every source has ended)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def bad(key, why):
            raise ConfigError(f"Watch.{key}={getattr(self, key)!r}: {why}")

        for f in fields(self):
            v = getattr(self, f.name)
            want = f.type if isinstance(f.type, type) else {"float": float, "int": int, "bool": bool, "str": str}[f.type]
            if want is float and isinstance(v, int) and not isinstance(v, bool):
                setattr(self, f.name, float(v))
            elif not isinstance(v, want) or (want is not bool and isinstance(v, bool)):
                bad(f.name, f"must be {want.__name__}")
        for k in ("on_threshold", "off_threshold"):
            if not 0.0 <= getattr(self, k) <= 1.0:
                bad(k, "must be in [0, 1]")
        if self.off_threshold > self.on_threshold:
            bad("off_threshold", f"must not exceed on_threshold ({self.on_threshold})")
        for k in ("min_on_s", "min_off_s", "smoothing_s", "dark_s", "frozen_s", "frozen_tol", "dark_level",
                  "uniform_std", "target_fps", "max_seconds", "backoff_s"):
            if getattr(self, k) < 0:
                bad(k, "must be >= 0")
        for k in ("lost_s", "image_fps", "open_timeout_s", "read_timeout_s", "backoff_max_s"):
            if getattr(self, k) <= 0:
                bad(k, "must be > 0")
        if self.mode not in ("auto", "file", "live"):
            bad("mode", "must be auto, file or live")
        for k in ("stride", "queue_size", "live_buffer"):
            if getattr(self, k) < 1:
                bad(k, "must be >= 1")
        for k in ("batch_size", "max_reconnects"):
            if getattr(self, k) < 0:
                bad(k, "must be >= 0")

    def replace(self, **changes) -> "WatchSettings":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Optional[Mapping[str, Any]], where: str = "Watch") -> "WatchSettings":
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
        return cls(**d)

    def for_source(self, overrides: Optional[Mapping[str, Any]], name: str) -> "WatchSettings":
        """These settings with one source's ``Sources.<name>`` entries applied."""
        if not overrides:
            return self
        o = {k: v for k, v in dict(overrides).items() if k not in IGNORED_SOURCE_KEYS}
        bad = sorted(set(o) - set(PER_SOURCE_KEYS))
        if bad:
            raise ConfigError(f"Sources.{name}: key(s) {bad} cannot be set per source; "
                              f"per-source keys: {list(PER_SOURCE_KEYS)}")
        return self.replace(**o)


# Keys a ``Sources.<name>`` entry may set (the rest apply to the whole run).
PER_SOURCE_KEYS = ("on_threshold", "min_on_s", "off_threshold", "min_off_s", "smoothing_s", "dark_level",
                   "uniform_std", "dark_s", "frozen_tol", "frozen_s", "lost_s", "mode", "stride", "target_fps",
                   "pace", "live_buffer")
# Informational keys a Sources entry may carry (written by ``personcls calibrate``).
IGNORED_SOURCE_KEYS = ("calibration",)
