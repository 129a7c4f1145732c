"""Element-wise activations: no parameters, shape unchanged."""
from __future__ import annotations

from . import OpDef, register
from .attr_types import FINITE
from .schema_types import NUMBER


def _same(attrs, in_shapes):
    return list(in_shapes[0])


for _name in ("relu", "relu6", "sigmoid", "tanh", "gelu", "silu", "hardswish", "softmax",
              "identity"):
    register(OpDef(_name, args={}, resolve=lambda a, s: {}, infer=_same, doc=f"{_name}, element-wise"))

register(OpDef("leaky_relu", args={"slope": NUMBER}, defaults={"slope": 0.01},
               resolve=lambda a, s: {"slope": float(a["slope"])}, infer=_same,
               attrs={"slope": FINITE},
               doc="leaky ReLU with negative slope"))
