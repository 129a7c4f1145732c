"""Shape-moving and regularising ops: flatten, dropout, padding, shortcuts and drop-path."""
from __future__ import annotations

import math

from ...spec.errors import ShapeError
from . import OpDef, register, spatial
from .attr_types import MAX_WINDOW, PROBABILITY, SIDES as SIDES_T, Enum, Float, Int
from .schema_types import CHANNELS_ARG, PROB, SIDES, either


def _flatten_infer(attrs, in_shapes):
    n = 1
    for d in in_shapes[0]:
        n *= d
    return [n]


def _flatten_resolve(args, in_shapes):
    if args["order"] == "channels_last":  # only a map has an H, W, C order to speak of
        spatial(in_shapes[0], "flatten with order: channels_last")
    return {"order": args["order"]}


# The order decides which row of the next linear layer's weight meets which value: torch's
# nn.Flatten takes C, H, W (channels_first); Keras's Flatten on its N, H, W, C tensors takes
# H, W, C (channels_last), so keras.applications' VGG16 fc1 expects that order.
FLATTEN_ORDERS = ("channels_first", "channels_last")
register(OpDef("flatten", args={"order": {"enum": list(FLATTEN_ORDERS)}},
               defaults={"order": "channels_first"}, attrs={"order": Enum(FLATTEN_ORDERS)},
               resolve=_flatten_resolve, infer=_flatten_infer,
               doc="flatten C x H x W to one vector, in C, H, W order (order: channels_first, "
                   "torch's) or H, W, C (order: channels_last, Keras's)"))
register(OpDef("dropout", args={"p": PROB}, defaults={"p": 0.5}, attrs={"p": PROBABILITY},
               resolve=lambda a, s: {"p": float(a["p"])}, infer=lambda a, s: list(s[0]),
               doc="dropout with drop probability p"))


def _pad_resolve(args, in_shapes):
    spatial(in_shapes[0], "pad")
    p = args["pad"]
    if isinstance(p, int) or len(p) == 1:
        padding = [p if isinstance(p, int) else p[0]] * 4
    else:
        padding = [p[0], p[0], p[1], p[1]] if len(p) == 2 else list(p)
    return {"padding": padding}


register(OpDef(
    "pad", doc="zero padding [top, bottom, left, right]",
    args={"pad": SIDES}, required=("pad",), resolve=_pad_resolve, attrs={"padding": SIDES_T},
    infer=lambda a, s: [s[0][0], s[0][1] + sum(a["padding"][:2]), s[0][2] + sum(a["padding"][2:])]))


def _crop_edges_resolve(args, in_shapes):
    _, h, w = spatial(in_shapes[0], "crop_edges")
    cropping = _pad_resolve({"pad": args["crop"]}, in_shapes)["padding"]
    if sum(cropping[:2]) >= h or sum(cropping[2:]) >= w:
        raise ShapeError(f"crop_edges cannot remove {cropping} (top, bottom, left, right) from a "
                         f"{h}x{w} map", hint="leave at least one row and one column")
    return {"cropping": cropping}


# Keras's Cropping2D; NASNet's `_adjust_block` pads a row and a column at the end and crops one
# at the start, to subsample the map shifted by one pixel (Zoph et al. 2018, factorized reduction).
register(OpDef(
    "crop_edges", doc="remove rows and columns [top, bottom, left, right] (Keras's Cropping2D)",
    args={"crop": SIDES}, required=("crop",), resolve=_crop_edges_resolve,
    attrs={"cropping": SIDES_T},
    infer=lambda a, s: [s[0][0], s[0][1] - sum(a["cropping"][:2]),
                        s[0][2] - sum(a["cropping"][2:])]))


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
    args={"out": CHANNELS_ARG, "stride": either({"type": "integer", "minimum": 1,
                                                 "maximum": MAX_WINDOW})},
    required=("out",), defaults={"stride": 1},
    attrs={"stride": Int(1, MAX_WINDOW), "before": Int(0), "after": Int(0)},
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
    defaults={"scale": "test"}, resolve=_drop_path_resolve, infer=lambda a, s: list(s[0]),
    attrs={"p": Float(0.0, 1.0, hi_open=True), "scale": Enum(("test", "train"))}))
