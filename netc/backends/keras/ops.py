"""One emitter per op: the Keras expression that computes a node, channels-last.

An emitter gets the node, a `Ctx` (the node's Keras layer name, its input variables, its input
shape, a namer for auxiliary layers) and returns one expression. Every node becomes exactly one
layer named after it, so a layer's output is the node's value; a node that needs explicit padding
first adds a ZeroPadding2D layer with a derived name. Where torch's semantics have no exact Keras
layer (padding that is -inf for max pooling, torch's average-pool divisors, flatten in C,H,W order,
drop-path), the emitted source defines a small layer class (see helpers.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from ...compiler.ops.conv import explicit_padding
from ..base import UnsupportedOp
from ..render import lit
from .init import initializers

# A convolution's `strides` is always written, between UNIT marks, so that a block's instances
# that differ only in stride are one function with a stride argument; where the value written is
# Keras's default (1, 1), text.model_text leaves the keyword out.
UNIT = "\x02"


@dataclass
class Ctx:
    name: str  # the node's Keras layer name
    args: list[str]  # input variables
    in_shape: list[int]  # first input's IR shape (C, H, W) or (F,)
    aux: Callable[[str], str]  # a unique Keras name for an auxiliary layer of this node
    helpers: set  # helper classes the emitted source must define


def _pads(padding) -> str:  # IR [top, bottom, left, right] -> Keras ((top, bottom), (left, right))
    t, b, l, r = padding
    return lit(((t, b), (l, r)))


def _is_same(n, in_shape) -> bool:
    """True when the IR's explicit padding is exactly TensorFlow's "same" for this input."""
    at = n.attrs
    return at["padding"] == explicit_padding("same", in_shape[1:], at["kernel"], at["stride"],
                                             at["dilation"])


def _window_pads(n, in_shape):
    """Padding per side that makes a "valid" window op give the IR's output size: the IR's own
    padding plus, for ceil_mode, the overhang of the last window on the bottom/right."""
    t, b, l, r = n.attrs["padding"]
    (kh, kw), (sh, sw) = n.attrs["kernel"], n.attrs["stride"]
    oh, ow = n.shape[1], n.shape[2]
    eb = max((oh - 1) * sh + kh - (in_shape[1] + t + b), 0)
    er = max((ow - 1) * sw + kw - (in_shape[2] + l + r), 0)
    return [t, b + eb, l, r + er]


def _call(ctor: str, ctx: Ctx, *args) -> str:
    inputs = args[0] if len(args) == 1 else "[" + ", ".join(args) + "]"
    head = ctor[:-1]
    return f'{head}{"" if head.endswith("(") else ", "}name={lit(ctx.name)})({inputs})'


def _zero_pad(ctx: Ctx, padding) -> str:
    return f'layers.ZeroPadding2D({_pads(padding)}, name={lit(ctx.aux("pad"))})({ctx.args[0]})'


def _window_conv(n, ctx: Ctx, layer: str) -> tuple[str, str]:
    """The input (behind a ZeroPadding2D where the IR's padding is not TensorFlow's "same") and
    the window arguments of a Keras convolution: kernel, strides, padding, dilation, bias."""
    at = n.attrs
    if max(at["stride"]) > 1 and max(at["dilation"]) > 1:
        raise UnsupportedOp(f"{n.name}: Keras's {layer} cannot combine stride {at['stride']} with "
                            f"dilation {at['dilation']}")
    src, padding = ctx.args[0], "valid"
    if any(at["padding"]) and _is_same(n, ctx.in_shape):
        padding = "same"
    elif any(at["padding"]):
        src = _zero_pad(ctx, at["padding"])
    return src, (f"{lit(at['kernel'])}"
                 + f"{UNIT}, strides={lit(at['stride'])}{UNIT}"
                 + (f", padding={lit(padding)}" if padding != "valid" else "")
                 + (f", dilation_rate={lit(at['dilation'])}" if at["dilation"] != [1, 1] else "")
                 + f", use_bias={lit(at['bias'])}")


def separable_conv2d(n, ctx: Ctx) -> str:
    src, common = _window_conv(n, ctx, "SeparableConv2D")  # depth_multiplier 1, Keras's default
    return _call(f"layers.SeparableConv2D({lit(n.attrs['out_channels'])}, {common}"
                 f"{initializers(n)})", ctx, src)


def conv2d(n, ctx: Ctx) -> str:
    at = n.attrs
    src, common = _window_conv(n, ctx, "Conv2D")
    if is_depthwise(at):
        multiplier = at["out_channels"] // at["in_channels"]
        ctor = (f"layers.DepthwiseConv2D({common}, depth_multiplier={lit(multiplier)}"
                f"{initializers(n, 'depthwise_initializer')})")
    else:
        groups = f", groups={lit(at['groups'])}" if at["groups"] != 1 else ""
        ctor = f"layers.Conv2D({lit(at['out_channels'])}, {common}{groups}{initializers(n)})"
    return _call(ctor, ctx, src)


def is_depthwise(attrs) -> bool:
    """Whether a convolution is written as a DepthwiseConv2D (else a Conv2D, grouped or not)."""
    return attrs["depthwise_layer"] and 1 < attrs["groups"] == attrs["in_channels"]


def linear(n, ctx):
    return _call(f"layers.Dense({lit(n.attrs['out_features'])}, use_bias={lit(n.attrs['bias'])}"
                 f"{initializers(n)})",
                 ctx, *ctx.args)


def batchnorm(n, ctx):
    at = n.attrs
    # IR momentum is torch's (weight of the new batch); Keras's is the weight of the old average.
    # Inference is exact. In training, Keras moves moving_variance towards the biased batch
    # variance and torch towards the unbiased one (a factor n/(n-1), n = N*H*W per channel).
    momentum = round(1.0 - at["momentum"], 12)
    flags = "".join(f", {k}=False" for k in ("center", "scale") if not at[k])
    return _call(f"layers.BatchNormalization(momentum={lit(momentum)}, epsilon={lit(at['eps'])}{flags}"
                 f"{initializers(n)})",
                 ctx, *ctx.args)


def maxpool(n, ctx):
    at = n.attrs
    pads = _window_pads(n, ctx.in_shape)
    window = f"{lit(at['kernel'])}, strides={lit(at['stride'])}"
    if not any(pads):
        return _call(f"layers.MaxPooling2D({window}, padding=\"valid\")", ctx, *ctx.args)
    if not at["ceil_mode"] and _is_same(n, ctx.in_shape):  # TF's "same" ignores the padding
        return _call(f"layers.MaxPooling2D({window}, padding=\"same\")", ctx, *ctx.args)
    ctx.helpers.add("MaxPool2DPadded")
    return _call(f"MaxPool2DPadded({window}, padding={_pads(pads)})", ctx, *ctx.args)


def avgpool(n, ctx):
    at = n.attrs
    pads = _window_pads(n, ctx.in_shape)
    window = f"{lit(at['kernel'])}, strides={lit(at['stride'])}"
    if not any(pads):
        return _call(f"layers.AveragePooling2D({window}, padding=\"valid\")", ctx, *ctx.args)
    ctx.helpers.add("AvgPool2DTorch")
    extra = (pads[1] - at["padding"][1], pads[3] - at["padding"][3])
    return _call(f"AvgPool2DTorch({window}, padding={_pads(at['padding'])}, "
                 f"extra={lit(extra)}, count_include_pad={lit(at['count_include_pad'])})",
                 ctx, *ctx.args)


def adaptive_avgpool(n, ctx):
    (h, w), (oh, ow) = ctx.in_shape[1:], n.attrs["output_size"]
    if h % oh == 0 and w % ow == 0:  # torch's bins are then equal, disjoint windows
        return _call(f"layers.AveragePooling2D({lit((h // oh, w // ow))}, padding=\"valid\")",
                     ctx, *ctx.args)
    ctx.helpers.add("AdaptiveAvgPool2D")
    rows, cols = _bins(h, oh), _bins(w, ow)
    return _call(f"AdaptiveAvgPool2D(rows={lit(rows)}, cols={lit(cols)})", ctx, *ctx.args)


def _bins(n: int, out: int) -> list[tuple[int, int]]:
    """torch's adaptive pooling windows: [floor(i*n/out), ceil((i+1)*n/out))."""
    return [(i * n // out, math.ceil((i + 1) * n / out)) for i in range(out)]


def flatten(n, ctx):
    if len(ctx.in_shape) == 1 or n.attrs["order"] == "channels_last":  # Keras's own H, W, C
        return _call("layers.Flatten()", ctx, *ctx.args)
    ctx.helpers.add("FlattenCHW")
    return _call("FlattenCHW()", ctx, *ctx.args)


def _layer(ctor: str, helper: str | None = None):
    def emit(n, ctx):
        if helper:
            ctx.helpers.add(helper)
        return _call(ctor.format(**{k: lit(v) for k, v in n.attrs.items()}), ctx, *ctx.args)
    return emit


def leaky_relu(n, ctx):
    if n.attrs["slope"] < 0:  # torch takes any slope
        raise UnsupportedOp(f"{n.name}: Keras's LeakyReLU takes no negative slope, got "
                            f"{n.attrs['slope']}")
    return _call(f"layers.LeakyReLU(negative_slope={lit(n.attrs['slope'])})", ctx, *ctx.args)


def pad(n, ctx):
    return _call(f"layers.ZeroPadding2D({_pads(n.attrs['padding'])})", ctx, *ctx.args)


def crop_edges(n, ctx):
    return _call(f"layers.Cropping2D({_pads(n.attrs['cropping'])})", ctx, *ctx.args)


def channel_pad(n, ctx):
    at = n.attrs
    ctx.helpers.add("ChannelPad")
    return _call(f"ChannelPad(stride={lit(at['stride'])}, before={lit(at['before'])}, "
                 f"after={lit(at['after'])})",
                 ctx, *ctx.args)


def concat(n, ctx):
    return _call("layers.Concatenate(axis=-1)", ctx, *ctx.args)


EMITTERS = {
    "conv2d": conv2d, "separable_conv2d": separable_conv2d, "linear": linear,
    "batchnorm": batchnorm,
    "maxpool": maxpool, "avgpool": avgpool, "adaptive_avgpool": adaptive_avgpool,
    "global_avgpool": _layer("layers.GlobalAveragePooling2D()"),
    "global_maxpool": _layer("layers.GlobalMaxPooling2D()"),
    "relu": _layer('layers.Activation("relu")'), "relu6": _layer("layers.ReLU(max_value=6.0)"),
    "sigmoid": _layer('layers.Activation("sigmoid")'), "tanh": _layer('layers.Activation("tanh")'),
    "gelu": _layer('layers.Activation("gelu")'),  # exact erf form, as torch's default
    "silu": _layer('layers.Activation("silu")'),
    "hardswish": _layer('layers.Activation("hard_silu")'),  # x * relu6(x + 3) / 6, as torch
    "softmax": _layer("layers.Softmax(axis=-1)"), "identity": _layer("layers.Identity()"),
    "leaky_relu": leaky_relu,
    "flatten": flatten, "dropout": _layer("layers.Dropout({p})"),
    "drop_path": _layer("DropPath({p}, scale={scale})", "DropPath"),
    "pad": pad, "crop_edges": crop_edges, "channel_pad": channel_pad, "concat": concat,
    "add": _layer("layers.Add()"), "mul": _layer("layers.Multiply()"),
    "scale": _layer("layers.Rescaling({factor})"),  # x * factor (+ 0.0)
    "gated_sum": _layer("GatedSum()", "GatedSum"),
}

# Ops from installed plug-ins (entry-point group netc.ops), beside netc's own.
from ...plugins import emitters as _plugin_emitters  # noqa: E402
EMITTERS.update(_plugin_emitters("keras"))

# The modern CNNs' ops live in their own module; one table for the emitter that reads it, and
# their layer classes join the helpers the emitted source may define.
from .helpers import HELPERS as _HELPERS  # noqa: E402
from .ops_modern import EMITTERS as _MODERN, HELPERS as _MODERN_HELPERS  # noqa: E402

EMITTERS.update(_MODERN)
_HELPERS.update(_MODERN_HELPERS)
from .ops_dense import EMITTERS as _DENSE  # noqa: E402  (dense prediction)
EMITTERS.update(_DENSE)
from .helpers import HELPERS as _HELPERS  # noqa: E402
from .ops_tokens import EMITTERS as _TOKENS, HELPERS as _TOKEN_HELPERS  # noqa: E402  (ViT)
EMITTERS.update(_TOKENS), _HELPERS.update(_TOKEN_HELPERS)
from .ops_windows import EMITTERS as _WINDOWS, HELPERS as _WINDOW_HELPERS  # noqa: E402  (Swin)
EMITTERS.update(_WINDOWS), _HELPERS.update(_WINDOW_HELPERS)
