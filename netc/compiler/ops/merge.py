"""Ops that join several inputs: add, concat, mul and the Highway gate."""
from __future__ import annotations

from ...spec.errors import ShapeError
from . import OpDef, fmt, register
from .attr_types import Enum


def _equal(op):
    def infer(attrs, in_shapes):
        first = in_shapes[0]
        if any(s != first for s in in_shapes[1:]):
            raise ShapeError(f"{op} needs equal shapes, got {' and '.join(fmt(s) for s in in_shapes)}")
        return list(first)
    return infer


def _concat_infer(attrs, in_shapes):
    rest = {tuple(s[1:]) for s in in_shapes}
    if len(rest) > 1 or len({len(s) for s in in_shapes}) > 1:
        raise ShapeError("concat needs equal spatial sizes, got "
                         + " and ".join(fmt(s) for s in in_shapes))
    return [sum(s[0] for s in in_shapes), *in_shapes[0][1:]]


def _mul_infer(attrs, in_shapes):
    a, b = in_shapes
    gate_ok = len(a) == len(b) and a[0] == b[0] and all(d == 1 for d in b[1:])
    if a != b and not gate_ok:
        raise ShapeError(f"mul needs equal shapes or a C x 1 x 1 gate, got {fmt(a)} and {fmt(b)}")
    return list(a)


register(OpDef("add", args={}, resolve=lambda a, s: {}, infer=_equal("add"), arity=None,
               doc="element-wise sum of two or more inputs"))
register(OpDef("concat", args={}, resolve=lambda a, s: {"axis": 0}, infer=_concat_infer, arity=None,
               attrs={"axis": Enum((0,))},
               doc="concatenation along channels"))
register(OpDef("mul", args={}, resolve=lambda a, s: {}, infer=_mul_infer, arity=2,
               doc="element-wise product (the second input may be a C x 1 x 1 gate)"))
register(OpDef("gated_sum", args={}, resolve=lambda a, s: {}, infer=_equal("highway gate"), arity=3,
               doc="Highway: h * t + x * (1 - t) for inputs (h, t, x)"))
