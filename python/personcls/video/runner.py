"""Many sources, one engine: frames of every source batched into one Classifier call.

    from personcls import Classifier
    from personcls.video import Watcher
    with Watcher(Classifier(), ["cam1.mp4", "rtsp://10.0.0.5/stream"]) as w:
        for rec in w:                       # Event, HealthChange, Notice, FrameResult, Summary
            print(rec.to_dict())

The runner takes whatever frames are waiting, one per source in turn, up to ``batch_size``,
and never waits on one source, so a slow or dead source does not stall the others. Each
source keeps its own presence tracker and health monitor.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np

from .events import UNKNOWN, Event, PresenceTracker
from .health import LOST, OK, HealthMonitor
from .settings import WatchSettings
from .sources import Frame, Notice, Source, frame_name, make_source


@dataclass
class FrameResult:
    """One processed frame (reported with ``Watch.frames``)."""

    source: str
    frame: int
    t: float
    score: Optional[float]
    smoothed: Optional[float]
    presence: str
    health: str
    latency_ms: float
    error: Optional[str] = None

    def to_dict(self) -> dict:
        d = {"source": self.source, "event": "frame", "frame": self.frame, "t": round(self.t, 3),
             "score": None if self.score is None else round(self.score, 4),
             "smoothed": None if self.smoothed is None else round(self.smoothed, 4),
             "presence": self.presence, "health": self.health, "latency_ms": round(self.latency_ms, 2)}
        if self.error:
            d["error"] = self.error
        return d

    def __str__(self) -> str:
        if self.error:
            return f"{self.source}: frame {self.frame} error: {self.error}"
        return (f"{self.source}: frame {self.frame} t={self.t:.2f}s score {self.score:.2f} smoothed "
                f"{self.smoothed if self.smoothed is None else round(self.smoothed, 2)} {self.presence} ({self.health})")


@dataclass
class HealthChange:
    source: str
    health: str
    previous: str
    frame: Optional[int]
    t: Optional[float]
    reason: str = ""

    def to_dict(self) -> dict:
        d = {"source": self.source, "event": "health", "health": self.health, "previous": self.previous,
             "frame": self.frame, "t": None if self.t is None else round(self.t, 3)}
        if self.reason:
            d["reason"] = self.reason
        return d

    def __str__(self) -> str:
        at = f" at frame {self.frame} (t={self.t:.2f}s)" if self.frame is not None else ""
        return f"{self.source}: health {self.previous} -> {self.health}{at}" + (f": {self.reason}" if self.reason else "")


class LatencyStats:
    """Percentiles from a fixed histogram (0.1 ms bins to 10 s, then one overflow bin): bounded memory."""

    BIN_MS = 0.1
    NBINS = 100_000

    def __init__(self):
        self.counts = np.zeros(self.NBINS + 1, dtype=np.int64)
        self.n = 0

    def add(self, ms: float) -> None:
        self.counts[min(self.NBINS, max(0, int(ms / self.BIN_MS)))] += 1
        self.n += 1

    def merge(self, other: "LatencyStats") -> None:
        self.counts += other.counts
        self.n += other.n

    def percentile(self, q: float) -> Optional[float]:
        if not self.n:
            return None
        k = int(np.searchsorted(np.cumsum(self.counts), math.ceil(q / 100.0 * self.n)))
        return round((k + 1) * self.BIN_MS, 1)  # upper edge of the bin


@dataclass
class SourceState:
    source: Source
    settings: WatchSettings
    tracker: PresenceTracker
    monitor: HealthMonitor
    processed: int = 0
    failed: int = 0
    error: Optional[str] = None
    last_index: Optional[int] = None
    last_t: Optional[float] = None
    latency: LatencyStats = field(default_factory=LatencyStats)


@dataclass
class Summary:
    sources: Dict[str, dict]
    frames_read: int
    processed: int
    skipped: int
    dropped: int
    failed: int
    left: int
    elapsed_s: float
    fps: float
    latency_p50_ms: Optional[float]
    latency_p95_ms: Optional[float]
    errors: int

    def to_dict(self) -> dict:
        return {"event": "summary", "frames_read": self.frames_read, "processed": self.processed,
                "skipped": self.skipped, "dropped": self.dropped, "failed": self.failed, "left": self.left,
                "elapsed_s": round(self.elapsed_s, 3), "fps": round(self.fps, 2),
                "latency_ms": {"p50": self.latency_p50_ms, "p95": self.latency_p95_ms},
                "errors": self.errors, "sources": self.sources}

    def __str__(self) -> str:
        lines = [f"summary: {self.frames_read} frames read, {self.processed} processed, {self.skipped} skipped, "
                 f"{self.dropped} dropped, {self.failed} failed, {self.left} left at the stop in {self.elapsed_s:.1f}s ({self.fps:.1f} frames/s); "
                 f"latency decode->decision p50 {self.latency_p50_ms} ms, p95 {self.latency_p95_ms} ms"]
        for name, s in self.sources.items():
            lines.append(f"  {name}: {s['frames_read']} read, {s['processed']} processed, {s['skipped']} skipped, "
                         f"{s['dropped']} dropped, {s['failed']} failed, {s['left']} left; health {s['health']}, presence {s['presence']}"
                         + (f"; error: {s['error']}" if s.get("error") else ""))
        return "\n".join(lines)


def unique_names(specs: Sequence) -> List[str]:
    """Display names of sources: the spec as given; a repeated one gets ' (2)', ' (3)', ..."""
    seen: Dict[str, int] = {}
    out = []
    for s in specs:
        base = s.name if isinstance(s, Source) else str(s)
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base} ({seen[base]})")
    return out


class Watcher:
    """Runs sources through one classifier; iterate it for records (see module doc).

    ``sources``: Source objects or specs for :func:`make_source`. ``source_settings``: per-source
    overrides keyed by the spec as given (``Sources:`` of the watch config).
    """

    def __init__(self, classifier, sources: Sequence[Union[str, int, Source]], settings: Optional[WatchSettings] = None,
                 source_settings: Optional[Mapping[str, Mapping]] = None):
        if not sources:
            from ..errors import InputError

            raise InputError("no sources to watch")
        self.classifier = classifier
        self.settings = settings or WatchSettings()
        self.batch_size = self.settings.batch_size or int(getattr(classifier, "batch_size", 8))
        per = dict(source_settings or {})
        self.states: List[SourceState] = []
        for spec, name in zip(sources, unique_names(sources)):
            key = spec.name if isinstance(spec, Source) else str(spec)
            st = self.settings.for_source(per.get(key), key)
            src = make_source(spec, st, name=name)
            if isinstance(spec, Source):
                src.name = name
                if spec.settings_given:  # a Source built with its own settings keeps them
                    st = src.settings
                else:
                    src.settings = st
            self.states.append(SourceState(src, st, PresenceTracker(name, st), HealthMonitor(st)))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.summary: Optional[Summary] = None
        self._started = False

    def stop(self) -> None:
        """Ask a running loop to end (it then reports its summary)."""
        self._stop.set()
        self._wake.set()

    def close(self) -> None:
        for s in self.states:
            s.source.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        return self.run()

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> Iterator[object]:
        if self._started:
            raise RuntimeError("a Watcher runs once")
        self._started = True
        t_start = time.perf_counter()
        for s in self.states:
            s.source.start(self._wake)
        deadline = t_start + self.settings.max_seconds if self.settings.max_seconds > 0 else None
        try:
            while not self._stop.is_set():
                self._wake.clear()
                batch: List[tuple] = []
                records: List[object] = []
                self._collect(batch, records)
                yield from records
                if batch:
                    yield from self._infer(batch)
                now = time.perf_counter()
                yield from self._check_lost(now)
                if deadline is not None and now >= deadline:
                    break
                if not batch and not records:
                    if all(s.source.finished for s in self.states):
                        break
                    self._wake.wait(0.05 if deadline is None else max(0.0, min(0.05, deadline - now)))
        finally:
            for s in self.states:
                s.source.stop()
        yield self._summary(time.perf_counter() - t_start)

    def _collect(self, batch: List[tuple], records: List[object]) -> None:
        """Up to batch_size frames, one per source in turn; notices become records."""
        progress = True
        while progress and len(batch) < self.batch_size:
            progress = False
            for st in self.states:
                while True:
                    item = st.source.poll()
                    if item is None:
                        break
                    progress = True
                    if isinstance(item, Frame):
                        batch.append((st, item))
                        break
                    records.extend(self._on_notice(st, item))
                if len(batch) >= self.batch_size:
                    return

    def _on_notice(self, st: SourceState, n: Notice) -> List[object]:
        out: List[object] = [n]
        if n.kind == "error":
            st.error = n.message
        if n.kind in ("lost", "error") and st.monitor.state != LOST:
            out.extend(self._health_to_lost(st, n.message))
        return out

    def _health_to_lost(self, st: SourceState, reason: str) -> List[object]:
        prev = st.monitor.state
        if st.monitor.lost(reason) is None:
            return []
        st.tracker.mark_unhealthy()
        return [HealthChange(st.source.name, LOST, prev, st.last_index, st.last_t, reason)]

    def _check_lost(self, now: float) -> List[object]:
        out: List[object] = []
        for st in self.states:
            src = st.source
            if not src.live or src.ended or st.monitor.state == LOST:
                continue
            last = src.last_frame_at if src.last_frame_at is not None else src.started_at
            if last is not None and now - last > st.settings.lost_s:
                out.extend(self._health_to_lost(st, f"no frame for {now - last:.1f}s"))
        return out

    def _infer(self, batch: List[tuple]) -> List[object]:
        images = [f.image for _, f in batch]
        names = [frame_name(st.source.name, f.index) for st, f in batch]
        results = self.classifier.predict_batch(images, names=names)
        out: List[object] = []
        emit_frames = self.settings.frames
        for (st, f), r in zip(batch, results):
            done = time.perf_counter()
            latency_ms = (done - f.read_at) * 1000.0
            st.latency.add(latency_ms)
            st.last_index, st.last_t = f.index, f.t
            prev = st.monitor.state
            new = st.monitor.frame(f.t, f.mean, f.std, f.change)
            if new is not None:
                out.append(HealthChange(st.source.name, new, prev, f.index, f.t))
            if r.error is not None:
                st.failed += 1
                if emit_frames:
                    out.append(FrameResult(st.source.name, f.index, f.t, None, None, st.tracker.presence,
                                           st.monitor.state, latency_ms, str(r.error)))
                continue
            st.processed += 1
            ev = st.tracker.update(f.index, f.t, r.person_score, healthy=st.monitor.healthy)
            if ev is not None:
                out.append(ev)
            if emit_frames:
                out.append(FrameResult(st.source.name, f.index, f.t, r.person_score, st.tracker.smoothed,
                                       st.tracker.presence, st.monitor.state, latency_ms))
        return out

    def _summary(self, elapsed: float) -> Summary:
        per = {}
        lat = LatencyStats()
        tot = dict(frames_read=0, processed=0, skipped=0, dropped=0, failed=0, left=0)
        errors = 0
        for st in self.states:
            s = st.source
            failed = s.failed + st.failed
            d = {"frames_read": s.frames_read, "processed": st.processed, "skipped": s.skipped,
                 "dropped": s.dropped, "failed": failed, "left": s.left, "health": st.monitor.state,
                 "presence": st.tracker.presence if st.monitor.healthy else UNKNOWN,
                 "latency_ms": {"p50": st.latency.percentile(50), "p95": st.latency.percentile(95)}}
            if st.error:
                d["error"] = st.error
                errors += 1
            per[s.name] = d
            for k in ("frames_read", "processed", "skipped", "dropped", "left"):
                tot[k] += d[k]
            tot["failed"] += failed
            lat.merge(st.latency)
        self.summary = Summary(per, elapsed_s=elapsed, fps=tot["processed"] / elapsed if elapsed > 0 else 0.0,
                               latency_p50_ms=lat.percentile(50), latency_p95_ms=lat.percentile(95),
                               errors=errors, **tot)
        return self.summary


Record = Union[Event, HealthChange, Notice, FrameResult, Summary]
