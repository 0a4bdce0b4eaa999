"""Build the distillation transfer set's extra lists from ../shared/data (nothing is copied but
sampled video frames, written as JPEG files under OUT).

    python benchmarks/make_transfer_set.py [--data ../shared/data] [--out output/transfer]

Writes into OUT:
  video_frames/<clip>/<frame>.jpg    sampled frames of the *training* clips
  video_train_list.txt               those frames (unlabeled: teachers label them)
  imagenette_list.txt                every STRIDE-th line of imagenette/unlabeled_list.txt
  calib_list.txt                     400 training images (vww train, ugi, training video frames,
                                     imagenette; fixed shuffle) for INT8 calibration
  video_heldout_list.txt             frames of the *held-out* clips, labeled by clip-level facts
                                     (car-detection: nobody in any frame; the held-out ASL clips:
                                     someone in every frame); never trained on, never used to choose

The split is by clip, so no held-out frame shares a clip with a training frame: the training
clips are one-by-one-person-detection.mp4, six ASL clips and the GIF previews other than
car-detection; held out are car-detection.mp4 (and its GIF preview) and the other six ASL clips.
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

import cv2

from personcls.imageio import read_list_file

TRAIN_ASL = ("again", "bird", "book", "brother", "eat", "help")
HELDOUT_ASL = ("hungry", "learn", "milk", "night", "no", "please")
HELDOUT_GIF = ("car-detection",)


def frames(path: Path, stride: int):
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SystemExit(f"cannot open {path}")
    i = 0
    while True:
        ok, f = cap.read()
        if not ok:
            break
        if i % stride == 0:
            yield i, f
        i += 1
    cap.release()


def dump(path: Path, stride: int, out: Path, root: Path, lines: list, label=None) -> int:
    d = out / "video_frames" / path.stem
    d.mkdir(parents=True, exist_ok=True)
    n = 0
    for i, f in frames(path, stride):
        p = d / f"{i:05d}.jpg"
        if not p.is_file():
            tmp = p.with_name(p.stem + ".tmp.jpg")
            cv2.imwrite(str(tmp), f, [cv2.IMWRITE_JPEG_QUALITY, 92])
            os.replace(tmp, p)
        rel = os.path.relpath(p, root)
        lines.append(rel if label is None else f"{rel} {label}")
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="output/transfer")
    ap.add_argument("--imagenette-stride", type=int, default=3)
    args = ap.parse_args()
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    video = data / "video"
    train, held = [], []
    dump(video / "one-by-one-person-detection.mp4", 3, out, out, train)
    for name in TRAIN_ASL:
        dump(video / "asl_gestures" / f"{name}.mkv", 2, out, out, train)
    for g in sorted((video / "preview").glob("*.gif")):
        if g.stem not in HELDOUT_GIF:
            dump(g, 1, out, out, train)
    dump(video / "car-detection.mp4", 1, out, out, held, label=0)
    for g in HELDOUT_GIF:
        dump(video / "preview" / f"{g}.gif", 1, out, out, held, label=0)
    for name in HELDOUT_ASL:
        dump(video / "asl_gestures" / f"{name}.mkv", 1, out, out, held, label=1)
    (out / "video_train_list.txt").write_text("\n".join(train) + "\n")
    (out / "video_heldout_list.txt").write_text("\n".join(held) + "\n")
    inet = data / "imagenette"
    lines = [ln.strip() for ln in (inet / "unlabeled_list.txt").read_text().splitlines() if ln.strip()]
    sub = [os.path.relpath(inet / ln, out) for ln in lines[::args.imagenette_stride]]
    (out / "imagenette_list.txt").write_text("\n".join(sub) + "\n")
    pool = ([os.path.relpath(p, out) for lst in (data / "vww" / "train_list.txt", data / "ugi" / "unlabeled_list.txt")
             for p, _, _ in read_list_file(lst)]
            + train + sub)
    rng = random.Random(0)
    rng.shuffle(pool)
    (out / "calib_list.txt").write_text("\n".join(pool[:400]) + "\n")
    print(f"{out}: video_train_list {len(train)}, video_heldout_list {len(held)} "
          f"({sum(ln.endswith(' 1') for ln in held)} someone), imagenette_list {len(sub)}")


if __name__ == "__main__":
    main()
