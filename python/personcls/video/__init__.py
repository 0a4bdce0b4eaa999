"""The video loop: sources, a multi-stream runner, presence events, camera health, calibration.

    from personcls import Classifier
    from personcls.video import Watcher, WatchSettings, track_scores

    for rec in Watcher(Classifier(), ["cam.mp4", "rtsp://..."], WatchSettings(frames=False)):
        print(rec.to_dict())            # enter / leave, health, lost / reconnected, summary

See docs/video.md.
"""

from .calibrate import calibrate, pick_threshold
from .events import Event, PresenceTracker, track_scores
from .health import HealthMonitor, frame_stats
from .runner import FrameResult, HealthChange, Summary, Watcher
from .settings import PER_SOURCE_KEYS, WatchSettings
from .sources import (CaptureSource, Frame, ImageSequenceSource, IterableSource, Notice, Source, is_video_file,
                      make_source)

__all__ = ["Watcher", "WatchSettings", "PER_SOURCE_KEYS", "PresenceTracker", "Event", "track_scores", "HealthMonitor",
           "frame_stats", "FrameResult", "HealthChange", "Summary", "Source", "CaptureSource", "ImageSequenceSource",
           "IterableSource", "Frame", "Notice", "make_source", "is_video_file", "calibrate", "pick_threshold"]
