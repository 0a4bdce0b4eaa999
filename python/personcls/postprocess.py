"""Model outputs -> results: Topk (the tutorial's listing) and the someone/nobody threshold
(PULC's ThreshOutput), both from the model's PostprocessSpec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np

from .spec import PostprocessSpec, decide


@dataclass
class Timing:
    """Where one result's time went, in milliseconds.

    ``decode_ms``: reading and decoding the input (0 for a decoded frame); ``preprocess_ms``:
    its resize / crop / normalise; ``infer_ms``: the model call of the batch it ran in, whole
    (``batch_size`` inputs shared it); ``postprocess_ms``: its share of turning model outputs
    into results; ``latency_ms``: from the moment predict took the input up to its result
    being ready (includes waiting behind earlier inputs in a pipelined run).
    """

    decode_ms: float = 0.0
    preprocess_ms: float = 0.0
    infer_ms: float = 0.0
    postprocess_ms: float = 0.0
    latency_ms: float = 0.0
    batch_size: int = 0

    def to_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class Result:
    """The answer for one input.

    ``someone`` is the decision: P(someone) >= threshold. ``class_ids`` / ``scores`` /
    ``label_names`` are the listing the output mode asked for (Topk: classes by descending
    score; threshold: the decided class and its probability). A failed input has ``error``
    set and empty fields. ``timing`` (a :class:`Timing`) says where its time went.
    """

    source: str
    class_ids: List[int] = field(default_factory=list)
    scores: List[float] = field(default_factory=list)
    label_names: List[str] = field(default_factory=list)
    someone: Optional[bool] = None
    person_score: Optional[float] = None
    threshold: Optional[float] = None
    error: Optional[Exception] = None
    timing: Optional[Timing] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def format_line(self) -> str:
        """The tutorial's output line, e.g.
        ``x.jpg:\\tclass id(s): [1, 0], score(s): [1.00, 0.00], label_name(s): ['someone', 'nobody']``"""
        if self.error is not None:
            return f"{self.source}:\terror: {self.error}"
        scores = ", ".join(f"{s:.2f}" for s in self.scores)
        return (f"{self.source}:\tclass id(s): {list(self.class_ids)}, score(s): [{scores}], "
                f"label_name(s): {list(self.label_names)}")

    def to_dict(self) -> dict:
        return {
            "source": self.source, "class_ids": list(self.class_ids), "scores": list(self.scores),
            "label_names": list(self.label_names), "someone": self.someone, "person_score": self.person_score,
            "threshold": self.threshold, "error": None if self.error is None else str(self.error),
            "timing": None if self.timing is None else self.timing.to_dict(),
        }


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Postprocessor:
    """``mode="topk"`` (the tutorial's lines) or ``mode="threshold"`` (one decided class)."""

    MODES = ("topk", "threshold")

    def __init__(self, spec: PostprocessSpec, mode: str = "topk", threshold: Optional[float] = None,
                 topk: Optional[int] = None, output_is_probability: bool = True):
        if mode not in self.MODES:
            from .errors import InputError

            raise InputError(f"post-processing mode {mode!r} is not one of {self.MODES}")
        self.spec = spec
        self.mode = mode
        self.threshold = float(spec.threshold if threshold is None else threshold)
        if not 0.0 <= self.threshold <= 1.0:
            from .errors import InputError

            raise InputError(f"threshold must be in [0, 1], got {self.threshold}")
        self.topk = min(int(topk or spec.topk), len(spec.label_names))
        self.output_is_probability = output_is_probability

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        out = np.asarray(outputs, dtype=np.float32)
        if out.ndim != 2 or out.shape[1] != len(self.spec.label_names):
            from .errors import ModelError

            raise ModelError(f"model output has shape {out.shape}; expected (N, {len(self.spec.label_names)})")
        return out if self.output_is_probability else softmax(out)

    def __call__(self, outputs: np.ndarray, sources: Sequence[str]) -> List[Result]:
        probs = self.probabilities(outputs)
        pos = self.spec.positive_class
        names = self.spec.label_names
        results = []
        for src, p in zip(sources, probs):
            ps = float(p[pos])
            someone = decide(ps, self.threshold)
            if self.mode == "topk":
                order = np.argsort(-p, kind="stable")[: self.topk]
                ids = [int(i) for i in order]
                scores = [float(p[i]) for i in order]
            else:
                others = [i for i in range(len(names)) if i != pos]
                cid = pos if someone else max(others, key=lambda i: p[i])
                ids, scores = [cid], [float(p[cid])]
            results.append(Result(source=src, class_ids=ids, scores=scores, label_names=[names[i] for i in ids],
                                  someone=someone, person_score=ps, threshold=self.threshold))
        return results
