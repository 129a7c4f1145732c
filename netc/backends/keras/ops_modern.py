"""Keras emitters for the ops of the modern CNNs (MobileNetV3, EfficientNet, ConvNeXt,
ShuffleNetV2, preprocessing), merged into `ops.EMITTERS`, and the layer classes they need,
merged into `helpers.HELPERS`. Channels are the last axis, so per-channel ops are Keras's own
layers on axis -1."""
from __future__ import annotations

from ..render import lit
from .init import initializers


def _call(ctor: str, ctx) -> str:
    head = ctor[:-1]
    inputs = ctx.args[0] if len(ctx.args) == 1 else "[" + ", ".join(ctx.args) + "]"
    return f'{head}{"" if head.endswith("(") else ", "}name={lit(ctx.name)})({inputs})'


def _helper(cls: str, *keys):
    def emit(n, ctx):
        ctx.helpers.add(cls)
        args = ", ".join(f"{k}={lit(n.attrs[k])}" for k in keys)
        return _call(f"{cls}({args})", ctx)
    return emit


def layernorm(n, ctx):
    at = n.attrs
    flags = "".join(f", {k}=False" for k in ("center", "scale") if not at[k])
    return _call(f"layers.LayerNormalization(axis=-1, epsilon={lit(at['eps'])}{flags})", ctx)


def channel_linear(n, ctx):
    at = n.attrs
    return _call(f"layers.Dense({lit(at['out_features'])}, use_bias={lit(at['bias'])}"
                 f"{initializers(n)})", ctx)


def normalization(n, ctx):
    """Constant statistics: Keras's own Normalization(mean=..., variance=...), which holds no
    variables; statistics held as state: the helper layer of that class name below."""
    at = n.attrs
    if at["mean"] is None:
        return _helper("Normalization")(n, ctx)
    return _call(f"layers.Normalization(mean={lit(at['mean'])}, variance={lit(at['variance'])})",
                 ctx)


def rescaling(n, ctx):
    at = n.attrs
    offset = f", offset={lit(at['offset'])}" if at["offset"] else ""
    return _call(f"layers.Rescaling({lit(at['scale'])}{offset})", ctx)


EMITTERS = {
    "hardsigmoid": lambda n, ctx: _call('layers.Activation("hard_sigmoid")', ctx),  # relu6(x+3)/6
    "layernorm": layernorm, "channel_linear": channel_linear,
    "layer_scale": _helper("LayerScale", "init"),
    "stochastic_depth": _helper("StochasticDepth", "p", "mode"),
    "channel_split": _helper("ChannelSlice", "start", "stop"),
    "channel_shuffle": _helper("ChannelShuffle", "groups"),
    "rescaling": rescaling, "normalization": normalization,
}

HELPERS = {
    "LayerScale": '''
class LayerScale(keras.layers.Layer):
    """Multiply each channel by a learned factor, initialised to `init` (Touvron et al. 2021)."""

    def __init__(self, init, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1],),
                                      initializer=keras.initializers.Constant(self.init))

    def call(self, x):
        return x * self.kernel
''',
    "StochasticDepth": '''
class StochasticDepth(keras.layers.Layer):
    """torchvision.ops.StochasticDepth: in training, zero each sample ('row') or the whole batch
    ('batch') with probability p and divide what is kept by 1 - p; the identity at inference."""

    def __init__(self, p, mode, **kwargs):
        super().__init__(**kwargs)
        self.p, self.mode = p, mode
        self.seed_generator = keras.random.SeedGenerator()

    def call(self, x, training=False):
        if not training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        rank = len(x.shape)
        shape = (ops.shape(x)[0],) + (1,) * (rank - 1) if self.mode == "row" else (1,) * rank
        noise = ops.cast(keras.random.uniform(shape, seed=self.seed_generator) < keep, x.dtype)
        return x * noise / keep if keep > 0.0 else x * noise
''',
    "ChannelSlice": '''
class ChannelSlice(keras.layers.Layer):
    """Channels start..stop-1 (ShuffleNetV2's channel split)."""

    def __init__(self, start, stop, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = start, stop

    def call(self, x):
        return x[..., self.start:self.stop]
''',
    "ChannelShuffle": '''
class ChannelShuffle(keras.layers.Layer):
    """ShuffleNet's channel shuffle: channel g * (C / groups) + k moves to k * groups + g."""

    def __init__(self, groups, **kwargs):
        super().__init__(**kwargs)
        self.groups = groups

    def call(self, x):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        x = ops.reshape(x, (-1, h, w, self.groups, c // self.groups))
        return ops.reshape(ops.transpose(x, (0, 1, 2, 4, 3)), (-1, h, w, c))
''',
    "Normalization": '''
class Normalization(keras.layers.Layer):
    """Keras's Normalization on the last axis, (x - mean) / max(sqrt(variance), 1e-7), reading
    its variables at every call so that assigned statistics take effect. Named as Keras's class
    is: a weight file keys a layer by its class's name."""

    def build(self, input_shape):
        shape = (input_shape[-1],)
        self.mean = self.add_weight(name="mean", shape=shape, initializer="zeros", trainable=False)
        self.variance = self.add_weight(name="variance", shape=shape, initializer="ones",
                                        trainable=False)
        self.count = self.add_weight(name="count", shape=(), initializer="zeros", trainable=False)

    def call(self, x):
        return (x - self.mean) / ops.maximum(ops.sqrt(self.variance), 1e-7)
''',
}
