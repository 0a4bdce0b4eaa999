"""``personcls watch``, ``personcls calibrate`` and ``personcls predict`` on a video file."""

from __future__ import annotations

import itertools
import json
import os
import signal
from typing import Optional

from ..errors import ConfigError
from .settings import WatchSettings


def load_watch_config(path: Optional[str], overrides) -> dict:
    """The inference config (``Global`` / ``PostProcess``: which model, backend, threads) plus
    ``Watch`` (defaults from :class:`WatchSettings`) and ``Sources``, then ``-c`` and ``-o``."""
    from ..cli import DEFAULT_INFER_CONFIG, _resolve_config
    from ..config import load_config, read_yaml
    from ..inference_config import KEYS

    defaults = read_yaml(DEFAULT_INFER_CONFIG)
    defaults["Watch"] = WatchSettings().to_dict()
    defaults["Sources"] = {}
    cfg = load_config(_resolve_config(path, DEFAULT_INFER_CONFIG) if path else None, overrides, defaults=defaults,
                      known=KEYS)
    if cfg.get("Sources") is None:
        cfg["Sources"] = {}
    if not isinstance(cfg["Sources"], dict) or not all(isinstance(v, dict) for v in cfg["Sources"].values()):
        raise ConfigError("Sources must map each source to a mapping of settings")
    return cfg


def _print(rec, as_json: bool) -> None:
    print(json.dumps(rec.to_dict()) if as_json else str(rec), flush=True)


def cmd_watch(args) -> int:
    from ..cli import build_classifier
    from .runner import Watcher

    if not args.sources:
        raise ConfigError("no sources given: personcls watch SOURCE [SOURCE ...] (files, folders, globs, cameras, URLs)")
    cfg = load_watch_config(args.config, args.override)
    settings = WatchSettings.from_dict(cfg["Watch"])
    clf = build_classifier(cfg)
    watcher = Watcher(clf, args.sources, settings, cfg["Sources"])
    # Ctrl-C / SIGTERM end the loop cleanly, so the summary is still printed.
    old = {sig: signal.signal(sig, lambda *_: watcher.stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with clf, watcher:
            for rec in watcher:
                _print(rec, args.json)
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
    return 1 if watcher.summary is not None and watcher.summary.errors else 0


def cmd_calibrate(args) -> int:
    from ..cli import build_classifier
    from .calibrate import calibrate, read_labels, write_source_entry

    if not args.source:
        raise ConfigError("no source given: personcls calibrate SOURCE --max-false-rate R")
    cfg = load_watch_config(args.config, args.override)
    settings = WatchSettings.from_dict(cfg["Watch"]).for_source(cfg["Sources"].get(args.source), args.source)
    if args.max_false_rate is None:
        raise ConfigError("calibrate needs --max-false-rate R (the largest share of empty frames allowed above the threshold)")
    labels = read_labels(args.labels) if args.labels else None
    clf = build_classifier(cfg)
    with clf:
        entry = calibrate(clf, args.source, args.max_false_rate, settings, labels)
    path = write_source_entry(args.write, args.source, entry)
    print(json.dumps({"source": args.source, "written": str(path), **entry}))
    return 0


def video_entries(items):
    """``personcls predict``'s (path, name) pairs -> three linked lazy iterators (paths,
    inputs, names): an image path stays one entry; a video file becomes one entry per frame,
    its decoded frame named ``clip.mp4#<frame>`` (a video that cannot be opened is one entry
    whose input is its path, so its error names it)."""
    from .sources import frame_name, is_video_file, open_capture

    def entries():
        for path, name in items:
            cap = open_capture(path) if is_video_file(path) and os.path.isfile(path) else None
            if cap is None:
                yield path, path, name
                continue
            n = 0
            try:
                while True:
                    ok, img = cap.read()
                    if not ok:
                        break
                    yield path, img, frame_name(name, n)
                    n += 1
            finally:
                cap.release()
            if n == 0:  # opened but no frame decoded: the path's own error names it
                yield path, path, name

    a, b, c = itertools.tee(entries(), 3)  # consumed in step: buffers only the prefetch window
    return (e[0] for e in a), (e[1] for e in b), (e[2] for e in c)


def register_commands(sub, common) -> None:
    """Add ``watch`` and ``calibrate`` to the ``personcls`` parser."""
    p = sub.add_parser("watch", help="presence events and camera health from video files, cameras and streams")
    common(p)
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="video file, image folder or glob, camera index, or stream URL (rtsp://, http://, tcp://)")
    p.add_argument("--json", action="store_true", help="one JSON object per line (events, health, summary)")
    p.set_defaults(func=cmd_watch)
    p = sub.add_parser("calibrate", help="pick a source's presence threshold from footage known to be empty")
    common(p)
    p.add_argument("source", nargs="?", metavar="SOURCE")
    p.add_argument("--max-false-rate", type=float, metavar="R",
                   help="largest fraction of empty frames allowed at or above the threshold")
    p.add_argument("--labels", help="labeled frame list ('<frame> <0|1>' per line) instead of all-empty footage")
    p.add_argument("--write", default="watch.yaml", metavar="YAML",
                   help="watch config to write Sources.<SOURCE> into (default: watch.yaml; other entries kept)")
    p.set_defaults(func=cmd_calibrate)
