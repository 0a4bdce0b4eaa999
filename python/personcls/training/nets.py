"""The network a config names, with its weights: a plain classifier (``recipe.build_arch``) or,
for ``Arch.name: DistillationModel``, the student with its teacher (``distill``)."""

from __future__ import annotations

from typing import Any, Dict

from ..errors import ConfigError
from . import config_access as C
from . import distill, recipe


def build_net(cfg: Dict[str, Any], for_training: bool = False):
    if C.is_distillation(cfg):
        return distill.build_distillation_model(cfg, for_training=for_training)
    return recipe.build_arch(dict(C.need(cfg, "Arch")), "Arch")


def load_for_inference(cfg: Dict[str, Any], what: str):
    """(network in eval mode with ``Global.pretrained_model`` loaded, weight sources) for the
    ``eval`` / ``infer`` / ``export`` commands; the device is set from ``Global.device``."""
    import paddle

    paddle.set_device(recipe.resolve_device(cfg))
    if not C.get(cfg, "Global.pretrained_model"):
        raise ConfigError(f"{what} needs trained weights: -o Global.pretrained_model=output/"
                          f"{C.get(cfg, 'Arch.name')}/best_model")
    model = build_net(cfg, for_training=False)
    src = recipe.init_weights(model, cfg, for_training=False)
    model.eval()
    return model, src
