"""Layer normalisation over the channels of each position (Ba et al. 2016), as ConvNeXt uses it
(Liu et al. 2022): torchvision's LayerNorm2d on a C x H x W map, nn.LayerNorm over the last
dimension of a flat (F,) input; and the per-channel linear map of ConvNeXt's inverted bottleneck,
which torchvision writes as nn.Linear on a channels-last view, so it takes `init` and `bias_init`
as `linear` does (initializers.py): ConvNeXt's and Swin's builders draw every nn.Linear from a
truncated normal. torch's LayerNorm and Keras's LayerNormalization both start at ones and zeros,
and no reference changes that, so layer norm declares no initialiser."""
from __future__ import annotations

from ...spec.errors import ShapeError
from . import OpDef, fmt, register
from .attr_types import CHANNELS, FLAG, Float
from .initializers import DEFAULT, INIT_ARGS, INIT_ATTRS, resolve_inits
from .schema_types import BOOL, CHANNELS_ARG, EPS


def channels_of(shape, op: str) -> int:
    if len(shape) not in (1, 2, 3):
        raise ShapeError(f"{op} needs a C x H x W or flat input, got {fmt(shape)}")
    return shape[-1] if len(shape) == 2 else shape[0]  # a token sequence N x D (tokens.py)


def matching(key: str, op: str):
    """The shape rule of a per-channel op: the input's, once its channels match `attrs[key]`."""
    def infer(attrs, in_shapes):
        if channels_of(in_shapes[0], op) != attrs[key]:
            raise ShapeError(f"{op} is made for {attrs[key]} channels, got {fmt(in_shapes[0])}")
        return list(in_shapes[0])
    return infer


def _ln_params(attrs, in_shapes):
    c = attrs["num_features"]
    return ([("weight", [c], "norm-affine")] if attrs["scale"] else []) + \
        ([("bias", [c], "norm-affine")] if attrs["center"] else [])


def _ln_macs(attrs, in_shapes, out):
    # per value: subtract the mean, divide by the deviation, scale, shift (as batch norm counts 0,
    # this counts the normalisation's own arithmetic: a mean and a variance over C per position)
    n = 1
    for d in out:
        n *= d
    return 2 * n


register(OpDef(
    "layernorm",
    doc="layer norm over the channels at each position of a C x H x W map (ConvNeXt's "
        "LayerNorm2d), or over the features of a flat input; biased variance, eps inside the root",
    args={"eps": EPS, "scale": BOOL, "center": BOOL},
    defaults={"eps": 1e-5, "scale": True, "center": True},
    attrs={"num_features": CHANNELS, "eps": Float(0.0, 1.0, lo_open=True), "scale": FLAG,
           "center": FLAG},
    resolve=lambda a, s: {"num_features": channels_of(s[0], "layernorm"), "eps": float(a["eps"]),
                          "scale": a["scale"], "center": a["center"]},
    infer=matching("num_features", "layernorm"), params=_ln_params, macs=_ln_macs))


def _pointwise_resolve(args, in_shapes):
    return {"in_features": channels_of(in_shapes[0], "channel_linear"), "out_features": args["out"],
            "bias": args["bias"], **resolve_inits(args, "channel_linear")}


def _pointwise_macs(attrs, in_shapes, out):
    positions = out[1] * out[2] if len(out) == 3 else 1
    return positions * attrs["in_features"] * attrs["out_features"]


register(OpDef(
    "channel_linear",
    doc="a fully connected layer applied to the channels at each position (weight out x in, as "
        "nn.Linear): ConvNeXt's pointwise layers",
    args={"out": CHANNELS_ARG, "bias": BOOL, **INIT_ARGS}, required=("out",),
    defaults={"bias": True, "init": DEFAULT, "bias_init": DEFAULT},
    attrs={"in_features": CHANNELS, "out_features": CHANNELS, "bias": FLAG, **INIT_ATTRS},
    resolve=_pointwise_resolve,
    infer=lambda a, s: [a["out_features"], *matching("in_features", "channel_linear")(a, s)[1:]],
    params=lambda a, s: [("weight", [a["out_features"], a["in_features"]], "weight")]
    + ([("bias", [a["out_features"]], "bias")] if a["bias"] else []),
    macs=_pointwise_macs))
