"""Ops that move channels: the split and shuffle of ShuffleNetV2 (Ma et al. 2018, section 3,
"channel split" and Figure 3), as torchvision's `x.chunk(2, dim=1)` and `channel_shuffle`."""
from __future__ import annotations

from ...spec.errors import ShapeError
from . import OpDef, register, spatial
from .attr_types import Int
from .schema_types import CHANNELS_ARG, NONNEG_INT


def _split_resolve(args, in_shapes):
    c, _, _ = spatial(in_shapes[0], "channel_split")
    parts, index = args["parts"], args["index"]
    if c % parts:
        raise ShapeError(f"channel_split: {parts} parts must divide the {c} input channels")
    if index >= parts:
        raise ShapeError(f"channel_split: index {index} names no part of {parts} "
                         f"(0 to {parts - 1})")
    size = c // parts
    return {"start": index * size, "stop": (index + 1) * size}


def _split_infer(attrs, in_shapes):
    c, h, w = spatial(in_shapes[0], "channel_split")
    if not 0 <= attrs["start"] < attrs["stop"] <= c:
        raise ShapeError(f"channel_split: channels {attrs['start']}..{attrs['stop']} are not "
                         f"within the {c} input channels")
    return [attrs["stop"] - attrs["start"], h, w]


register(OpDef(
    "channel_split",
    doc="part `index` of `parts` equal parts of the channels (torch.chunk along channels)",
    args={"parts": CHANNELS_ARG, "index": NONNEG_INT}, required=("index",),
    defaults={"parts": 2}, attrs={"start": Int(0), "stop": Int(1)},
    resolve=_split_resolve, infer=_split_infer))


def _shuffle_infer(attrs, in_shapes):
    c, h, w = spatial(in_shapes[0], "channel_shuffle")
    if c % attrs["groups"]:
        raise ShapeError(f"channel_shuffle: {attrs['groups']} groups must divide the {c} channels")
    return [c, h, w]


register(OpDef(
    "channel_shuffle",
    doc="interleave `groups` groups of channels: channel g * (C / groups) + k moves to "
        "k * groups + g (ShuffleNet's channel shuffle)",
    args={"groups": CHANNELS_ARG}, required=("groups",), attrs={"groups": Int(1)},
    resolve=lambda a, s: {"groups": a["groups"]}, infer=_shuffle_infer))
