"""An exponential moving average of a torch model's parameters (``recipe.ema``), the rule of
Keras's optimizers (``use_ema``) so both trainers keep the same average: after each optimizer
step ``average = decay * average + (1 - decay) * parameter``, and the first step of a run takes
the parameters as they are. Buffers (batch-norm statistics) are not averaged: the averaged model
is scored with the live model's. Its state is the averaged parameters, saved in each checkpoint.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.averages = list(self.model.parameters())

    @torch.no_grad()
    def update(self, model: nn.Module, first: bool = False) -> None:
        """Take one step of ``model``, whose parameters pair with the average's in order."""
        live = [parameter.detach() for parameter in model.parameters()]
        if first:
            torch._foreach_copy_(self.averages, live)
            return
        torch._foreach_mul_(self.averages, self.decay)
        torch._foreach_add_(self.averages, live, alpha=1.0 - self.decay)

    @torch.no_grad()
    def model_with_buffers_of(self, model: nn.Module) -> nn.Module:
        """The averaged model, holding ``model``'s current buffers."""
        for mine, theirs in zip(self.model.buffers(), model.buffers()):
            mine.copy_(theirs)
        return self.model

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: value.detach().clone() for name, value in self.model.named_parameters()}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore averages ``state_dict`` wrote; other names or shapes raise ValueError."""
        mine = dict(self.model.named_parameters())
        if not isinstance(state, dict) or set(state) != set(mine):
            raise ValueError("its parameter names are not this model's")
        for name, parameter in mine.items():
            if not isinstance(state[name], torch.Tensor) or state[name].shape != parameter.shape:
                raise ValueError(f"'{name}' has another shape than this model's")
            parameter.copy_(state[name])
