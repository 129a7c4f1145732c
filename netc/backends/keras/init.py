"""Initialisers as Keras layer arguments: `kernel_initializer=...` and the like.

Each IR initialiser becomes the Keras initialiser that draws from the same distribution. Kaiming
and Xavier are written as the normal or uniform distribution they stand for, their spread
computed from torch's fans of the IR weight (Keras counts a depthwise kernel's fans otherwise).
`default` leaves Keras's own choice (Glorot uniform kernels, zero biases, batch norm's ones and
zeros), and an initialiser that is that choice is not written either. Keras truncates a normal
at exactly two standard deviations; a truncated normal with other bounds is written as a plain
normal when both bounds lie at least 10 standard deviations out (a value falls beyond them with
probability below 2e-23), and is refused otherwise.
`variance_scaling` is Keras's own VarianceScaling, which counts the fans of the layer's kernel as
the IR does (initializers.py) wherever the layer is the one the IR counts for: a DepthwiseConv2D
or SeparableConv2D's depthwise kernel for a depthwise kernel, a Conv2D or Dense otherwise; a
kernel of another layer is given the distribution it stands for. Swin's WindowAttention takes one
initialiser for both its kernels (and one for both biases), so a kind whose distribution depends
on the kernel's shape is refused there.
"""
from __future__ import annotations

from ...compiler.ops.initializers import (GLOROT_UNIFORM, depthwise_channels, keras_fans, spread,
                                          variance_spread)
from ..base import UnsupportedOp
from ..render import lit

# op -> IR parameter -> (Keras argument, the initialiser kind Keras's default already is,
# the IR attribute holding its initialiser)
_ARGS = {
    "conv2d": {"weight": ("kernel_initializer", None, "init"),
               "bias": ("bias_initializer", "zeros", "bias_init")},
    "batchnorm": {"weight": ("gamma_initializer", "ones", "init"),
                  "bias": ("beta_initializer", "zeros", "bias_init")},
    "separable_conv2d": {"depthwise.weight": ("depthwise_initializer", None, "init"),
                         "pointwise.weight": ("pointwise_initializer", None, "pointwise_init"),
                         "pointwise.bias": ("bias_initializer", "zeros", "bias_init")},
}
_ARGS["linear"] = _ARGS["channel_linear"] = _ARGS["conv2d"]  # a Dense layer: kernel and bias
# Swin's WindowAttention: one initialiser for both its kernels, one for both its biases
_ARGS["window_attention"] = {f"{layer}.{p}": _ARGS["conv2d"][p] for layer in ("qkv", "proj")
                             for p in ("weight", "bias")}
_FAR = 10.0  # standard deviations


def initializers(node, kernel_arg: str | None = None) -> str:
    """`, kernel_initializer=...` arguments for a node's declared initialisers; "" when Keras's
    defaults are what the node declares. `kernel_arg` renames the weight's argument
    (DepthwiseConv2D's `depthwise_initializer`)."""
    written: dict[str, str] = {}
    shapes = {p.name: p.shape for p in node.params}
    for param, (arg, built, attr) in _ARGS[node.op].items():
        init = node.attrs[attr]
        if param not in shapes or init["kind"] in ("default", built):
            continue
        name = kernel_arg if param == "weight" and kernel_arg else arg
        weight = param.replace("bias", "weight")
        if init == GLOROT_UNIFORM and _counts_as_the_ir(node, param, name, shapes[weight]):
            continue  # the layer's own default kernel initialiser
        if name in written:  # one argument for two parameters of one attribute
            if init["kind"].startswith(("kaiming", "xavier")) or (
                    init["kind"] == "variance_scaling"
                    and not _counts_as_the_ir(node, param, name, shapes[weight])):
                raise UnsupportedOp(f"{node.name}: the Keras layer takes one {name} for "
                                    f"parameters of different shapes, from which {init['kind']} "
                                    "draws different distributions", node.location,
                                    hint="declare one that does not depend on the shape (normal, "
                                         "trunc_normal, uniform, or variance_scaling)")
            continue
        written[name] = _initializer(init, shapes[weight], node, param, name)
    return "".join(f", {name}={text}" for name, text in written.items())


def _counts_as_the_ir(node, param: str, arg: str, weight_shape: list[int]) -> bool:
    """Whether the Keras layer written for the node counts the fans of its kernel `arg` as the
    IR counts those of `param` (keras_fans)."""
    channels = depthwise_channels(node.op, node.attrs, param)
    seen = node.attrs["in_channels"] if arg == "depthwise_initializer" else None
    return keras_fans(weight_shape, seen) == keras_fans(weight_shape, channels)


def _initializer(init: dict, weight_shape: list[int], node, param: str, arg: str) -> str:
    kind = init["kind"]
    if kind == "variance_scaling":
        if _counts_as_the_ir(node, param, arg, weight_shape):
            return (f"keras.initializers.VarianceScaling(scale={lit(init['scale'])}, "
                    f"mode={lit(init['mode'])}, distribution={lit(init['distribution'])})")
        init = variance_spread(init, weight_shape, depthwise_channels(node.op, node.attrs, param))
        kind = init["kind"]
    if kind in ("zeros", "ones"):
        return lit(kind)
    if kind == "constant":
        return f"keras.initializers.Constant(value={lit(init['value'])})"
    if kind.startswith(("kaiming", "xavier")):
        form, a, b = spread(init, weight_shape)
        init = ({"kind": "normal", "mean": a, "std": b} if form == "normal"
                else {"kind": "uniform", "low": a, "high": b})
        kind = init["kind"]
    if kind == "uniform":
        return (f"keras.initializers.RandomUniform(minval={lit(init['low'])}, "
                f"maxval={lit(init['high'])})")
    mean, std = init["mean"], init["std"]
    if kind == "trunc_normal":
        low, high = (init["a"] - mean) / std, (init["b"] - mean) / std
        if abs(low + 2.0) < 1e-9 and abs(high - 2.0) < 1e-9:
            return f"keras.initializers.TruncatedNormal(mean={lit(mean)}, stddev={lit(std)})"
        if min(-low, high) < _FAR:
            raise UnsupportedOp(f"{node.name}: Keras truncates a normal at two standard "
                                f"deviations; bounds [{init['a']}, {init['b']}] at std {std} "
                                "cannot be drawn exactly", node.location)
    return f"keras.initializers.RandomNormal(mean={lit(mean)}, stddev={lit(std)})"
