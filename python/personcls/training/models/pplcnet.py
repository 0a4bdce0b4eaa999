"""PP-LCNet (PaddleClas "legendary" model), written for personcls.

Parameter names and shapes follow PaddleClas's official ``PPLCNet_x*_pretrained.pdparams``:
``conv1.conv.weight``, ``conv1.bn._mean``, ``blocks2.0.dw_conv.conv.weight``,
``blocks6.0.se.conv1.weight``, ``blocks5.1.pw_conv.bn._variance``, ``last_conv.weight``,
``fc.weight`` ([1280, class_num]) ...
"""

from __future__ import annotations

import paddle.nn as nn
from paddle import ParamAttr
from paddle.nn.initializer import KaimingNormal
from paddle.regularizer import L2Decay

# Stage name -> list of (kernel, in_channels, out_channels, stride, squeeze-excite), for scale 1.
STAGES = (
    ("blocks2", ((3, 16, 32, 1, False),)),
    ("blocks3", ((3, 32, 64, 2, False), (3, 64, 64, 1, False))),
    ("blocks4", ((3, 64, 128, 2, False), (3, 128, 128, 1, False))),
    ("blocks5", ((3, 128, 256, 2, False),) + ((5, 256, 256, 1, False),) * 5),
    ("blocks6", ((5, 256, 512, 2, True), (5, 512, 512, 1, True))),
)

SCALES = {"x0_25": 0.25, "x0_35": 0.35, "x0_5": 0.5, "x0_75": 0.75, "x1_0": 1.0,
          "x1_5": 1.5, "x2_0": 2.0, "x2_5": 2.5}


def round_channels(v: float, divisor: int = 8) -> int:
    """Nearest multiple of ``divisor`` (at least ``divisor``), never more than 10% below ``v``."""
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if out < 0.9 * v:
        out += divisor
    return out


def _no_decay(lr: float = 1.0) -> ParamAttr:
    return ParamAttr(regularizer=L2Decay(0.0), learning_rate=lr)


class ConvBN(nn.Layer):
    """conv (no bias) -> BatchNorm -> hardswish. Sub-layers ``conv`` and ``bn``."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, lr: float = 1.0):
        super().__init__()
        self.conv = nn.Conv2D(cin, cout, k, stride=stride, padding=k // 2, groups=groups,
                              weight_attr=ParamAttr(initializer=KaimingNormal(), learning_rate=lr),
                              bias_attr=False)
        self.bn = nn.BatchNorm2D(cout, weight_attr=_no_decay(lr), bias_attr=_no_decay(lr))
        self.act = nn.Hardswish()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite(nn.Layer):
    """Channel attention: global pool -> 1x1 (c/4) relu -> 1x1 (c) hardsigmoid -> scale."""

    def __init__(self, channels: int, lr: float = 1.0):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.conv1 = nn.Conv2D(channels, channels // 4, 1,
                               weight_attr=ParamAttr(learning_rate=lr), bias_attr=ParamAttr(learning_rate=lr))
        self.conv2 = nn.Conv2D(channels // 4, channels, 1,
                               weight_attr=ParamAttr(learning_rate=lr), bias_attr=ParamAttr(learning_rate=lr))

    def forward(self, x):
        w = self.pool(x)
        w = nn.functional.relu(self.conv1(w))
        w = nn.functional.hardsigmoid(self.conv2(w))
        return x * w


class DWSepBlock(nn.Layer):
    """Depthwise kxk conv (+ optional SE) then pointwise 1x1 conv: ``dw_conv``, ``se``, ``pw_conv``."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, use_se: bool, lr: float = 1.0):
        super().__init__()
        self.dw_conv = ConvBN(cin, cin, k, stride=stride, groups=cin, lr=lr)
        self.se = SqueezeExcite(cin, lr=lr) if use_se else None
        self.pw_conv = ConvBN(cin, cout, 1, lr=lr)

    def forward(self, x):
        x = self.dw_conv(x)
        if self.se is not None:
            x = self.se(x)
        return self.pw_conv(x)


class PPLCNet(nn.Layer):
    def __init__(self, scale: float = 1.0, class_num: int = 1000, dropout_prob: float = 0.2,
                 class_expand: int = 1280, lr_mult_list=(1.0,) * 6, use_last_conv: bool = True):
        super().__init__()
        if len(lr_mult_list) != 6:
            raise ValueError(f"PPLCNet lr_mult_list needs 6 values (stem + 5 stages), got {list(lr_mult_list)}")
        self.scale = float(scale)
        self.class_num = int(class_num)
        self.conv1 = ConvBN(3, round_channels(16 * scale), 3, stride=2, lr=lr_mult_list[0])
        for si, (name, blocks) in enumerate(STAGES):
            layers = [DWSepBlock(round_channels(cin * scale), round_channels(cout * scale), k, s, se,
                                 lr=lr_mult_list[si + 1]) for k, cin, cout, s, se in blocks]
            setattr(self, name, nn.Sequential(*layers))
        last_c = round_channels(STAGES[-1][1][-1][2] * scale)
        self.feature_channels = last_c  # channels of forward_features (the last stage's map)
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        if use_last_conv:
            self.last_conv = nn.Conv2D(last_c, class_expand, 1, bias_attr=False)
            self.last_act = nn.Hardswish()
            self.dropout = nn.Dropout(p=dropout_prob, mode="downscale_in_infer")
            feat = class_expand
        else:
            self.last_conv = None
            feat = last_c
        self.flatten = nn.Flatten(start_axis=1, stop_axis=-1)
        self.embed_dim = feat  # width of embed(): the vector the classifier reads
        self.fc = nn.Linear(feat, class_num)

    def forward_features(self, x):
        x = self.conv1(x)
        for name, _ in STAGES:
            x = getattr(self, name)(x)
        return x

    def embed(self, f):
        """The pooled vector the classifier reads ([N, embed_dim], before dropout), from the
        ``forward_features`` map ``f``."""
        x = self.avg_pool(f)
        if self.last_conv is not None:
            x = self.last_act(self.last_conv(x))
        return self.flatten(x)

    def classify(self, e):
        """Class logits from ``embed``'s vector."""
        return self.fc(self.dropout(e) if self.last_conv is not None else e)

    def forward_head(self, f):
        """Class logits from the ``forward_features`` map ``f``."""
        return self.classify(self.embed(f))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))
