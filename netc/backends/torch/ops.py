"""One emitter per op: (module constructor or None, forward expression) for a node.

`m` is the expression that reaches the node's module; `a` the input variables; `inplace` says the
first input dies here and its producer does not need it for backward, so it may be overwritten.
"""
from __future__ import annotations

from ..base import UnsupportedOp, class_name
from ..render import lit


def _symmetric(padding) -> bool:
    return padding[0] == padding[1] and padding[2] == padding[3]


def _fpad(padding) -> str:  # IR [top, bottom, left, right] -> F.pad's (left, right, top, bottom)
    t, b, l, r = padding
    return lit((l, r, t, b))


def _window_conv(cls: str, at: dict, m: str, a, extra: str = "") -> tuple[str, str]:
    """A convolution module `cls` and its call; uneven padding goes to F.pad before it."""
    sym = _symmetric(at["padding"])
    pad = (at["padding"][0], at["padding"][2]) if sym else (0, 0)
    ctor = (f"{cls}({lit(at['in_channels'])}, {lit(at['out_channels'])}, "
            f"kernel_size={lit(at['kernel'])}, stride={lit(at['stride'])}, padding={lit(pad)}"
            + (f", dilation={lit(at['dilation'])}" if at["dilation"] != [1, 1] else "")
            + extra + f", bias={lit(at['bias'])})")
    arg = a[0] if sym else f"F.pad({a[0]}, {_fpad(at['padding'])})"
    return ctor, f"{m}({arg})"


def conv2d(n, m, a, inplace):
    groups = n.attrs["groups"]
    return _window_conv("nn.Conv2d", n.attrs, m, a,
                        f", groups={lit(groups)}" if groups != 1 else "")


def separable_conv2d(n, m, a, inplace):
    return _window_conv("SeparableConv2d", n.attrs, m, a)


def linear(n, m, a, inplace):
    at = n.attrs
    return (f"nn.Linear({lit(at['in_features'])}, {lit(at['out_features'])}, bias={lit(at['bias'])})",
            f"{m}({a[0]})")


def batchnorm(n, m, a, inplace):
    at = n.attrs
    kind = "BatchNorm2d" if len(n.shape) == 3 else "BatchNorm1d"
    args = f"{lit(at['num_features'])}, eps={lit(at['eps'])}, momentum={lit(at['momentum'])}"
    if at["scale"] != at["center"]:  # Keras's BatchNormalization(scale=False), as in InceptionV3
        if kind != "BatchNorm2d":
            raise UnsupportedOp(f"{n.name}: a batch norm with scale={at['scale']}, "
                                f"center={at['center']} needs a C x H x W input on torch")
        return (f"PartialAffineBatchNorm2d({args}, scale={lit(at['scale'])}, "
                f"center={lit(at['center'])})",
                f"{m}({a[0]})")
    affine = "" if at["scale"] else ", affine=False"
    return f"nn.{kind}({args}{affine})", f"{m}({a[0]})"


def _pool(fn, extra=""):
    def emit(n, m, a, inplace):
        at = n.attrs
        sym = _symmetric(at["padding"])
        src = a[0]
        if not sym:
            if fn == "avg_pool2d" and not at["count_include_pad"]:
                raise UnsupportedOp(f"{n.name}: torch cannot average over uneven padding "
                                    "while excluding the padded cells")
            fill = ", value=float('-inf')" if fn == "max_pool2d" else ""
            src = f"F.pad({src}, {_fpad(at['padding'])}{fill})"
        pad = (at["padding"][0], at["padding"][2]) if sym else (0, 0)
        opts = ", ceil_mode=True" if at["ceil_mode"] else ""
        if fn == "avg_pool2d" and not at["count_include_pad"]:
            opts += ", count_include_pad=False"
        return None, (f"F.{fn}({src}, kernel_size={lit(at['kernel'])}, stride={lit(at['stride'])}, "
                      f"padding={lit(pad)}{opts})")
    return emit


def _function(template):
    def emit(n, m, a, inplace):
        return None, template.format(*a, **{k: lit(v) for k, v in n.attrs.items()})
    return emit


def flatten(n, m, a, inplace):
    if n.attrs["order"] == "channels_last":  # H, W, C, as Keras's Flatten
        return None, f"torch.flatten({a[0]}.permute(0, 2, 3, 1), 1)"
    return None, f"torch.flatten({a[0]}, 1)"


def relu(n, m, a, inplace):
    return None, f"F.relu({a[0]}, inplace=True)" if inplace else f"F.relu({a[0]})"


def relu6(n, m, a, inplace):
    return None, f"F.relu6({a[0]}, inplace=True)" if inplace else f"F.relu6({a[0]})"


def add(n, m, a, inplace):
    if inplace and len(a) == 2:
        return None, f"{a[0]}.add_({a[1]})"
    return None, " + ".join(a)


def dropout(n, m, a, inplace):
    return f"nn.Dropout(p={lit(n.attrs['p'])})", f"{m}({a[0]})"


def drop_path(n, m, a, inplace):
    return f"DropPath(p={lit(n.attrs['p'])}, scale={lit(n.attrs['scale'])})", f"{m}({a[0]})"


def channel_pad(n, m, a, inplace):
    s, before, after = (lit(n.attrs[k]) for k in ("stride", "before", "after"))
    src = a[0] if n.attrs["stride"] == 1 else f"{a[0]}[:, :, ::{s}, ::{s}]"
    return None, f"F.pad({src}, (0, 0, 0, 0, {before}, {after}))"


def _crop_slices(n) -> str:
    """`[:, :, top:top + height, left:left + width]` of the IR's cropping and output shape."""
    top, _, left, _ = n.attrs["cropping"]
    _, h, w = n.shape
    return f"[:, :, {lit(top)}:{lit(top + h)}, {lit(left)}:{lit(left + w)}]"


def concat(n, m, a, inplace):
    return None, f"torch.cat([{', '.join(a)}], 1)"


EMITTERS = {
    "conv2d": conv2d, "separable_conv2d": separable_conv2d, "linear": linear,
    "batchnorm": batchnorm, "relu": relu, "add": add,
    "maxpool": _pool("max_pool2d"), "avgpool": _pool("avg_pool2d"),
    "global_avgpool": _function("{0}.mean((2, 3))"),
    "global_maxpool": _function("torch.amax({0}, (2, 3))"),
    "adaptive_avgpool": lambda n, m, a, i: (None, f"F.adaptive_avg_pool2d({a[0]}, {lit(n.attrs['output_size'])})"),
    "relu6": relu6, "sigmoid": _function("torch.sigmoid({0})"),
    "tanh": _function("torch.tanh({0})"), "gelu": _function("F.gelu({0})"),
    "silu": _function("F.silu({0})"), "hardswish": _function("F.hardswish({0})"),
    "softmax": _function("F.softmax({0}, 1)"), "identity": _function("{0}"),
    "leaky_relu": _function("F.leaky_relu({0}, {slope})"),
    "flatten": flatten, "dropout": dropout, "drop_path": drop_path,
    "pad": lambda n, m, a, i: (None, f"F.pad({a[0]}, {_fpad(n.attrs['padding'])})"),
    "crop_edges": lambda n, m, a, i: (None, f"{a[0]}{_crop_slices(n)}"),
    "channel_pad": channel_pad, "concat": concat, "mul": _function("{0} * {1}"),
    "scale": _function("{0} * {factor}"),
    "gated_sum": _function("{0} * {1} + {2} * (1 - {1})"),
}

# Helper module classes -> the torch module classes each builds inside itself, which a loop over
# self.modules() reaches too (init.py leaves such a class's loop to the nodes one by one).
INNER_MODULES = {"SeparableConv2d": ("nn.Conv2d",), "nn.MultiheadAttention": ("nn.Linear",),
                 "ShiftedWindowAttention": ("nn.Linear",)}

# Ops whose output autograd does not keep, so a consumer may overwrite it in place.
INPLACE_SAFE_PRODUCERS = {"conv2d", "batchnorm", "linear", "add"}
INPLACE_OPS = {"relu", "relu6", "add"}

HELPERS = {  # keyed by the op that needs it, or by the class name its constructor calls
    "SeparableConv2d": '''
class SeparableConv2d(nn.Module):
    """A depthwise separable convolution (Chollet 2017): each input channel convolved with its
    own kernel, then a 1x1 convolution across channels (Keras's SeparableConv2D)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=False):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, stride=stride,
                                   padding=padding, dilation=dilation, groups=in_channels,
                                   bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))
''',
    "PartialAffineBatchNorm2d": '''
class PartialAffineBatchNorm2d(nn.BatchNorm2d):
    """Batch norm with a learned shift and no scale, or a scale and no shift (Keras's
    BatchNormalization(scale=False) or (center=False)): F.batch_norm takes either alone."""

    def __init__(self, num_features, eps, momentum, scale, center):
        super().__init__(num_features, eps=eps, momentum=momentum, affine=False)
        if scale:
            self.weight = nn.Parameter(torch.ones(num_features))
        if center:
            self.bias = nn.Parameter(torch.zeros(num_features))
''',
    "drop_path": '''
class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016): in training, drop the residual branch of each sample
    with probability p. scale='test' keeps the paper's rule (multiply by 1 - p at test time);
    scale='train' divides by 1 - p in training instead."""

    def __init__(self, p, scale):
        super().__init__()
        self.p, self.scale = p, scale

    def forward(self, x):
        keep = 1.0 - self.p
        if not self.training:
            return x * keep if self.scale == "test" else x
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask if self.scale == "test" else x * mask / keep
''',
}

# Ops from installed plug-ins (entry-point group netc.ops), beside netc's own.
from ...plugins import emitters as _plugin_emitters  # noqa: E402
EMITTERS.update(_plugin_emitters("torch"))

# The modern CNNs' ops live in their own module; one table for the emitters that read it.
from .ops_modern import EMITTERS as _MODERN, HELPERS as _MODERN_HELPERS  # noqa: E402

EMITTERS.update(_MODERN)
HELPERS.update(_MODERN_HELPERS)
from .ops_dense import EMITTERS as _DENSE, HELPERS as _DENSE_HELPERS  # noqa: E402  (dense prediction)
EMITTERS.update(_DENSE), HELPERS.update(_DENSE_HELPERS)
from .ops_tokens import EMITTERS as _TOKENS  # noqa: E402  (Vision Transformer)
EMITTERS.update(_TOKENS)
from .ops_windows import EMITTERS as _WINDOWS, HELPERS as _WINDOW_HELPERS  # noqa: E402  (Swin)
EMITTERS.update(_WINDOWS), HELPERS.update(_WINDOW_HELPERS)

# The classes HELPERS define (DropPath under its op's name): no other class of the emitted source,
# the model's included, may take their names.
HELPER_CLASSES = tuple(sorted({"DropPath", *(h for h in HELPERS if h[:1].isupper())}))


def model_class(graph_name: str) -> str:
    """The model's class name: the graph's, clear of the helper classes."""
    name = class_name(graph_name)
    return name + "Net" if name in HELPER_CLASSES else name
