"""Changing a map's spatial size without weights: upsampling by a whole factor, resizing to the
size of another node (torchvision's segmentation heads: F.interpolate(x, size=...)), and centre
cropping to the size of another node (U-Net's skip connections, Ronneberger et al. 2015, Fig. 1).

Interpolation follows torch's F.interpolate: `nearest` takes the source pixel floor(i * in / out);
`bilinear` maps output pixel i to (i + 0.5) * in / out - 0.5 with align_corners false, and to
i * (in - 1) / (out - 1) with it true. align_corners is always explicit for bilinear and refused
for nearest, where torch does not take it. None of them multiply-adds: 0 MACs, as pooling.
"""
from __future__ import annotations

from ...spec.errors import ShapeError
from . import OpDef, fmt, register, spatial
from .attr_types import FLAG, MAX_SPATIAL, PAIR as PAIR_T, Enum, Ints
from .conv import pair
from .schema_types import BOOL, PAIR

MODES = ("nearest", "bilinear")
_MODE_ARG = {"enum": list(MODES)}
_INTERPOLATION = {"mode": Enum(MODES), "align_corners": FLAG}


def _interpolation(args, op):
    if args["mode"] == "nearest" and args["align_corners"]:
        raise ShapeError(f"{op}: align_corners applies to bilinear interpolation only",
                         hint="drop align_corners, or use mode: bilinear")
    return {"mode": args["mode"], "align_corners": args["align_corners"]}


def _upsample_resolve(args, in_shapes):
    spatial(in_shapes[0], "upsample")
    return {"scale": pair(args["scale"]), **_interpolation(args, "upsample")}


register(OpDef(
    "upsample",
    doc="upsample by a whole factor per axis (scale: 2 or [2, 2]), nearest or bilinear",
    args={"scale": PAIR, "mode": _MODE_ARG, "align_corners": BOOL},
    required=("scale",), defaults={"mode": "nearest", "align_corners": False},
    attrs={"scale": PAIR_T, **_INTERPOLATION}, resolve=_upsample_resolve,
    infer=lambda a, s: [s[0][0], s[0][1] * a["scale"][0], s[0][2] * a["scale"][1]]))


def _two_maps(in_shapes, op):
    (c, h, w), (_, rh, rw) = spatial(in_shapes[0], op), spatial(in_shapes[1], f"{op}'s reference")
    return c, (h, w), (rh, rw)


def _resize_resolve(args, in_shapes):
    _two_maps(in_shapes, "resize")
    return _interpolation(args, "resize")


def _resize_infer(attrs, in_shapes):
    c, _, size = _two_maps(in_shapes, "resize")
    return [c, *size]


register(OpDef(
    "resize",
    doc="resize the first input to the height and width of the second (a dag node: "
        "`from: [x, like], merge: {resize: {mode: bilinear}}`), nearest or bilinear",
    args={"mode": _MODE_ARG, "align_corners": BOOL},
    defaults={"mode": "nearest", "align_corners": False}, arity=2,
    attrs=_INTERPOLATION, resolve=_resize_resolve, infer=_resize_infer))


def _crop_resolve(args, in_shapes):
    c, (h, w), (rh, rw) = _two_maps(in_shapes, "crop")
    if rh > h or rw > w:
        raise ShapeError(f"crop cannot cut {fmt(in_shapes[0])} to {rh}x{rw}: the reference is "
                         "larger", hint="crop the larger map (the encoder's) to the smaller one")
    # centred; an odd difference leaves the extra row (column) at the bottom (right)
    top, left = (h - rh) // 2, (w - rw) // 2
    return {"offset": [top, left]}


register(OpDef(
    "crop",
    doc="cut the centre of the first input to the height and width of the second (U-Net's "
        "skips; a dag node: `from: [encoder, decoder], merge: crop`)",
    args={}, arity=2, attrs={"offset": Ints(2, 0, MAX_SPATIAL)}, resolve=_crop_resolve,
    infer=_resize_infer))
