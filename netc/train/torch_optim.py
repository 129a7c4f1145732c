"""Optimizers from a recipe, with weight decay kept off norm and bias parameters when asked."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from netc.train.recipe import Recipe

LR_SCALE = "lr_scale"  # optimizer group key: the group's rate is the schedule's rate times this

# Decaying a norm layer's scale or any bias only fights the normalisation and buys nothing
# (Goyal et al. 2017, "Accurate, large minibatch SGD", section 5.1;
# timm's param_groups_weight_decay).
NORM_MODULES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm,
                nn.LocalResponseNorm)


def parameter_groups(model: nn.Module, weight_decay: float,
                     spare_norm_and_bias: bool) -> list[dict]:
    decay, no_decay, seen = [], [], set()
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if not parameter.requires_grad or id(parameter) in seen:
                continue
            seen.add(id(parameter))
            spared = isinstance(module, NORM_MODULES) or name == "bias"
            (no_decay if spare_norm_and_bias and spared else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def _sgd(groups: list[dict], recipe: Recipe, fused: bool) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum,
                           nesterov=recipe.nesterov, fused=fused)


def _adamw(groups: list[dict], recipe: Recipe, fused: bool) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=recipe.lr, fused=fused)


OPTIMIZER_BUILDERS: dict[str, Callable[[list[dict], Recipe, bool], torch.optim.Optimizer]] = {
    "sgd": _sgd, "adamw": _adamw,
}


def build_optimizer(model: nn.Module, recipe: Recipe,
                    regroup: Callable[[list[dict]], list[dict]] | None = None
                    ) -> torch.optim.Optimizer:
    """On a GPU the optimizer is torch's fused one: one kernel updates every parameter.
    ``regroup`` splits the parameter groups further (learning-rate groups, LR_SCALE)."""
    groups = parameter_groups(model, recipe.weight_decay, recipe.no_decay_on_norm_and_bias)
    if regroup is not None:
        groups = regroup(groups)
    fused = next(model.parameters()).device.type == "cuda"
    return OPTIMIZER_BUILDERS[recipe.optimizer](groups, recipe, fused)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get(LR_SCALE, 1.0)


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Load a saved optimizer state but keep the implementation chosen for this device (fused
    or not): a run may resume on another device than it started on, and a loaded state would
    otherwise bring the old device's choice with it."""
    chosen = [{key: group[key] for key in ("fused", "foreach") if key in group}
              for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, values in zip(optimizer.param_groups, chosen):
        group.update(values)
