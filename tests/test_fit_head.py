"""benchmarks/fit_head.py: the soft-target logistic fit and the head it writes."""

import numpy as np
import pytest

from conftest import benchmark_script

pytest.importorskip("sklearn")


def test_folded_head_reproduces_the_fit_and_follows_soft_targets():
    mod = benchmark_script("fit_head")
    rng = np.random.default_rng(0)
    n, d = 400, 16
    base = rng.normal(3.0, 2.0, (n, d))  # raw pooled-vector-like scale, not standardised
    feats = np.stack([base, base + rng.normal(0, 0.1, (n, d))], axis=1).astype(np.float32)
    true_w = rng.normal(0, 1, d)
    targets = 1 / (1 + np.exp(-((base - 3.0) / 2.0) @ true_w * 0.7))  # soft, not 0/1
    c, cv, m, mu, sd = mod.fit(feats, targets, [0.01, 1.0], folds=3)
    assert c in cv and set(cv) == {0.01, 1.0}
    w, b = mod.fold_head(m, mu, sd)
    assert w.shape == (d, 2) and b.shape == (2,)
    x = feats.reshape(-1, d).astype(np.float64)
    logits = x @ w + b
    p_head = np.exp(logits[:, 1]) / np.exp(logits).sum(1)
    p_fit = m.predict_proba((x - mu) / sd)[:, 1]
    assert np.abs(p_head - p_fit).max() < 1e-4
    # the fit follows soft targets (not their rounding): mean abs error well under a coin flip's
    err = np.abs(p_fit.reshape(-1, 2).mean(1) - targets).mean()
    assert err < 0.1, err
