"""Transposed convolution (the "up-convolution" of U-Net and FCN's learned upsampling).

The IR follows torch's ConvTranspose2d: `padding` removes that many rows and columns from each
side of the full output, `output_padding` adds rows and columns at the bottom and right, and the
weight is laid out (in, out, kH, kW). Output size: (n - 1) * stride - 2 * padding + kernel +
output_padding.
"""
from __future__ import annotations

from ...spec.errors import ShapeError
from . import OpDef, register, spatial
from .attr_types import CHANNELS, FLAG, MAX_PAD, MAX_WINDOW, PAIR as PAIR_T, Ints
from .conv import pair
from .schema_types import BOOL, CHANNELS_ARG, PAIR, either

_SIDE = either({"type": "integer", "minimum": 0, "maximum": MAX_PAD})
_TWO = either({"type": "integer", "minimum": 0, "maximum": MAX_PAD},
              {"type": "array", "items": _SIDE, "minItems": 2, "maxItems": 2,
               "description": "a list of 2 values [vertical, horizontal]"})


def _resolve(args, in_shapes):
    c, _, _ = spatial(in_shapes[0], "conv_transpose2d")
    stride, out_pad = pair(args["stride"]), pair(args["output_pad"])
    for extra, s in zip(out_pad, stride):
        if extra >= s:
            raise ShapeError(f"conv_transpose2d: output_pad {out_pad} must be smaller than the "
                             f"stride {stride}", hint="output_pad only picks among the output "
                             "sizes a stride makes; each is below the stride")
    return {"in_channels": c, "out_channels": args["out"], "kernel": pair(args["kernel"]),
            "stride": stride, "padding": pair(args["pad"]), "output_padding": out_pad,
            "bias": args["bias"]}


def _infer(attrs, in_shapes):
    c, h, w = spatial(in_shapes[0], "conv_transpose2d")
    out = []
    for n, k, s, p, extra in zip((h, w), attrs["kernel"], attrs["stride"], attrs["padding"],
                                 attrs["output_padding"]):
        size = (n - 1) * s - 2 * p + k + extra
        if size < 1:
            raise ShapeError(f"conv_transpose2d: padding {p} leaves no output from an input of "
                             f"size {n} (kernel {k}, stride {s})")
        out.append(size)
    return [attrs["out_channels"], *out]


def _params(attrs, in_shapes):
    weight = [("weight", [attrs["in_channels"], attrs["out_channels"], *attrs["kernel"]], "weight")]
    return weight + ([("bias", [attrs["out_channels"]], "bias")] if attrs["bias"] else [])


def _macs(attrs, in_shapes, out):
    # every input value meets every kernel tap of every output channel once
    _, h, w = in_shapes[0]
    kh, kw = attrs["kernel"]
    return h * w * attrs["in_channels"] * attrs["out_channels"] * kh * kw


register(OpDef(
    "conv_transpose2d",
    doc="transposed convolution (U-Net's up-convolution); pad crops each side of the full "
        "output, output_pad adds rows and columns at the bottom and right",
    args={"out": CHANNELS_ARG, "kernel": PAIR, "stride": PAIR, "pad": _TWO, "output_pad": _TWO,
          "bias": BOOL},
    attrs={"in_channels": CHANNELS, "out_channels": CHANNELS, "kernel": PAIR_T, "stride": PAIR_T,
           "padding": Ints(2, 0, MAX_PAD), "output_padding": Ints(2, 0, MAX_WINDOW - 1),
           "bias": FLAG},
    required=("out", "kernel"), defaults={"stride": 1, "pad": 0, "output_pad": 0, "bias": True},
    resolve=_resolve, infer=_infer, params=_params, macs=_macs))
