"""Camera health: ``ok``, ``dark`` (black or uniform frames), ``frozen`` (unchanged frames),
``lost`` (no frames: the source failed or stopped delivering).

Frames are judged on a 64x36 grey thumbnail of a subsampled frame (:func:`frame_stats`,
computed on the decoding thread): ``dark`` when its mean is below ``dark_level`` or its standard deviation below
``uniform_std`` for ``dark_s`` of stream time; ``frozen`` when no thumbnail pixel changed by
more than ``frozen_tol`` grey levels for ``frozen_s``. A fresh, changing, non-dark frame makes
the source ``ok`` again at once. Measured on the shared clips: a still empty room changes by
more than 0.5 grey levels within 2 frames (more than 2 within 9), so a real picture is not
taken for frozen.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .settings import WatchSettings

OK, DARK, FROZEN, LOST = "ok", "dark", "frozen", "lost"
THUMB_SIZE = (64, 36)


def thumbnail(image: np.ndarray) -> np.ndarray:
    """HxWx3 (BGR) or HxW uint8 -> 36x64 float32 grey thumbnail."""
    import cv2

    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    # every k-th pixel down to about 4x the thumbnail, then an area average: ~0.2 ms for a
    # 768x432 frame instead of ~1 ms for the full area average
    sy, sx = max(1, img.shape[0] // (4 * THUMB_SIZE[1])), max(1, img.shape[1] // (4 * THUMB_SIZE[0]))
    small = cv2.resize(np.ascontiguousarray(img[::sy, ::sx, :3] if img.ndim == 3 else img[::sy, ::sx]), THUMB_SIZE,
                       interpolation=cv2.INTER_AREA)
    return (cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small).astype(np.float32)


def frame_stats(image: np.ndarray, previous: Optional[np.ndarray]) -> Tuple[np.ndarray, float, float, Optional[float]]:
    """(thumbnail, mean, std, largest change against ``previous`` thumbnail or None)."""
    th = thumbnail(image)
    change = None if previous is None or previous.shape != th.shape else float(np.abs(th - previous).max())
    return th, float(th.mean()), float(th.std()), change


class HealthMonitor:
    """Health of one source from its frames' statistics and the reader's failures."""

    def __init__(self, settings: Optional[WatchSettings] = None):
        self.settings = settings or WatchSettings()
        self.state = OK
        self.lost_reason = ""
        self._dark_since: Optional[float] = None
        self._still_since: Optional[float] = None
        self._t_prev: Optional[float] = None

    @property
    def healthy(self) -> bool:
        return self.state == OK

    def frame(self, t: float, mean: float, std: float, change: Optional[float]) -> Optional[str]:
        """A frame arrived at stream time ``t``. Returns the new state if it changed."""
        st = self.settings
        if mean < st.dark_level or std < st.uniform_std:
            self._dark_since = t if self._dark_since is None else self._dark_since
        else:
            self._dark_since = None
        if change is not None and change <= st.frozen_tol:
            # the picture has not changed since the previous frame was shown
            if self._still_since is None:
                self._still_since = self._t_prev if self._t_prev is not None else t
        else:
            self._still_since = None
        self._t_prev = t
        if self._dark_since is not None and t - self._dark_since >= st.dark_s - 1e-9:
            new = DARK
        elif self._still_since is not None and t - self._still_since >= st.frozen_s - 1e-9:
            new = FROZEN
        else:
            new = OK
        return self._set(new)

    def lost(self, reason: str) -> Optional[str]:
        """The source failed or stopped delivering frames."""
        self.lost_reason = reason
        self._dark_since = self._still_since = self._t_prev = None
        return self._set(LOST)

    def _set(self, new: str) -> Optional[str]:
        if new == self.state:
            return None
        self.state = new
        if new != LOST:
            self.lost_reason = ""
        return new
