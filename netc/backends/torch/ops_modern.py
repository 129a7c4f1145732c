"""Emitters for the ops of the modern CNNs (MobileNetV3, EfficientNet, ConvNeXt, ShuffleNetV2,
Keras's preprocessing layers), merged into `ops.EMITTERS`; same signature as there."""
from __future__ import annotations

from ..base import UnsupportedOp
from ..render import lit

_TO_LAST, _TO_FIRST = ".permute(0, 2, 3, 1)", ".permute(0, 3, 1, 2)"


def _over_channels(n, m, a):
    """`m` applied to the channels at each position: torch modules act on the last dimension, so
    a C x H x W map goes channels-last and back (as torchvision's LayerNorm2d and CNBlock do)."""
    if len(n.shape) != 3:  # a vector, or a token sequence N x D whose features are last
        return f"{m}({a[0]})"
    return f"{m}({a[0]}{_TO_LAST}){_TO_FIRST}"


def layernorm(n, m, a, inplace):
    at = n.attrs
    if at["center"] and not at["scale"]:
        raise UnsupportedOp(f"{n.name}: torch's LayerNorm has no shift without a scale")
    affine = "" if at["scale"] else ", elementwise_affine=False"
    bias = ", bias=False" if at["scale"] and not at["center"] else ""
    return (f"nn.LayerNorm({lit(at['num_features'])}, eps={lit(at['eps'])}{affine}{bias})",
            _over_channels(n, m, a))


def channel_linear(n, m, a, inplace):
    at = n.attrs
    return (f"nn.Linear({lit(at['in_features'])}, {lit(at['out_features'])}, "
            f"bias={lit(at['bias'])})", _over_channels(n, m, a))


def layer_scale(n, m, a, inplace):
    at = n.attrs
    # the node is the parameter itself, so its state_dict key is the node's name
    return (f"nn.Parameter(torch.full(({lit(at['channels'])}, 1, 1), {lit(at['init'])}))",
            f"{m} * {a[0]}")


def stochastic_depth(n, m, a, inplace):
    return (f"StochasticDepth(p={lit(n.attrs['p'])}, mode={lit(n.attrs['mode'])})",
            f"{m}({a[0]})")


def channel_split(n, m, a, inplace):
    return None, f"{a[0]}[:, {lit(n.attrs['start'])}:{lit(n.attrs['stop'])}]"


def channel_shuffle(n, m, a, inplace):
    g = lit(n.attrs["groups"])
    return None, f"{a[0]}.unflatten(1, ({g}, -1)).transpose(1, 2).flatten(1, 2)"


def rescaling(n, m, a, inplace):
    at = n.attrs
    offset = f" + {lit(at['offset'])}" if at["offset"] else ""
    return None, f"{a[0]} * {lit(at['scale'])}{offset}"


def normalization(n, m, a, inplace):
    at = n.attrs
    constants = "" if at["mean"] is None else \
        f", mean={lit(at['mean'])}, variance={lit(at['variance'])}"
    return (f"Standardize({lit(at['num_features'])}, {lit(len(n.shape) - 1)}{constants})",
            f"{m}({a[0]})")


EMITTERS = {
    "hardsigmoid": lambda n, m, a, i: (None, f"F.hardsigmoid({a[0]})"),
    "layernorm": layernorm, "channel_linear": channel_linear, "layer_scale": layer_scale,
    "stochastic_depth": stochastic_depth, "channel_split": channel_split,
    "channel_shuffle": channel_shuffle, "rescaling": rescaling, "normalization": normalization,
}

HELPERS = {
    "StochasticDepth": '''
class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth: in training, zero each sample ('row') or the whole batch
    ('batch') with probability p and divide what is kept by 1 - p; the identity in eval."""

    def __init__(self, p, mode):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.dim() - 1) if self.mode == "row" else (1,) * x.dim()
        noise = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * noise.div_(keep) if keep > 0.0 else x * noise
''',
    "Standardize": '''
class Standardize(nn.Module):
    """Keras's Normalization on the channel axis: (x - mean) / max(sqrt(var), 1e-7), with the
    statistics (and Keras's sample count) held as buffers; given `mean` and `variance`, those
    constants, in buffers outside the state_dict."""

    def __init__(self, channels, spatial_dims, mean=None, variance=None):
        super().__init__()
        held = mean is None
        mean = torch.zeros(channels) if held else torch.tensor(mean)
        variance = torch.ones(channels) if held else torch.tensor(variance)
        self.register_buffer("running_mean", mean, persistent=held)
        self.register_buffer("running_var", variance, persistent=held)
        if held:
            self.register_buffer("count", torch.zeros(()))
        self.view = (-1,) + (1,) * spatial_dims

    def forward(self, x):
        mean, std = self.running_mean.view(self.view), self.running_var.sqrt().view(self.view)
        return (x - mean) / torch.clamp(std, min=1e-7)
''',
}
