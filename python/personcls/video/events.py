"""Presence events from a sequence of scores: smoothing and hysteresis, usable on its own.

    from personcls.video import PresenceTracker, track_scores
    events = track_scores(scores, fps=10)                  # any score sequence
    tracker = PresenceTracker("cam1")                      # or frame by frame
    ev = tracker.update(frame, t, score, healthy=True)     # an Event or None

The smoothed score follows ``s += a * (score - s)`` with ``a = 1 - exp(-dt / smoothing_s)``
(``dt``: stream time since the previous frame, so strides and dropped frames are handled).
Presence becomes ``someone`` once ``s >= on_threshold`` has held for ``min_on_s`` of stream
time, and ``nobody`` once ``s < off_threshold`` has held for ``min_off_s``. ``enter`` /
``leave`` events mark changes of the last known presence; the frame that completed the
minimum duration decides the event (``frame``, ``t``), ``start_frame`` / ``start_t`` say when
the condition began. While the source is unhealthy, presence is ``unknown`` and the smoothing
starts over when it recovers; a presence found after the outage that differs from the one
before it is reported as an event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence

from .settings import WatchSettings

UNKNOWN, SOMEONE, NOBODY = "unknown", "someone", "nobody"


@dataclass
class Event:
    """``enter`` or ``leave`` of one source, decided by frame ``frame`` at stream time ``t``."""

    source: str
    event: str
    frame: int
    t: float
    score: float
    start_frame: int
    start_t: float

    def to_dict(self) -> dict:
        return {"source": self.source, "event": self.event, "frame": self.frame, "t": round(self.t, 3),
                "score": round(self.score, 4), "start_frame": self.start_frame, "start_t": round(self.start_t, 3)}

    def __str__(self) -> str:
        return (f"{self.source}: {self.event} at frame {self.frame} (t={self.t:.2f}s, smoothed score "
                f"{self.score:.2f}; since frame {self.start_frame}, t={self.start_t:.2f}s)")


class PresenceTracker:
    """Smoothed score + hysteresis for one source. ``presence`` is someone / nobody / unknown."""

    def __init__(self, source: str = "", settings: Optional[WatchSettings] = None):
        self.source = source
        self.settings = settings or WatchSettings()
        self.known: Optional[str] = None  # last decided presence (kept through an outage)
        self.presence = UNKNOWN
        self.smoothed: Optional[float] = None
        self._reset_run()

    def _reset_run(self) -> None:
        self.smoothed = None
        self._t_prev: Optional[float] = None
        self._above: Optional[tuple] = None  # (frame, t) when s >= on began
        self._below: Optional[tuple] = None  # (frame, t) when s < off began

    def mark_unhealthy(self) -> None:
        """The source cannot be trusted now: presence unknown, smoothing starts over."""
        self.presence = UNKNOWN
        self._reset_run()

    def update(self, frame: int, t: float, score: Optional[float], healthy: bool = True) -> Optional[Event]:
        """One frame's score (``None`` or ``healthy=False``: an unhealthy frame). Returns the
        event this frame decided, if any."""
        st = self.settings
        if not healthy or score is None:
            self.mark_unhealthy()
            return None
        if self.smoothed is None or st.smoothing_s <= 0:
            s = float(score)
        else:
            dt = max(0.0, t - self._t_prev)
            s = self.smoothed + (1.0 - math.exp(-dt / st.smoothing_s)) * (float(score) - self.smoothed)
        self.smoothed, self._t_prev = s, t
        if s >= st.on_threshold:
            self._above = self._above or (frame, t)
        else:
            self._above = None
        if s < st.off_threshold:
            self._below = self._below or (frame, t)
        else:
            self._below = None
        new = None
        if self.presence != SOMEONE and self._above and t - self._above[1] >= st.min_on_s - 1e-9:
            new, start = SOMEONE, self._above
        elif self.presence != NOBODY and self._below and t - self._below[1] >= st.min_off_s - 1e-9:
            new, start = NOBODY, self._below
        if new is None:
            return None
        before, self.known, self.presence = self.known, new, new
        if new == SOMEONE and before != SOMEONE:
            kind = "enter"
        elif new == NOBODY and before == SOMEONE:
            kind = "leave"
        else:
            return None
        return Event(self.source, kind, frame, t, s, start[0], start[1])


def track_scores(scores: Sequence[Optional[float]], fps: Optional[float] = None,
                 times: Optional[Sequence[float]] = None, settings: Optional[WatchSettings] = None,
                 source: str = "", healthy: Optional[Iterable[bool]] = None) -> List[Event]:
    """Events of a whole score sequence (frame i at ``times[i]``, or ``i / fps``). A ``None``
    score or a False in ``healthy`` marks an unhealthy frame."""
    if times is None:
        if not fps or fps <= 0:
            raise ValueError("track_scores needs fps > 0 or times")
        times = [i / fps for i in range(len(scores))]
    if len(times) != len(scores):
        raise ValueError(f"{len(scores)} scores but {len(times)} times")
    ok = list(healthy) if healthy is not None else [True] * len(scores)
    tracker = PresenceTracker(source, settings)
    out = []
    for i, (s, t, h) in enumerate(zip(scores, times, ok)):
        ev = tracker.update(i, float(t), s, healthy=h)
        if ev is not None:
            out.append(ev)
    return out
