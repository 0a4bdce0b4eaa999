"""MobileNetV2 (scale 1.0), written for personcls.

Parameter names follow PaddleClas's ``MobileNetV2`` (model_zoo): ``conv1._conv.weight``,
``conv1._batch_norm._mean``, stages ``conv2`` .. ``conv8`` each with ``_first_block`` and then
``convK_2``, ``convK_3`` ..., every unit holding ``_expand_conv``, ``_bottleneck_conv`` (depthwise)
and ``_linear_conv``; ``conv9`` (1x1 to 1280) and the head ``out`` ([1280, class_num]).

``padding="tf_same"`` pads the five stride-2 convs (stem and the first depthwise conv of the
stages at 112->56, 56->28, 28->14, 14->7) by 0 on top/left and 1 on bottom/right, as
TensorFlow's "SAME" does for even inputs: weights converted from TF/TFLite need it (see
../shared/data/pretrained/README.md). ``padding="paddle"`` (default) pads 1 on every side.
"""

from __future__ import annotations

import paddle
import paddle.nn as nn

# (expansion t, out channels c, repeats n, first stride s), stages conv2..conv8
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1))


def _pad(k: int, stride: int, mode: str):
    if mode == "tf_same" and stride == 2:
        return [0, 1, 0, 1]  # top, bottom, left, right
    return (k - 1) // 2


class ConvBN(nn.Layer):
    def __init__(self, cin, cout, k, stride=1, groups=1, relu6=True, padding_mode="paddle"):
        super().__init__()
        self._conv = nn.Conv2D(cin, cout, k, stride=stride, padding=_pad(k, stride, padding_mode),
                               groups=groups, bias_attr=False)
        self._batch_norm = nn.BatchNorm2D(cout)
        self.relu6 = relu6

    def forward(self, x):
        x = self._batch_norm(self._conv(x))
        return nn.functional.relu6(x) if self.relu6 else x


class InvertedResidual(nn.Layer):
    def __init__(self, cin, cout, stride, t, residual, padding_mode="paddle"):
        super().__init__()
        hidden = int(round(cin * t))
        self._expand_conv = ConvBN(cin, hidden, 1)
        self._bottleneck_conv = ConvBN(hidden, hidden, 3, stride=stride, groups=hidden, padding_mode=padding_mode)
        self._linear_conv = ConvBN(hidden, cout, 1, relu6=False)
        self.residual = residual

    def forward(self, x):
        y = self._linear_conv(self._bottleneck_conv(self._expand_conv(x)))
        return x + y if self.residual else y


class InvertedResidualStage(nn.Layer):
    def __init__(self, name, cin, t, c, n, s, padding_mode="paddle"):
        super().__init__()
        self._first_block = InvertedResidual(cin, c, s, t, residual=False, padding_mode=padding_mode)
        self._rest = []
        for i in range(2, n + 1):
            self._rest.append(self.add_sublayer(f"{name}_{i}", InvertedResidual(c, c, 1, t, residual=True)))

    def forward(self, x):
        x = self._first_block(x)
        for block in self._rest:
            x = block(x)
        return x


class MobileNetV2(nn.Layer):
    def __init__(self, class_num: int = 1000, padding: str = "paddle", dropout_prob: float = 0.0):
        super().__init__()
        if padding not in ("paddle", "tf_same"):
            raise ValueError(f"MobileNetV2 padding must be 'paddle' or 'tf_same', got {padding!r}")
        self.class_num = int(class_num)
        self.conv1 = ConvBN(3, 32, 3, stride=2, padding_mode=padding)
        self._stages = []
        cin = 32
        for i, (t, c, n, s) in enumerate(SETTINGS):
            name = f"conv{i + 2}"
            self._stages.append(self.add_sublayer(name, InvertedResidualStage(name, cin, t, c, n, s, padding)))
            cin = c
        self.conv9 = ConvBN(cin, 1280, 1)
        self.feature_channels = 1280  # channels of forward_features
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.dropout = nn.Dropout(dropout_prob) if dropout_prob > 0 else None
        self.embed_dim = 1280  # width of embed(): the vector the classifier reads
        self.out = nn.Linear(1280, class_num)

    def forward_features(self, x):
        x = self.conv1(x)
        for st in self._stages:
            x = st(x)
        return self.conv9(x)

    def embed(self, f):
        """The pooled vector the classifier reads ([N, 1280], before dropout)."""
        return paddle.flatten(self.pool(f), start_axis=1)

    def classify(self, e):
        """Class logits from ``embed``'s vector."""
        return self.out(self.dropout(e) if self.dropout is not None else e)

    def forward_head(self, f):
        """Class logits from the ``forward_features`` map ``f``."""
        return self.classify(self.embed(f))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))
