"""Frame sources: video files, image folders / globs, cameras, network streams, Python iterables.

Each source decodes on its own thread into its own buffer:

* **file** mode: every frame (or every ``stride``-th / about ``target_fps`` per stream second),
  the reader waits while ``queue_size`` decoded frames are buffered, so nothing is lost;
* **live** mode: the latest frame wins; a frame not yet taken when a newer one is decoded is
  dropped and counted, so latency does not grow when inference is slower than the camera
  (``live_buffer`` > 1 keeps that many newest frames, riding out short stalls of the consumer).

Timestamps: ``t = index / fps`` for files (and image folders at ``image_fps``); seconds since the
source was first opened for cameras and network streams. ``index`` counts every frame read
from the source (skipped and dropped ones too) and goes on across reconnections.

A network source or camera that fails after opening is reported ``lost`` and reopened with
backoff (``backoff_s`` doubling up to ``backoff_max_s``); a file ends at EOF; a source that
cannot be opened at all ends with an ``error`` notice naming it, and the others go on.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, List, Optional, Union

import numpy as np

from ..errors import InputError, PersonclsError
from ..imageio import _GLOB_CHARS
from .health import frame_stats
from .settings import WatchSettings

MAX_WAITING = 256  # notices + frames waiting in one source's buffer before its reader waits
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".flv", ".wmv",
                  ".3gp", ".gif", ".mjpg", ".mjpeg", ".y4m")


def is_video_file(target: Union[str, os.PathLike]) -> bool:
    t = os.fspath(target)
    return "://" not in t and os.path.splitext(t)[1].lower() in VIDEO_SUFFIXES and not os.path.isdir(t)


def is_network(target: Any) -> bool:
    return isinstance(target, str) and "://" in target


def frame_name(source: str, index: int) -> str:
    """How one frame of a source is named in results: ``clip.mp4#12``."""
    return f"{source}#{index}"


@dataclass
class Frame:
    """A decoded frame: BGR ``image``; ``read_at`` is ``time.perf_counter()`` right after decoding."""

    source: str
    index: int
    t: float
    image: np.ndarray
    read_at: float
    mean: float
    std: float
    change: Optional[float]


@dataclass
class Notice:
    """Something that happened to a source: ``lost`` (failed after opening), ``reconnecting``
    (a reopening attempt failed; ``attempt``, ``wait_s``), ``reconnected``, ``end`` (EOF or the
    end of a folder / iterable), ``error`` (cannot be opened, or given up: the source has ended),
    ``frame_error`` (one frame could not be decoded; ``frame`` is its index)."""

    source: str
    kind: str
    message: str = ""
    frame: Optional[int] = None
    attempt: Optional[int] = None
    wait_s: Optional[float] = None

    def to_dict(self) -> dict:
        d = {"source": self.source, "event": self.kind, "message": self.message}
        for k in ("frame", "attempt", "wait_s"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return d

    def __str__(self) -> str:
        extra = "".join(f", {k} {getattr(self, k)}" for k in ("frame", "attempt", "wait_s") if getattr(self, k) is not None)
        return f"{self.source}: {self.kind}{extra}" + (f": {self.message}" if self.message else "")


def open_capture(target: Union[str, int], settings: Optional[WatchSettings] = None):
    """A ``cv2.VideoCapture`` for a file, a camera index or a URL; None if it cannot be opened."""
    import cv2

    st = settings or WatchSettings()
    if isinstance(target, int):
        cap = cv2.VideoCapture(target)
    elif is_network(target):
        cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG, [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(st.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(st.read_timeout_s * 1000)])
    else:
        cap = cv2.VideoCapture(os.fspath(target))
    if not cap.isOpened():
        cap.release()
        return None
    return cap


class Source:
    """Base class: a reader thread filling a bounded buffer. Subclasses implement ``_run``."""

    def __init__(self, name: str, live: bool, settings: Optional[WatchSettings] = None):
        self.name = name
        self.live = bool(live)
        self.settings_given = settings is not None  # if not, a Watcher gives it its own
        self.settings = settings or WatchSettings()
        self.frames_read = 0   # frames taken from the stream (decoded, grabbed or failed)
        self.skipped = 0       # stride / target_fps
        self.dropped = 0       # live mode: superseded by a newer frame before inference
        self.left = 0          # read but not run because the run was stopped
        self.failed = 0        # frames that could not be decoded
        self.last_frame_at: Optional[float] = None  # perf_counter of the last delivered frame
        self.started_at: Optional[float] = None
        self.ended = False     # the reader has finished (EOF, error, stop)
        self._items: deque = deque()
        self._frames_queued = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._wake: Optional[threading.Event] = None
        self._thread: Optional[threading.Thread] = None
        self._prev_thumb: Optional[np.ndarray] = None

    # -- consumer side ---------------------------------------------------------------------
    def start(self, wake: Optional[threading.Event] = None) -> None:
        self._wake = wake
        self.started_at = time.perf_counter()
        self._thread = threading.Thread(target=self._main, name=f"personcls-src-{self.name}", daemon=True)
        self._thread.start()

    def poll(self):
        """The next Frame or Notice, or None if none is waiting (never blocks)."""
        with self._cond:
            if not self._items:
                return None
            item = self._items.popleft()
            if isinstance(item, Frame):
                self._frames_queued -= 1
            self._cond.notify_all()
            return item

    @property
    def finished(self) -> bool:
        """The reader has ended and everything it produced was taken."""
        with self._cond:
            return self.ended and not self._items

    def stop(self, timeout: float = 2.0) -> int:
        """Stop reading; returns the number of decoded frames left untaken (counted in ``left``)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        with self._cond:
            left = self._frames_queued
            self.left += left
            self._items.clear()
            self._frames_queued = 0
            return left

    # -- reader side -------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._run()
        except PersonclsError as e:
            self._notice("error", str(e))
        except Exception as e:  # a reader must never die silently
            self._notice("error", f"{type(e).__name__}: {e}")
        finally:
            with self._cond:
                self.ended = True
            self._signal()

    def _run(self) -> None:
        raise NotImplementedError

    def _signal(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _notice(self, kind: str, message: str = "", **kw) -> None:
        with self._cond:
            while len(self._items) >= MAX_WAITING and not self._stop.is_set():  # bounded, whatever happens
                self._cond.wait(0.1)
            self._items.append(Notice(self.name, kind, message, **kw))
        self._signal()

    def _sleep(self, seconds: float) -> bool:
        """Wait (interrupted by stop); False if stopped."""
        return not self._stop.wait(max(0.0, seconds))

    def _emit(self, index: int, t: float, image: np.ndarray) -> bool:
        """Hand one decoded frame to the consumer; False if the source was stopped."""
        thumb, mean, std, change = frame_stats(image, self._prev_thumb)
        self._prev_thumb = thumb
        frame = Frame(self.name, index, t, image, time.perf_counter(), mean, std, change)
        with self._cond:
            if self.live:
                excess = self._frames_queued - (self.settings.live_buffer - 1)
                if excess > 0:  # the oldest waiting frames make room (notices stay)
                    kept = deque()
                    for x in self._items:
                        if excess and isinstance(x, Frame):
                            excess -= 1
                            self.dropped += 1
                            self._frames_queued -= 1
                        else:
                            kept.append(x)
                    self._items = kept
            else:
                while self._frames_queued >= self.settings.queue_size and not self._stop.is_set():
                    self._cond.wait(0.1)
                if self._stop.is_set():
                    self.left += 1  # read, never run: stopped while it waited for room
                    return False
            self._items.append(frame)
            self._frames_queued += 1
            self.last_frame_at = frame.read_at
        self._signal()
        return not self._stop.is_set()

    def _stride(self, fps: float) -> int:
        st = self.settings
        if self.live:
            return 1
        s = st.stride
        if st.target_fps > 0 and fps > 0:
            s = max(s, int(round(fps / st.target_fps)))
        return max(1, s)

    def _play(self, items: Iterable, fps: float, load: Callable[[Any, int], np.ndarray]) -> None:
        """Frame i = ``load(items[i], i)`` at ``t = i / fps``, with stride and pacing; an item
        that ``load`` refuses (InputError) is a ``frame_error`` and the rest go on."""
        stride = self._stride(fps)
        t0 = time.perf_counter()
        n = 0
        for i, item in enumerate(items):
            if self._stop.is_set():
                return
            n = i + 1
            self.frames_read += 1
            if i % stride:
                self.skipped += 1
                continue
            try:
                img = load(item, i)
            except InputError as e:
                self.failed += 1
                self._notice("frame_error", str(e), frame=i)
                continue
            if not self._pace(t0, i / fps):
                self.left += 1  # stopped while pacing
                return
            if not self._emit(i, i / fps, img):
                return
        self._notice("end", f"end after {n} frames", frame=n)

    def _pace(self, t0: float, t: float) -> bool:
        if self.settings.pace:
            return self._sleep(t0 + t - time.perf_counter())
        return not self._stop.is_set()


class CaptureSource(Source):
    """A video file, a camera index or a network URL, read with OpenCV (FFmpeg)."""

    def __init__(self, target: Union[str, int], name: Optional[str] = None, settings: Optional[WatchSettings] = None,
                 live: Optional[bool] = None):
        st = settings or WatchSettings()
        self.target = target
        self.reconnectable = isinstance(target, int) or is_network(target)
        if live is None:
            live = st.mode == "live" or (st.mode == "auto" and self.reconnectable)
        super().__init__(name if name is not None else str(target), live, settings)

    def _describe(self) -> str:
        return f"camera {self.target}" if isinstance(self.target, int) else str(self.target)

    def _run(self) -> None:
        st = self.settings
        if not self.reconnectable and not os.path.exists(os.fspath(self.target)):
            raise InputError(f"{self.target}: no such file")
        cap = open_capture(self.target, st)
        if cap is None:
            raise InputError(f"{self._describe()}: cannot be opened as a video "
                             f"({'no stream answered' if self.reconnectable else 'not a video OpenCV can read'})")
        import cv2

        fps = cap.get(cv2.CAP_PROP_FPS)
        if not (fps and 0 < fps < 1000):
            fps = 0.0
        if not self.reconnectable and fps <= 0:
            cap.release()
            raise InputError(f"{self.target}: the video reports no frame rate, so frame times are unknown")
        stride = self._stride(fps)
        t0 = time.perf_counter()
        index = 0
        reconnects = 0
        try:
            while not self._stop.is_set():
                if stride > 1 and index % stride:
                    ok = cap.grab()
                    if ok:
                        self.frames_read += 1
                        self.skipped += 1
                        index += 1
                        continue
                    img = None
                else:
                    ok, img = cap.read()
                if ok and img is not None:
                    self.frames_read += 1
                    t = index / fps if not self.reconnectable else time.perf_counter() - t0
                    if not self.reconnectable and not self._pace(t0, t):
                        self.left += 1  # stopped while pacing
                        break
                    if not self._emit(index, t, img):
                        break
                    index += 1
                    continue
                # read failed
                if not self.reconnectable:
                    self._notice("end", f"end of file after {index} frames", frame=index)
                    return
                cap.release()
                cap = None
                self._notice("lost", f"stream failed after frame {index - 1}")
                if not st.reconnect:
                    self._notice("error", f"{self._describe()}: lost, and Watch.reconnect is off")
                    return
                wait = st.backoff_s
                attempt = 0
                while cap is None:
                    if not self._sleep(wait):
                        return
                    attempt += 1
                    cap = open_capture(self.target, st)
                    if cap is None:
                        reconnects += 1
                        if st.max_reconnects and reconnects >= st.max_reconnects:
                            self._notice("error", f"{self._describe()}: given up after {reconnects} failed reopenings")
                            return
                        wait = min(st.backoff_max_s, max(wait * 2, 0.05))
                        self._notice("reconnecting", "reopening failed", attempt=attempt,
                                     wait_s=round(wait, 3))
                reconnects = 0
                self._notice("reconnected", f"reopened after {attempt} attempt(s)", attempt=attempt)
        finally:
            if cap is not None:
                cap.release()


class ImageSequenceSource(Source):
    """Image files in order (a folder's images sorted by name, or a glob), at ``image_fps``."""

    def __init__(self, paths: List[str], name: str, settings: Optional[WatchSettings] = None,
                 error: Optional[str] = None):
        st = settings or WatchSettings()
        super().__init__(name, st.mode == "live", settings)
        self.paths = list(paths)
        self.error = error

    def _run(self) -> None:
        from .. import imageio

        if self.error or not self.paths:
            raise InputError(self.error or f"{self.name}: no image files")
        self._play(self.paths, self.settings.image_fps, lambda p, i: imageio.read_image(p))


class IterableSource(Source):
    """Frames from Python: an iterable of HxWx3 uint8 BGR arrays (e.g. a generator), frame i at
    ``i / fps``. ``live=True`` gives latest-frame-wins buffering; ``settings.pace`` paces it."""

    def __init__(self, name: str, frames: Union[Iterable[np.ndarray], Callable[[], Iterable[np.ndarray]]],
                 fps: float, settings: Optional[WatchSettings] = None, live: bool = False):
        if not fps or fps <= 0:
            raise InputError(f"{name}: fps must be > 0, got {fps}")
        super().__init__(name, live, settings)
        self.frames = frames
        self.fps = float(fps)

    def _check(self, img, i: int) -> np.ndarray:
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim not in (2, 3):
            raise InputError(f"{self.name}: frame {i} is not a uint8 image array")
        return img

    def _run(self) -> None:
        self._play(self.frames() if callable(self.frames) else self.frames, self.fps, self._check)


def make_source(spec: Union[str, int, Source], settings: Optional[WatchSettings] = None,
                name: Optional[str] = None) -> Source:
    """A source from what a user typed: a camera index ("0"), a URL (rtsp://, http://, tcp://...),
    a folder of images, a glob ("frames/*.jpg"), an image file, or a video file."""
    if isinstance(spec, Source):
        return spec
    st = settings or WatchSettings()
    label = name if name is not None else str(spec)
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return CaptureSource(int(spec), label, st)
    s = os.fspath(spec)
    if is_network(s):
        return CaptureSource(s, label, st)
    from .. import imageio

    if is_video_file(s):  # before the image suffixes: a GIF is a short video here, as in predict
        return CaptureSource(s, label, st)
    if os.path.isdir(s) or (any(c in s for c in _GLOB_CHARS) and not os.path.exists(s)) \
            or os.path.splitext(s)[1].lower() in imageio.IMAGE_SUFFIXES:
        try:
            paths = [p for p, _ in imageio.expand_sources(s)]
        except InputError as e:  # this source's error, reported when it starts; the others go on
            return ImageSequenceSource([], label, st, error=str(e))
        return ImageSequenceSource(paths, label, st)
    return CaptureSource(s, label, st)
