"""Multi-head self-attention (Vaswani et al. 2017, section 3.2), as torch's nn.MultiheadAttention
holds it: one input projection for queries, keys and values stacked (`in_proj_weight`, 3D x D, and
`in_proj_bias`), scaled dot-product attention per head, and an output projection (`out_proj`).
Its input and output are token sequences [N, D] (tokens.py)."""
from __future__ import annotations

from ...spec.errors import ShapeError
from . import OpDef, register
from .attr_types import CHANNELS, PROBABILITY
from .schema_types import CHANNELS_ARG, PROB
from .tokens import sequence


def _resolve(args, in_shapes):
    _, d = sequence(in_shapes[0], "self_attention")
    heads = args["heads"]
    if d % heads:
        raise ShapeError(f"self_attention: {heads} heads do not divide {d} features")
    return {"embed_dim": d, "num_heads": heads, "dropout": float(args["dropout"])}


def _infer(attrs, in_shapes):
    _, d = sequence(in_shapes[0], "self_attention")
    if d != attrs["embed_dim"] or d % attrs["num_heads"]:
        raise ShapeError(f"self_attention is made for {attrs['embed_dim']} features in "
                         f"{attrs['num_heads']} heads, got {d}")
    return list(in_shapes[0])


def _params(attrs, in_shapes):
    d = attrs["embed_dim"]
    return [("in_proj_weight", [3 * d, d], "weight"), ("in_proj_bias", [3 * d], "bias"),
            ("out_proj.weight", [d, d], "weight"), ("out_proj.bias", [d], "bias")]


def attention_macs(tokens: int, features: int) -> int:
    """Multiply-adds of self-attention over N tokens of D features: the query, key, value and
    output projections (4 N D^2), the scores Q K^T (N^2 D) and their weighted sum of the values
    (N^2 D); the softmax and the 1/sqrt(d) scaling are not counted, as activations are not."""
    return 4 * tokens * features * features + 2 * tokens * tokens * features


register(OpDef(
    "self_attention",
    doc="multi-head self-attention over a token sequence (torch's nn.MultiheadAttention)",
    macs_doc="4*N*D^2 (query, key, value and output projections) + 2*N^2*D (scores and their "
             "weighted sum of the values) for N tokens of D features; softmax not counted",
    args={"heads": CHANNELS_ARG, "dropout": PROB}, required=("heads",), defaults={"dropout": 0.0},
    attrs={"embed_dim": CHANNELS, "num_heads": CHANNELS, "dropout": PROBABILITY},
    resolve=_resolve, infer=_infer, params=_params,
    macs=lambda a, s, o: attention_macs(*sequence(s[0], "self_attention"))))
