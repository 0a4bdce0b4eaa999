"""The pipeline interface and the backend choice: every backend is a declared Pipeline,
"auto" is the first usable backend of the documented preference order, an explicit order is
honoured, and the native backend never hands off to another one on its own."""

from __future__ import annotations

import pytest

from personcls import BackendError, Classifier, _native
from personcls.backends import (BACKEND_PREFERENCE, BACKENDS, Pipeline, RuntimeOptions, available_backends,
                                choose_backend, create_pipeline)
from personcls.modelfolder import ModelMeta


def test_available_backends_follow_the_preference_order():
    for device, order in BACKEND_PREFERENCE.items():
        avail = available_backends(device)
        assert avail == [b for b in order if b in avail]
        assert set(order) <= set(BACKENDS)
    assert "paddle-cuda" not in available_backends("cpu")
    if hasattr(_native, "Engine"):
        assert available_backends()[0] == "native" == choose_backend("auto", "cpu")


def test_choice_by_name_order_and_auto(random_model):
    avail = available_backends()
    with Classifier(random_model) as clf:
        assert clf.backend == avail[0]
    for b in avail:
        assert choose_backend(b) == b
        assert choose_backend(list(reversed(avail)) if b == avail[-1] else [b] + avail) == b
    with pytest.raises(BackendError, match="unknown backend 'tflite'"):
        choose_backend("tflite")
    with pytest.raises(BackendError, match="unknown backend"):
        choose_backend(["native", "tflite"])
    if "paddle" in avail:
        with Classifier(random_model, backend=["paddle", "native"]) as clf:
            assert clf.backend == "paddle"


def test_every_backend_is_a_declared_pipeline(random_model):
    meta = ModelMeta.load(random_model)
    for b in available_backends():
        p = create_pipeline(b, random_model, meta, RuntimeOptions())
        assert isinstance(p, Pipeline) and p.name == b
        assert p.outputs_are_probabilities is True and p.host_preprocess is True
        assert p.describe()

    class Incomplete(Pipeline):  # a backend that forgets part of the interface cannot be built
        def preprocess(self, frames, color):
            return frames

    with pytest.raises(TypeError):
        Incomplete(meta)


@pytest.mark.skipif(not hasattr(_native, "Engine"), reason="this build has no native engine")
def test_native_on_gpu_is_an_error_not_a_hand_off(random_model):
    """The native engine runs on the CPU; on a GPU it names the GPU backends instead of quietly
    becoming one of them."""
    meta = ModelMeta.load(random_model)
    with pytest.raises(BackendError, match="paddle-cuda"):
        create_pipeline("native", random_model, meta, RuntimeOptions(device="gpu"))
    assert "native" not in available_backends("gpu")


def test_postprocessor_applies_softmax_once_and_the_one_decision_rule():
    """Logits get softmax in the Postprocessor (the one place), probabilities do not; the
    decision is spec.decide: P(someone) >= threshold, the threshold itself included."""
    import numpy as np

    from personcls.postprocess import Postprocessor
    from personcls.spec import PostprocessSpec, decide

    spec = PostprocessSpec(threshold=0.5)
    logits = np.array([[0.0, 0.0], [0.0, 2.0]], np.float32)
    r = Postprocessor(spec, output_is_probability=False)(logits, ["a", "b"])
    assert [x.person_score for x in r] == pytest.approx([0.5, 1 / (1 + np.exp(-2.0))])
    assert [x.someone for x in r] == [True, True] == [decide(x.person_score, 0.5) for x in r]
    probs = np.array([[0.6, 0.4]], np.float32)
    r = Postprocessor(spec, output_is_probability=True, threshold=0.4)(probs, ["c"])[0]
    assert r.person_score == pytest.approx(0.4) and r.someone is True
    assert list(decide(np.array([0.39, 0.4, 0.41]), 0.4)) == [False, True, True]
