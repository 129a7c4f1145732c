"""Convolution, linear and batch norm: the ops that own weights."""
from __future__ import annotations

import math

from ...spec.errors import ShapeError
from . import OpDef, fmt, register, spatial
from .attr_types import CHANNELS, FLAG, PAIR as PAIR_T, PROBABILITY, SIDES, Float
from .initializers import DEFAULT, INIT_ARGS, INIT_ATTRS, resolve_inits
from .schema_types import BOOL, CHANNELS_ARG, EPS, MOMENTUM, PADDING, PAIR


def pair(value) -> list[int]:
    return [value, value] if isinstance(value, int) else list(value)


def explicit_padding(pad, size, kernel, stride, dilation) -> list[int]:
    """[top, bottom, left, right]. "same" is TensorFlow's rule: any odd extra goes bottom/right."""
    if pad == "valid":
        return [0, 0, 0, 0]
    if pad == "same":
        out = []
        for n, k, s, d in zip(size, kernel, stride, dilation):
            total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
            out += [total // 2, total - total // 2]
        return out
    if isinstance(pad, int):
        return [pad] * 4
    return [pad[0], pad[0], pad[1], pad[1]] if len(pad) == 2 else list(pad)


def window_out(n: int, pad: tuple[int, int], k: int, s: int, d: int, what: str, ceil=False) -> int:
    span = n + pad[0] + pad[1] - d * (k - 1) - 1
    if span < 0:
        raise ShapeError(f"{what}: kernel {k} (dilation {d}) does not fit an input of size {n} "
                         f"padded by {pad[0]}+{pad[1]}")
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + pad[0]:
        out -= 1  # torch: the last window must start inside the input or its left padding
    return out


def window_shape(attrs, c, h, w, what, ceil=False):
    p = attrs["padding"]
    (kh, kw), (sh, sw), (dh, dw) = attrs["kernel"], attrs["stride"], attrs["dilation"]
    return [c, window_out(h, p[0:2], kh, sh, dh, what, ceil), window_out(w, p[2:4], kw, sw, dw, what, ceil)]


def _conv_resolve(args, in_shapes):
    c, h, w = spatial(in_shapes[0], "conv2d")
    kernel, stride, dilation = pair(args["kernel"]), pair(args["stride"]), pair(args["dilation"])
    groups = args["groups"]
    if c % groups or args["out"] % groups:
        raise ShapeError(f"conv2d: groups={groups} must divide both input channels ({c}) "
                         f"and output channels ({args['out']})")
    return {"in_channels": c, "out_channels": args["out"], "kernel": kernel, "stride": stride,
            "padding": explicit_padding(args["pad"], (h, w), kernel, stride, dilation),
            "dilation": dilation, "groups": groups, "bias": args["bias"],
            "depthwise_layer": args["depthwise_layer"] and 1 < groups == c,
            **resolve_inits(args, "conv2d")}


def _conv_infer(attrs, in_shapes):
    _, h, w = spatial(in_shapes[0], "conv2d")
    return window_shape(attrs, attrs["out_channels"], h, w, "conv2d")


def _conv_params(attrs, in_shapes):
    o, i, g = attrs["out_channels"], attrs["in_channels"], attrs["groups"]
    params = [("weight", [o, i // g, *attrs["kernel"]], "weight")]
    return params + ([("bias", [o], "bias")] if attrs["bias"] else [])


def _conv_macs(attrs, in_shapes, out):
    kh, kw = attrs["kernel"]
    return out[0] * out[1] * out[2] * (attrs["in_channels"] // attrs["groups"]) * kh * kw




register(OpDef(
    "conv2d",
    doc="2-D convolution; `groups: ${in.channels}` makes it depthwise. A depthwise convolution "
        "is written as the framework's depthwise layer where it has one (Keras DepthwiseConv2D, "
        "kernel kh x kw x C x M); `depthwise_layer: false` writes it as a grouped convolution "
        "instead (Keras Conv2D(groups=C), kernel kh x kw x 1 x C*M, as keras.applications' "
        "ConvNeXt builds it). Both compute the same; weight files hold the two kernels in "
        "different shapes. PyTorch has one layer for both",
    args={"out": CHANNELS_ARG, "kernel": PAIR, "stride": PAIR, "pad": PADDING, "dilation": PAIR,
          "groups": CHANNELS_ARG, "bias": BOOL, "depthwise_layer": BOOL, **INIT_ARGS},
    attrs={"in_channels": CHANNELS, "out_channels": CHANNELS, "kernel": PAIR_T, "stride": PAIR_T,
           "padding": SIDES, "dilation": PAIR_T, "groups": CHANNELS, "bias": FLAG,
           "depthwise_layer": FLAG, **INIT_ATTRS},
    required=("out", "kernel"),
    defaults={"stride": 1, "pad": 0, "dilation": 1, "groups": 1, "bias": True,
              "depthwise_layer": True, "init": DEFAULT, "bias_init": DEFAULT},
    resolve=_conv_resolve, infer=_conv_infer, params=_conv_params, macs=_conv_macs))


def _linear_resolve(args, in_shapes):
    if len(in_shapes[0]) not in (1, 2):  # a vector, or each token of a sequence (tokens.py)
        raise ShapeError(f"linear needs a flat input, got {fmt(in_shapes[0])}",
                         hint="put 'flatten' or 'global_avgpool' before it")
    return {"in_features": in_shapes[0][-1], "out_features": args["out"], "bias": args["bias"],
            **resolve_inits(args, "linear")}


register(OpDef(
    "linear", doc="fully connected layer",
    args={"out": CHANNELS_ARG, "bias": BOOL, **INIT_ARGS}, required=("out",),
    defaults={"bias": True, "init": DEFAULT, "bias_init": DEFAULT},
    attrs={"in_features": CHANNELS, "out_features": CHANNELS, "bias": FLAG, **INIT_ATTRS},
    resolve=_linear_resolve,
    infer=lambda a, s: [*s[0][:-1], a["out_features"]],
    params=lambda a, s: [("weight", [a["out_features"], a["in_features"]], "weight")]
    + ([("bias", [a["out_features"]], "bias")] if a["bias"] else []),
    macs=lambda a, s, o: (s[0][0] if len(s[0]) == 2 else 1) * a["in_features"] * a["out_features"]))


def _bn_params(attrs, in_shapes):
    c = attrs["num_features"]
    affine = [("weight", [c], "norm-affine")] if attrs["scale"] else []
    affine += [("bias", [c], "norm-affine")] if attrs["center"] else []
    return affine + [("running_mean", [c], "norm-statistic"), ("running_var", [c], "norm-statistic")]


register(OpDef(
    "batchnorm",
    doc="batch normalisation over channels; momentum in torch's convention (0.1 == Keras 0.9)",
    args={"eps": EPS, "momentum": MOMENTUM, "scale": BOOL, "center": BOOL, **INIT_ARGS},
    attrs={"num_features": CHANNELS, "eps": Float(0.0, 1.0, lo_open=True), "momentum": PROBABILITY,
           "scale": FLAG, "center": FLAG, **INIT_ATTRS},
    defaults={"eps": 1e-5, "momentum": 0.1, "scale": True, "center": True,
              "init": {"kind": "ones"}, "bias_init": {"kind": "zeros"}},  # torch's and Keras's
    resolve=lambda a, s: {"num_features": s[0][0], "eps": float(a["eps"]),
                          "momentum": float(a["momentum"]), "scale": a["scale"], "center": a["center"],
                          **resolve_inits(a, "batchnorm", kernels=(),
                                          others=("init", "bias_init"))},
    infer=lambda a, s: list(s[0]), params=_bn_params))
