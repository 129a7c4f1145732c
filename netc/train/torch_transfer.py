"""Fine-tuning on torch: frozen nodes and per-group learning rates, by IR node name.

A frozen node's parameters take no gradient, and a frozen batch norm runs in inference mode even
while the network trains, so its running statistics stay exactly as loaded (the torchvision
fine-tuning recipe; Keras does the same for a BatchNormalization with trainable=False). Frozen
parameters stay in the optimizer: a parameter without a gradient is not updated, and unfreezing
at a later epoch changes no optimizer structure, so checkpoints keep one layout.
"""
from __future__ import annotations

import fnmatch

from torch import nn

from netc.compiler.ir import Graph
from netc.train.torch_optim import LR_SCALE


def _module(model: nn.Module, name: str) -> nn.Module:
    return model.get_submodule(name)  # the emitters keep module paths equal to IR names


def _force_eval(module: nn.Module, args) -> None:
    module.train(False)


class Frozen:
    """Nodes held fixed in a live model until `release`."""

    def __init__(self, model: nn.Module, names: list[str]):
        self.modules = [_module(model, n) for n in names]
        self.hooks = []
        for module in self.modules:
            for parameter in module.parameters(recurse=False):
                parameter.requires_grad_(False)
            if isinstance(module, nn.modules.batchnorm._NormBase):
                self.hooks.append(module.register_forward_pre_hook(_force_eval))

    def release(self) -> None:
        for hook in self.hooks:
            hook.remove()
        self.hooks = []
        for module in self.modules:
            for parameter in module.parameters(recurse=False):
                parameter.requires_grad_(True)


def scale_groups(groups: list[dict], model: nn.Module, graph: Graph,
                 factors: list[tuple[str, float]]) -> list[dict]:
    """Split optimizer groups so that each node matching a glob (the first that matches) gets its
    factor of the learning rate; every group carries its factor under LR_SCALE."""
    factor_of = {}
    for node in graph.nodes:
        if not node.params:
            continue
        scopes = [".".join(node.name.split(".")[:i]) for i in range(1, node.name.count(".") + 2)]
        for glob, factor in factors:
            if any(fnmatch.fnmatchcase(s, glob) for s in scopes):
                for parameter in _module(model, node.name).parameters(recurse=False):
                    factor_of[id(parameter)] = factor
                break
    out = []
    for group in groups:
        by_factor: dict[float, list] = {}
        for parameter in group["params"]:
            by_factor.setdefault(factor_of.get(id(parameter), 1.0), []).append(parameter)
        for factor, params in by_factor.items():
            out.append({**group, "params": params, LR_SCALE: factor})
    return out
