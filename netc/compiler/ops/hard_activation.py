"""Hard (piecewise-linear) activations of MobileNetV3 (Howard et al. 2019, section 5.2):
h-sigmoid(x) = ReLU6(x + 3) / 6. h-swish (x * h-sigmoid(x)) is registered with the other
activations."""
from __future__ import annotations

from . import OpDef, register

register(OpDef("hardsigmoid", args={}, resolve=lambda a, s: {}, infer=lambda a, s: list(s[0]),
               doc="hard sigmoid, relu6(x + 3) / 6, element-wise (MobileNetV3's SE gate)"))
