"""Stochastic depth as torchvision names it (`torchvision.ops.StochasticDepth`, Huang et al.
2016): in training, zero the input of each sample ('row') or of the whole batch ('batch') with
probability p and divide what is kept by 1 - p; at test time the identity. ('drop_path' keeps the
paper's test-time scaling as an option; this op is torchvision's, used by EfficientNet and
ConvNeXt.)"""
from __future__ import annotations

from . import OpDef, register
from .attr_types import PROBABILITY, Enum
from .schema_types import PROB

register(OpDef(
    "stochastic_depth",
    doc="torchvision's StochasticDepth: in training, zero each sample ('row') or the batch "
        "('batch') with probability p and divide the rest by 1 - p; identity at test time",
    args={"p": PROB, "mode": {"enum": ["row", "batch"]}}, required=("p",),
    defaults={"mode": "row"}, attrs={"p": PROBABILITY, "mode": Enum(("row", "batch"))},
    resolve=lambda a, s: {"p": float(a["p"]), "mode": a["mode"]}, infer=lambda a, s: list(s[0])))
