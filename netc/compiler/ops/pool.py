"""Pooling: windowed, global and adaptive."""
from __future__ import annotations

from ...spec.errors import ShapeError
from . import OpDef, register, spatial
from .conv import explicit_padding, pair, window_shape
from .attr_types import FLAG, PAIR as PAIR_T, SIDES, Ints
from .schema_types import BOOL, PADDING, PAIR


def _window_resolve(op):
    def resolve(args, in_shapes):
        c, h, w = spatial(in_shapes[0], op)
        kernel = pair(args["kernel"])
        stride = pair(args["stride"]) if args.get("stride") is not None else kernel
        padding = explicit_padding(args["pad"], (h, w), kernel, stride, [1, 1])
        if max(padding[0:2]) * 2 > kernel[0] or max(padding[2:4]) * 2 > kernel[1]:
            raise ShapeError(f"{op}: padding {padding} is more than half the kernel {kernel}")
        attrs = {"kernel": kernel, "stride": stride, "padding": padding, "dilation": [1, 1],
                 "ceil_mode": args["ceil_mode"]}
        if op == "avgpool":
            attrs["count_include_pad"] = args["count_include_pad"]
        return attrs
    return resolve


def _window_infer(op):
    def infer(attrs, in_shapes):
        c, h, w = spatial(in_shapes[0], op)
        return window_shape(attrs, c, h, w, op, ceil=attrs["ceil_mode"])
    return infer


WINDOW_ARGS = {"kernel": PAIR, "stride": PAIR, "pad": PADDING, "ceil_mode": BOOL}
WINDOW_ATTRS = {"kernel": PAIR_T, "stride": PAIR_T, "padding": SIDES, "dilation": Ints(2, 1, 1),
                "ceil_mode": FLAG}
for _op, _extra, _doc in (("maxpool", {}, "max pooling (padding counts as -inf)"),
                          ("avgpool", {"count_include_pad": BOOL}, "average pooling")):
    register(OpDef(
        _op, doc=_doc, args={**WINDOW_ARGS, **_extra}, required=("kernel",),
        attrs={**WINDOW_ATTRS, **({"count_include_pad": FLAG} if _extra else {})},
        defaults={"stride": None, "pad": 0, "ceil_mode": False,
                  **({"count_include_pad": True} if _extra else {})},
        resolve=_window_resolve(_op), infer=_window_infer(_op)))

for _op in ("global_avgpool", "global_maxpool"):
    register(OpDef(
        _op, doc="pool each channel to one value; the output is flat (C,)", args={},
        resolve=lambda a, s, _op=_op: (spatial(s[0], _op), {})[1],
        infer=lambda a, s: [s[0][0]]))


def _adaptive_resolve(args, in_shapes):
    c, h, w = spatial(in_shapes[0], "adaptive_avgpool")
    return {"output_size": pair(args["out"])}


register(OpDef(
    "adaptive_avgpool", doc="average pooling to a fixed output size (torchvision's AlexNet, VGG)",
    args={"out": PAIR}, required=("out",), resolve=_adaptive_resolve,
    attrs={"output_size": PAIR_T},
    infer=lambda a, s: [s[0][0], *a["output_size"]]))
