"""Shape-moving and regularising ops: flatten, dropout, padding, shortcuts and drop-path."""
from __future__ import annotations

import math

from ...spec.errors import ShapeError
from . import OpDef, register, spatial
from .schema_types import NONNEG_INT, POS_INT, PROB, either


def _flatten_infer(attrs, in_shapes):
    n = 1
    for d in in_shapes[0]:
        n *= d
    return [n]


register(OpDef("flatten", args={}, resolve=lambda a, s: {}, infer=_flatten_infer,
               doc="flatten C x H x W to C*H*W in channels-first order"))
register(OpDef("dropout", args={"p": PROB}, defaults={"p": 0.5},
               resolve=lambda a, s: {"p": float(a["p"])}, infer=lambda a, s: list(s[0]),
               doc="dropout with drop probability p"))


def _pad_resolve(args, in_shapes):
    spatial(in_shapes[0], "pad")
    p = args["pad"]
    padding = [p] * 4 if isinstance(p, int) else (
        [p[0], p[0], p[1], p[1]] if len(p) == 2 else list(p))
    return {"padding": padding}


register(OpDef(
    "pad", doc="zero padding [top, bottom, left, right]",
    args={"pad": either({"type": "integer", "minimum": 0},
                        {"type": "array", "items": NONNEG_INT, "minItems": 2, "maxItems": 4})},
    required=("pad",), resolve=_pad_resolve,
    infer=lambda a, s: [s[0][0], s[0][1] + sum(a["padding"][:2]), s[0][2] + sum(a["padding"][2:])]))


def _channel_pad_resolve(args, in_shapes):
    c, h, w = spatial(in_shapes[0], "channel_pad")
    extra = args["out"] - c
    if extra < 0:
        raise ShapeError(f"channel_pad cannot shrink {c} channels to {args['out']}")
    # He et al. 2016 option A; split as the common CIFAR reference does (half before, half after).
    return {"stride": args["stride"], "before": extra // 2, "after": extra - extra // 2}


register(OpDef(
    "channel_pad",
    doc="zero-padding shortcut (He et al. 2016, option A): subsample by stride, pad channels with zeros",
    args={"out": POS_INT, "stride": POS_INT}, required=("out",), defaults={"stride": 1},
    resolve=_channel_pad_resolve,
    infer=lambda a, s: [s[0][0] + a["before"] + a["after"],
                        math.ceil(s[0][1] / a["stride"]), math.ceil(s[0][2] / a["stride"])]))


def _drop_path_resolve(args, in_shapes):
    if not 0 <= args["p"] < 1:
        raise ShapeError(f"drop_path: p={args['p']} must be in [0, 1)")
    return {"p": float(args["p"]), "scale": args["scale"]}


register(OpDef(
    "drop_path",
    doc="stochastic depth: drop the whole residual branch per sample with probability p in "
        "training; scale: 'test' multiplies by 1-p at test time (Huang et al. 2016), "
        "'train' divides by 1-p in training",
    args={"p": PROB, "scale": {"enum": ["test", "train"]}}, required=("p",),
    defaults={"scale": "test"}, resolve=_drop_path_resolve, infer=lambda a, s: list(s[0])))
