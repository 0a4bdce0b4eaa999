"""Look at what PersonPasteOperator makes: real training views of the shipped recipe's transfer set,
each with a person from another view pasted in (prob 1), beside the unpasted view (the segmenter's
mask of it tinted red), with the teacher members' P(someone) before / after (in the config's member
order, e.g. segmenter / VWW classifier) written on the tiles.

    python benchmarks/paste_look.py --out output/paste_look/grid.png   # needs output/transfer (make_transfer_set.py)
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from personcls.training import augment, distill, teachers
from personcls.training import config_access as C
from personcls.training import data as D


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="training/configs/PPLCNet_x1_0_person_teachers.yaml")
    ap.add_argument("--out", default="output/paste_look/grid.png")
    ap.add_argument("--views", type=int, default=24, help="a multiple of 4")
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    cfg = C.load(a.config, [])
    spec = C.preprocess_spec(cfg)
    ext = distill.external_teacher(cfg)
    ds, _, _ = D.build_train_data(cfg, spec, 42, with_geometry=True)
    ext.prepare_cache([e.path for e in ds.entries])
    idx = np.random.default_rng(a.seed).choice(len(ds), a.views, replace=False)
    items = [ds[(int(i), 3)] for i in idx]
    x = np.stack([it[0] for it in items])
    y = np.array([it[1] for it in items])
    box = np.stack([it[4] for it in items])
    xm, _, mix = augment.PersonPaste(prob=1.0).mix_batch(x, y, np.random.default_rng(0),
                                                          lambda h, w: ext.person_maps(idx, box, h, w))
    before = ext.member_probs(teachers.denormalize(x, spec), idx, box, None)
    after = ext.member_probs(teachers.denormalize(xm, spec), idx, box, mix)
    masks = ext.person_maps(idx, box, x.shape[2], x.shape[3])
    rgb0, rgb1 = (teachers.denormalize(v, spec).astype(np.uint8) for v in (x, xm))
    tiles = []
    for k in range(len(idx)):
        a0 = rgb0[k].copy()
        a0[..., 0] = np.maximum(a0[..., 0], (masks[k] * 127).astype(np.uint8))
        t = np.concatenate([a0, rgb1[k]], 1)[..., ::-1].copy()
        w = x.shape[3]
        cv2.putText(t, f"{before[0, k]:.2f}/{before[1, k]:.2f}", (2, 12), 0, 0.4, (0, 255, 255), 1)
        cv2.putText(t, f"{after[0, k]:.2f}/{after[1, k]:.2f}", (w + 2, 12), 0, 0.4, (0, 255, 255), 1)
        tiles.append(t)
    rows = [np.concatenate(tiles[r:r + 4], 1) for r in range(0, len(tiles) - 3, 4)]
    cv2.imwrite(a.out, np.concatenate(rows, 0))
    pasted = mix.partner >= 0 if mix is not None else np.zeros(len(idx), bool)
    print(f"{int(pasted.sum())} of {len(idx)} views pasted; wrote {a.out}")
    for j, m in enumerate(ext.members):
        print(f"member {j} ({m.kind}): mean P(someone) {before[j].mean():.2f} before, {after[j][pasted].mean():.2f} on pasted views")


if __name__ == "__main__":
    main()
