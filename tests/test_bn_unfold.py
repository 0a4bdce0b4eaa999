"""benchmarks/bn_unfold.py: BN statistics measured and conv weights rescaled without changing the
function (inference mode), so that training mode starts from the same function too."""

import numpy as np
import pytest

from conftest import benchmark_script

paddle = pytest.importorskip("paddle")


def _folded_net():
    """A small-input MobileNetV2 in the state a BN-folded file leaves it: BN mean 0, variance
    1 - eps, weight 1, the folded bias; conv weights at scattered per-channel scales."""
    from personcls.training.models import MobileNetV2

    paddle.seed(0)
    rng = np.random.default_rng(0)
    net = MobileNetV2(class_num=4, padding="tf_same")
    for _, m in net.named_sublayers():
        if isinstance(m, paddle.nn.Conv2D):
            w = m.weight.numpy()
            scale = 10.0 ** rng.uniform(-2, 0.5, size=(w.shape[0], 1, 1, 1))
            m.weight.set_value((w * scale).astype(np.float32))
        elif isinstance(m, paddle.nn.BatchNorm2D):
            n = m.weight.shape[0]
            m._mean.set_value(np.zeros(n, np.float32))
            m._variance.set_value(np.full(n, 1 - m._epsilon, np.float32))
            m.weight.set_value(np.ones(n, np.float32))
            m.bias.set_value(rng.normal(0, 0.5, n).astype(np.float32))
    net.eval()
    return net


def test_unfold_keeps_the_function_and_normalises_weights():
    mod = benchmark_script("bn_unfold")
    net = _folded_net()
    xs = [paddle.to_tensor(np.random.default_rng(i).normal(0, 0.6, (16, 3, 64, 64)).astype(np.float32))
          for i in range(2)]
    probe = paddle.to_tensor(np.random.default_rng(9).normal(0, 0.6, (16, 3, 64, 64)).astype(np.float32))
    before = mod.outputs(net, probe, False)
    train_before = mod.outputs(net, probe, True)
    mod.rewrite(net, mod.measure(net, xs))
    after = mod.outputs(net, probe, False)
    train_after = mod.outputs(net, probe, True)
    assert mod.outputs(net, probe, False) == pytest.approx(after)  # training-mode runs left no trace
    scale = np.abs(before).max()
    assert np.abs(after - before).max() <= 1e-3 * scale
    # training mode (batch statistics) now lands near the function; the folded state did not
    assert np.abs(train_after - before).mean() < 0.5 * np.abs(train_before - before).mean()
    for _, m in net.named_sublayers():
        if isinstance(m, paddle.nn.Conv2D):
            w = m.weight.numpy()
            norms = np.sqrt((w.reshape(w.shape[0], -1) ** 2).sum(1))
            assert norms == pytest.approx(np.sqrt(2.0), rel=1e-4)
