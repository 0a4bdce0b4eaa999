"""The shipped default model (python/personcls/models/person_PPLCNet_x1_0) on the 14 held-out
full-size photos of ../shared/data/demo, as `personcls predict` runs it (skipped without them).
The floor is the accuracy measured when the model was shipped minus a margin (MODEL_CARD.md)."""

from __future__ import annotations

import pytest

from personcls.spec import default_model_dir

MEASURED_RIGHT = 11  # of 14, measured when shipped (MODEL_CARD.md)
MARGIN = 1             # images


def _labels(demo_dir):
    out = {}
    for ln in (demo_dir / "labels.txt").read_text().splitlines():
        if ln.strip():
            name, lab = ln.split()
            out[name] = int(lab)
    return out


def test_default_model_on_demo_photos(demo_dir):
    from personcls import Classifier

    md = default_model_dir()
    assert (md / "personcls.json").is_file(), f"no shipped model at {md}"
    labels = _labels(demo_dir)
    clf = Classifier()  # the default model
    names = sorted(labels)
    res = {n: r for n, r in zip(names, clf.predict_batch([str(demo_dir / n) for n in names]))}
    right = sum(int(res[n].someone) == labels[n] for n in names)
    # the tutorial's own two demo images
    assert res["objects365_02035329.jpg"].someone is True, res["objects365_02035329.jpg"]
    assert res["objects365_01780782.jpg"].someone is False, res["objects365_01780782.jpg"]
    assert right >= MEASURED_RIGHT - MARGIN, f"{right}/{len(names)} right; shipped with {MEASURED_RIGHT}"


def test_default_model_folder_is_small():
    md = default_model_dir()
    if not md.is_dir():
        pytest.skip("no shipped model")
    size = sum(f.stat().st_size for f in md.rglob("*") if f.is_file())
    assert size < 30 * 2**20
    assert not list(md.glob("*.pdopt")) and not list(md.glob("*latest*"))
