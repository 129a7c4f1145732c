"""Swin Transformer's ops (Liu et al. 2021, sections 3.1-3.2; torchvision's swin_transformer.py)
on a C x H x W map: self-attention inside non-overlapping windows, cyclically shifted in every
other block, with a learned relative position bias per head; and patch merging, which stacks each
2x2 neighbourhood's features (C x H x W -> 4C x H/2 x W/2) before its norm and linear reduction.

The window attention is one op, as torchvision's ShiftedWindowAttention is one module: its
weights are `qkv` and `proj` (nn.Linear) and `relative_position_bias_table` ((2Wh-1)(2Ww-1) x
heads); the table's index (which entry each pair of window positions reads) is fixed by the
window size, so it is a constant of the emitted source (torch: the `relative_position_index`
buffer, as torchvision keeps it), not a parameter. `init` and `bias_init` start both linear
layers (torchvision's SwinTransformer initialises every nn.Linear alike); the table starts as
torchvision's module starts it, from a truncated normal of std 0.02.
"""
from __future__ import annotations

from ...spec.errors import ShapeError
from . import OpDef, register, spatial
from .attr_types import CHANNELS, PAIR, PROBABILITY, Ints
from .conv import pair
from .initializers import DEFAULT, INIT_ARGS, INIT_ATTRS, resolve_inits
from .schema_types import CHANNELS_ARG, NONNEG_INT, PAIR as PAIR_ARG, PROB, either

SHIFT = Ints(2, 0, 1024)


def _windows(attrs, h: int, w: int) -> tuple[int, int]:
    """(windows, positions per window) over the map padded to whole windows, as torchvision pads."""
    wh, ww = attrs["window"]
    return -(-h // wh) * -(-w // ww), wh * ww


def _resolve(args, in_shapes):
    c, _, _ = spatial(in_shapes[0], "window_attention")
    window, shift = pair(args["window"]), pair(args["shift"])
    if c % args["heads"]:
        raise ShapeError(f"window_attention: {args['heads']} heads do not divide {c} channels")
    if any(s >= k for s, k in zip(shift, window)):
        raise ShapeError(f"window_attention: the shift {shift} must be smaller than the window "
                         f"{window}")
    return {"dim": c, "num_heads": args["heads"], "window": window, "shift": shift,
            "attention_dropout": float(args["attention_dropout"]),
            "dropout": float(args["dropout"]), **resolve_inits(args, "window_attention")}


def _infer(attrs, in_shapes):
    c, _, _ = spatial(in_shapes[0], "window_attention")
    if c != attrs["dim"] or c % attrs["num_heads"]:
        raise ShapeError(f"window_attention is made for {attrs['dim']} channels in "
                         f"{attrs['num_heads']} heads, got {c}")
    return list(in_shapes[0])


def _params(attrs, in_shapes):
    c, (wh, ww) = attrs["dim"], attrs["window"]
    return [("qkv.weight", [3 * c, c], "weight"), ("qkv.bias", [3 * c], "bias"),
            ("proj.weight", [c, c], "weight"), ("proj.bias", [c], "bias"),
            ("relative_position_bias_table", [(2 * wh - 1) * (2 * ww - 1), attrs["num_heads"]],
             "weight")]


def _macs(attrs, in_shapes, out):
    c, h, w = out
    windows, n = _windows(attrs, h, w)
    return 4 * windows * n * c * c + 2 * windows * n * n * c


register(OpDef(
    "window_attention",
    doc="Swin's (shifted) window multi-head self-attention with a relative position bias "
        "(torchvision's ShiftedWindowAttention); the map is padded to whole windows",
    macs_doc="per window of n positions, 4*n*C^2 (projections) + 2*n^2*C (scores and weighted "
             "sum), over the windows of the padded map; softmax and the bias not counted",
    args={"heads": CHANNELS_ARG, "window": PAIR_ARG,
          "shift": either({"type": "integer", "minimum": 0},
                          {"type": "array", "items": NONNEG_INT, "minItems": 2, "maxItems": 2}),
          "attention_dropout": PROB, "dropout": PROB, **INIT_ARGS},
    required=("heads", "window"), defaults={"shift": 0, "attention_dropout": 0.0, "dropout": 0.0,
                                            "init": DEFAULT, "bias_init": DEFAULT},
    attrs={"dim": CHANNELS, "num_heads": CHANNELS, "window": PAIR, "shift": SHIFT,
           "attention_dropout": PROBABILITY, "dropout": PROBABILITY, **INIT_ATTRS},
    resolve=_resolve, infer=_infer, params=_params, macs=_macs))


def _merge_resolve(args, in_shapes):
    spatial(in_shapes[0], "patch_merge")
    return {}


def _merge_infer(attrs, in_shapes):
    c, h, w = spatial(in_shapes[0], "patch_merge")
    return [4 * c, -(-h // 2), -(-w // 2)]


register(OpDef(
    "patch_merge",
    doc="each 2x2 neighbourhood's features stacked in torchvision's order (top-left, bottom-left, "
        "top-right, bottom-right), an odd side padded with zeros: C x H x W -> 4C x H/2 x W/2",
    args={}, resolve=_merge_resolve, infer=_merge_infer))
