"""Multiplication by a constant: the residual scaling of Inception-ResNet (Szegedy et al. 2017,
section 3.3: "scaling down the residuals before adding them to the previous layer activation")."""
from __future__ import annotations

from . import OpDef, register
from .attr_types import FINITE
from .schema_types import NUMBER

register(OpDef(
    "scale", doc="multiply by a constant factor (Inception-ResNet's residual scaling)",
    args={"factor": NUMBER}, required=("factor",), attrs={"factor": FINITE},
    resolve=lambda a, s: {"factor": float(a["factor"])}, infer=lambda a, s: list(s[0])))
