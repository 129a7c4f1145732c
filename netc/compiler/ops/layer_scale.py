"""Layer scale (Touvron et al. 2021, CaiT section 2.1; ConvNeXt): multiply each channel of a
residual branch by a learned factor, initialised to a small constant."""
from __future__ import annotations

from ...spec.errors import ShapeError
from . import OpDef, register, spatial
from .attr_types import CHANNELS, FINITE
from .schema_types import NUMBER


def _resolve(args, in_shapes):
    c, _, _ = spatial(in_shapes[0], "layer_scale")
    return {"channels": c, "init": float(args["init"])}


def _infer(attrs, in_shapes):
    c, h, w = spatial(in_shapes[0], "layer_scale")
    if c != attrs["channels"]:
        raise ShapeError(f"layer_scale holds {attrs['channels']} factors for {c} channels")
    return [c, h, w]


register(OpDef(
    "layer_scale",
    doc="multiply each channel of a C x H x W map by a learned factor (held C x 1 x 1, as "
        "torchvision's ConvNeXt holds it), initialised to `init`",
    args={"init": NUMBER}, defaults={"init": 1e-6},
    attrs={"channels": CHANNELS, "init": FINITE}, resolve=_resolve,
    # a parameter node: its weight key is its own name (torchvision's `features.1.0.layer_scale`)
    infer=_infer, params=lambda a, s: [("", [a["channels"], 1, 1], "weight")]))
