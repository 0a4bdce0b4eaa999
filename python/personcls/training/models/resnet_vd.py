"""ResNet-vd (ResNet50_vd, ResNet101_vd), written for personcls.

Parameter names follow PaddleClas's "legendary" ResNet pretrained files
(``ResNet101_vd_pretrained.pdparams`` / ``..._ssld_pretrained.pdparams``): a three-conv stem
``stem.{0,1,2}.conv.weight`` / ``.bn.*``, one flat ``blocks`` sequence of bottlenecks
``blocks.N.conv{0,1,2}.*`` with a projection ``blocks.N.short.*`` on the first block of each
stage, and ``fc`` ([2048, class_num]). "vd": the projection of a strided stage downsamples with
2x2 average pooling before its 1x1 conv instead of a strided 1x1 conv.
"""

from __future__ import annotations

import math

import paddle.nn as nn
from paddle import ParamAttr
from paddle.nn.initializer import Uniform

DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
WIDTHS = (64, 128, 256, 512)  # bottleneck inner widths; outputs are 4x


class ConvBN(nn.Layer):
    """[avg-pool 2x2 when ``pool_first``] -> conv (no bias) -> BatchNorm -> [relu]."""

    def __init__(self, cin, cout, k, stride=1, relu=True, pool_first=False, lr=1.0):
        super().__init__()
        self.pool = nn.AvgPool2D(2, stride=stride, padding="SAME", ceil_mode=True) if pool_first else None
        self.conv = nn.Conv2D(cin, cout, k, stride=1 if pool_first else stride, padding=(k - 1) // 2,
                              weight_attr=ParamAttr(learning_rate=lr), bias_attr=False)
        self.bn = nn.BatchNorm2D(cout, weight_attr=ParamAttr(learning_rate=lr), bias_attr=ParamAttr(learning_rate=lr))
        self.relu = relu

    def forward(self, x):
        if self.pool is not None:
            x = self.pool(x)
        x = self.bn(self.conv(x))
        return nn.functional.relu(x) if self.relu else x


class Bottleneck(nn.Layer):
    def __init__(self, cin, width, stride, project, first_stage, lr=1.0):
        super().__init__()
        self.conv0 = ConvBN(cin, width, 1, lr=lr)
        self.conv1 = ConvBN(width, width, 3, stride=stride, lr=lr)
        self.conv2 = ConvBN(width, width * 4, 1, relu=False, lr=lr)
        # the very first projection (stride 1 after the max-pool) is a plain 1x1 conv
        self.short = (ConvBN(cin, width * 4, 1, stride=stride, relu=False, pool_first=not first_stage, lr=lr)
                      if project else None)

    def forward(self, x):
        y = self.conv2(self.conv1(self.conv0(x)))
        s = x if self.short is None else self.short(x)
        return nn.functional.relu(y + s)


class ResNetVd(nn.Layer):
    def __init__(self, depth: int = 50, class_num: int = 1000, lr_mult_list=(1.0,) * 5):
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"ResNet_vd depth must be one of {sorted(DEPTHS)}, got {depth}")
        if len(lr_mult_list) != 5:
            raise ValueError(f"ResNet_vd lr_mult_list needs 5 values, got {list(lr_mult_list)}")
        self.class_num = int(class_num)
        lr0 = lr_mult_list[0]
        self.stem = nn.Sequential(ConvBN(3, 32, 3, stride=2, lr=lr0), ConvBN(32, 32, 3, lr=lr0),
                                  ConvBN(32, 64, 3, lr=lr0))
        self.max_pool = nn.MaxPool2D(3, stride=2, padding=1)
        blocks = []
        cin = 64
        for si, (n, width) in enumerate(zip(DEPTHS[depth], WIDTHS)):
            for bi in range(n):
                stride = 2 if (bi == 0 and si > 0) else 1
                blocks.append(Bottleneck(cin, width, stride, project=(bi == 0), first_stage=(si == 0),
                                         lr=lr_mult_list[si + 1]))
                cin = width * 4
        self.blocks = nn.Sequential(*blocks)
        self.feature_channels = cin  # channels of forward_features
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.flatten = nn.Flatten()
        bound = 1.0 / math.sqrt(cin)
        self.embed_dim = cin  # width of embed(): the vector the classifier reads
        self.fc = nn.Linear(cin, class_num, weight_attr=ParamAttr(initializer=Uniform(-bound, bound)))

    def forward_features(self, x):
        return self.blocks(self.max_pool(self.stem(x)))

    def embed(self, f):
        """The pooled vector the classifier reads ([N, embed_dim])."""
        return self.flatten(self.avg_pool(f))

    def classify(self, e):
        """Class logits from ``embed``'s vector."""
        return self.fc(e)

    def forward_head(self, f):
        """Class logits from the ``forward_features`` map ``f``."""
        return self.classify(self.embed(f))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))
