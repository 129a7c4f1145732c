"""Depthwise separable convolution (Chollet 2017, Xception section 2): each input channel
convolved with its own k x k kernel (the depthwise step, a depth multiplier of 1), then a 1x1
convolution across channels (the pointwise step), with no activation between them.

One node, as Keras's SeparableConv2D is one layer. Its parameters are the two convolutions'
weights in torch's layout, keyed as a PyTorch module holding two nn.Conv2d keys them
(`depthwise.weight` C x 1 x kH x kW, `pointwise.weight` out x C x 1 x 1), and the pointwise
step's bias when `bias` is true (Keras adds its bias after the pointwise step).

Each starts from its own initialiser, as Keras's layer takes one for each (depthwise_initializer,
pointwise_initializer, bias_initializer): `init` for the depthwise kernel, `pointwise_init`,
`bias_init`. `default` is the framework's own (Keras: Glorot uniform kernels, each counting its
fans as Keras does, and a zero bias; torch: nn.Conv2d's). A Keras spec whose reference keeps
Keras's defaults starts from them on torch as well when it declares them:
`{kind: variance_scaling, scale: 1.0, mode: fan_avg, distribution: uniform}` and `{kind: zeros}`.
"""
from __future__ import annotations

from ...spec.errors import ShapeError
from . import OpDef, register, spatial
from .attr_types import CHANNELS, FLAG, PAIR as PAIR_T, SIDES
from .conv import explicit_padding, pair, window_shape
from .initializers import DEFAULT, INIT, INIT_ARG, INIT_ATTRS, resolve_inits
from .schema_types import BOOL, CHANNELS_ARG, PADDING, PAIR

OP = "separable_conv2d"


def _resolve(args, in_shapes):
    c, h, w = spatial(in_shapes[0], OP)
    kernel, stride, dilation = pair(args["kernel"]), pair(args["stride"]), pair(args["dilation"])
    return {"in_channels": c, "out_channels": args["out"], "kernel": kernel, "stride": stride,
            "padding": explicit_padding(args["pad"], (h, w), kernel, stride, dilation),
            "dilation": dilation, "bias": args["bias"],
            **resolve_inits(args, OP, kernels=("init", "pointwise_init"))}


def _infer(attrs, in_shapes):
    c, h, w = spatial(in_shapes[0], OP)
    if c != attrs["in_channels"]:
        raise ShapeError(f"{OP} is made for {attrs['in_channels']} input channels, got {c}")
    return window_shape(attrs, attrs["out_channels"], h, w, OP)


def _params(attrs, in_shapes):
    c, o = attrs["in_channels"], attrs["out_channels"]
    params = [("depthwise.weight", [c, 1, *attrs["kernel"]], "weight"),
              ("pointwise.weight", [o, c, 1, 1], "weight")]
    return params + ([("pointwise.bias", [o], "bias")] if attrs["bias"] else [])


def _macs(attrs, in_shapes, out):
    kh, kw = attrs["kernel"]
    # per output position: C depthwise sums of kH x kW terms, then out sums of C terms
    return out[1] * out[2] * attrs["in_channels"] * (kh * kw + attrs["out_channels"])


register(OpDef(
    OP, doc="depthwise separable convolution: a k x k convolution per channel, then a 1x1 "
            "convolution to `out` channels (Keras's SeparableConv2D); bias on the pointwise step",
    args={"out": CHANNELS_ARG, "kernel": PAIR, "stride": PAIR, "pad": PADDING, "dilation": PAIR,
          "bias": BOOL, "init": INIT_ARG, "pointwise_init": INIT_ARG, "bias_init": INIT_ARG},
    attrs={"in_channels": CHANNELS, "out_channels": CHANNELS, "kernel": PAIR_T, "stride": PAIR_T,
           "padding": SIDES, "dilation": PAIR_T, "bias": FLAG, **INIT_ATTRS,
           "pointwise_init": INIT},
    required=("out", "kernel"),
    defaults={"stride": 1, "pad": 0, "dilation": 1, "bias": False, "init": DEFAULT,
              "pointwise_init": DEFAULT, "bias_init": DEFAULT},
    resolve=_resolve, infer=_infer, params=_params, macs=_macs))
