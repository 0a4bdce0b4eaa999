"""Every available backend gives the same scores on the same real images.

Tolerance: |P(someone)| and every class probability within 1e-4 between backends (measured
here: max 7e-7 between Paddle Inference + oneDNN and OpenVINO, both fp32), the same Topk
order and the same someone/nobody decision except where a score lies within the tolerance of
the threshold or of the other class.

The model: a PPLCNet_x1_0 exported by the project's export code with the ImageNet-derived
start weights of ../shared/data/pretrained (head cut to 2 classes), so that scores really vary
from image to image (a randomly initialised network answers ~0.5 for everything, which would
make any agreement check vacuous). Images: the 14 full-size photos of demo/ and the 16 VWW
images of vww/val_list.txt.debug.
"""

from __future__ import annotations

import numpy as np
import pytest

from personcls.backends import RuntimeOptions, available_backends
from personcls.backends import Pipeline, create_pipeline
from personcls.classifier import Classifier
from personcls.modelfolder import ModelMeta

TOL = 1e-4


@pytest.fixture(scope="module")
def images(data_dir):
    paths = sorted((data_dir / "demo").glob("*.jpg"))
    vww = data_dir / "vww"
    lst = vww / "val_list.txt.debug"
    if lst.is_file():
        paths += [vww / line.split()[0] for line in lst.read_text().splitlines() if line.strip()]
    else:
        pytest.skip(f"{lst} not found")
    assert len(paths) >= 20
    return [str(p) for p in paths]


def backends():
    have = available_backends()
    if len(have) < 2:
        pytest.skip(f"agreement needs two backends, this environment has {have}")
    return have


def test_every_backend_gives_the_same_results(trained_like_model, images):
    names = backends()
    results = {b: Classifier(trained_like_model, backend=b, batch_size=8).predict(images) for b in names}
    ref_name = "paddle" if "paddle" in names else names[0]
    ref = results[ref_name]
    scores = np.array([r.person_score for r in ref])
    assert all(r.ok for r in ref)
    assert np.ptp(scores) > 0.2, "scores barely vary: the check would be vacuous"
    for b in names:
        if b == ref_name:
            continue
        got = results[b]
        diffs = []
        for r, g in zip(ref, got):
            assert g.ok and g.source == r.source
            p_ref = dict(zip(r.class_ids, r.scores))
            p_got = dict(zip(g.class_ids, g.scores))
            diffs += [abs(p_ref[c] - p_got[c]) for c in p_ref]
            assert abs(g.person_score - r.person_score) <= TOL, (b, r.source, g.person_score, r.person_score)
            if abs(r.scores[0] - r.scores[1]) > 2 * TOL:
                assert g.class_ids == r.class_ids, (b, r.source)
            if abs(r.person_score - r.threshold) > TOL:
                assert g.someone == r.someone, (b, r.source)
        print(f"{b} vs {ref_name}: {len(got)} images, max |diff| {max(diffs):.2e}")


def test_model_only_outputs_agree(trained_like_model, images):
    import cv2

    names = backends()
    meta = ModelMeta.load(trained_like_model)
    pipes = {b: create_pipeline(b, trained_like_model, meta, RuntimeOptions(), 0) for b in names}
    assert all(isinstance(p, Pipeline) and p.outputs_are_probabilities for p in pipes.values())
    frames = [cv2.imread(p) for p in images[:16]]
    batch = pipes[names[0]].preprocess(frames, "BGR")
    outs = {b: np.asarray(p.infer(batch)) for b, p in pipes.items()}
    for b in names[1:]:
        np.testing.assert_allclose(outs[b], outs[names[0]], atol=TOL)
    # and each backend's own preprocessing gives the same batch
    for b in names[1:]:
        np.testing.assert_allclose(pipes[b].preprocess(frames, "BGR"), batch, atol=1e-6)
