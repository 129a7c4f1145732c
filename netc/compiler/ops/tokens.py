"""Token sequences, as the Vision Transformer builds them (Dosovitskiy et al. 2021, eqs. 1-4;
torchvision's VisionTransformer): a C x H x W map becomes H*W tokens of C features, a learned
class token goes first, a learned position embedding is added, and the head reads one token.

A token sequence has the shape [N, D] (tokens, features; no batch), the same in the IR, in torch
and in Keras, so no backend moves its axes. Ops that act on each token alone (linear, layernorm,
element-wise activations, dropout, add) take it as they take a flat vector, on the last dimension.

The class token and the position embedding are parameters that belong to no layer: the node is
the parameter, so its weight key is the node's own name (torchvision's `class_token` and
`encoder.pos_embedding`), which an IR parameter with an empty name says.
"""
from __future__ import annotations

from ...spec.errors import ShapeError
from . import OpDef, fmt, register, spatial
from .attr_types import CHANNELS, MAX_CHANNELS, Int
from .schema_types import NONNEG_INT

TOKENS = Int(1, MAX_CHANNELS)


def sequence(shape, what: str) -> tuple[int, int]:
    """(tokens, features) of a token sequence."""
    if len(shape) != 2:
        raise ShapeError(f"{what} needs a sequence of tokens (N x D), got {fmt(shape)}",
                         hint="turn a C x H x W map into tokens with 'tokens' first")
    return shape[0], shape[1]


def _tokens_resolve(args, in_shapes):
    c, h, w = spatial(in_shapes[0], "tokens")
    return {"features": c, "count": h * w}


register(OpDef(
    "tokens",
    doc="a C x H x W map as H*W tokens of C features, row by row (torchvision's reshape and "
        "permute after the patch embedding's convolution)",
    args={}, attrs={"features": CHANNELS, "count": TOKENS}, resolve=_tokens_resolve,
    infer=lambda a, s: [a["count"], a["features"]]))


def _checked(op: str):
    """The attributes' view of the input, refused where the input is another sequence."""
    def check(attrs, in_shapes):
        n, d = sequence(in_shapes[0], op)
        if (n, d) != (attrs["count"], attrs["features"]):
            raise ShapeError(f"{op} is made for {attrs['count']} tokens of {attrs['features']} "
                             f"features, got {fmt(in_shapes[0])}")
        return n, d
    return check


def _sequence_attrs(op: str):
    def resolve(args, in_shapes):
        n, d = sequence(in_shapes[0], op)
        return {"count": n, "features": d}
    return resolve


_class_check = _checked("class_token")
register(OpDef(
    "class_token",
    doc="prepend a learned token (torchvision's class_token, zeros at first) to the sequence",
    args={}, attrs={"count": TOKENS, "features": CHANNELS},
    resolve=_sequence_attrs("class_token"),
    infer=lambda a, s: [_class_check(a, s)[0] + 1, a["features"]],
    params=lambda a, s: [("", [1, 1, a["features"]], "weight")]))

_position_check = _checked("pos_embedding")


def _position_infer(attrs, in_shapes):
    _position_check(attrs, in_shapes)
    return list(in_shapes[0])


register(OpDef(
    "pos_embedding",
    doc="add a learned embedding per position (torchvision's encoder.pos_embedding, normal with "
        "std 0.02 at first)",
    args={}, attrs={"count": TOKENS, "features": CHANNELS},
    resolve=_sequence_attrs("pos_embedding"),
    infer=_position_infer,
    params=lambda a, s: [("", [1, a["count"], a["features"]], "weight")]))


def _select_resolve(args, in_shapes):
    n, _ = sequence(in_shapes[0], "select_token")
    if args["index"] >= n:
        raise ShapeError(f"select_token: index {args['index']} is past the last of {n} tokens")
    return {"index": args["index"]}


def _select_infer(attrs, in_shapes):
    n, d = sequence(in_shapes[0], "select_token")
    if attrs["index"] >= n:
        raise ShapeError(f"select_token: index {attrs['index']} is past the last of {n} tokens")
    return [d]


register(OpDef(
    "select_token",
    doc="one token's features (x[:, index]; the class token is index 0)",
    args={"index": NONNEG_INT}, defaults={"index": 0}, attrs={"index": Int(0, MAX_CHANNELS)},
    resolve=_select_resolve, infer=_select_infer))
