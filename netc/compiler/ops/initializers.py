"""How a weighted op's parameters start: the `init` and `bias_init` arguments and IR attributes.

An initialiser is written as torch.nn.init names it, so a spec reads like its reference's
`_init_weights` loop (torchvision's ResNet: `{kind: kaiming_normal, mode: fan_out, nonlinearity:
relu}`). `default` is the backend framework's own choice at construction (torch: Kaiming uniform
with a = sqrt(5) and a uniform bias; Keras: Glorot uniform and zeros); every other kind is one
distribution that each backend reproduces exactly, fans counted as torch counts them (a
convolution's fan-in is in_channels / groups x kernel area, its fan-out out_channels x kernel
area).

`variance_scaling` is Keras's VarianceScaling, for the keras.applications specs, whose builders
declare their kernels' initialisers in Keras's terms (EfficientNet's {scale: 2.0, mode: fan_out,
distribution: truncated_normal}; he_normal is {scale: 2.0, mode: fan_in}, glorot_uniform
{scale: 1.0, mode: fan_avg, distribution: uniform}). Its variance is scale / n, n the fan that
`mode` names (fan_avg: the mean of both), and its fans are counted as Keras counts the kernel of
the layer it builds (`keras_fans`): a Dense's (in, out) and a Conv2D's (kh, kw, in / groups, out)
as torch does; a depthwise convolution (a conv2d with `depthwise_layer`, and a
separable_conv2d's depthwise step) as DepthwiseConv2D's (kh, kw, C, M): fan-in C x kh x kw,
fan-out M x kh x kw, where torch counts kh x kw and C x M x kh x kw. `truncated_normal` cuts a
normal at two of its standard deviations and widens it so that what remains has the variance;
`untruncated_normal` and `uniform` have it exactly. It initialises kernels only: a bias or a
batch norm's parameters are one-dimensional, where fans mean nothing.

Keras's named initialisers are written by their names (`{kind: glorot_uniform}`, `he_normal`,
`lecun_normal`, ...) and stand for the VarianceScaling Keras makes of them; the IR holds that
variance_scaling. A keras.applications spec's reference initialisation is Keras's on every
backend: what its builder declares, and Keras's layer defaults elsewhere (Glorot uniform kernels,
zero biases), which the spec declares too, since `default` leaves each framework its own (torch:
Kaiming uniform). Keras writes no argument for an initialiser that is its layer's own default.

In the IR an initialiser is a mapping with every argument of its kind explicit, checked by
`Init`; nothing else.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ...spec.errors import ShapeError
from .attr_types import Float
from .schema_types import either

# kind -> its arguments with their defaults (torch.nn.init's); None: required.
KINDS: dict[str, dict] = {
    "default": {},
    "zeros": {},
    "ones": {},
    "constant": {"value": None},
    "normal": {"mean": 0.0, "std": 1.0},
    "trunc_normal": {"mean": 0.0, "std": 1.0, "a": -2.0, "b": 2.0},  # a, b: absolute bounds
    "uniform": {"low": 0.0, "high": 1.0},
    "kaiming_normal": {"mode": "fan_in", "nonlinearity": "leaky_relu", "a": 0.0},
    "kaiming_uniform": {"mode": "fan_in", "nonlinearity": "leaky_relu", "a": 0.0},
    "xavier_normal": {"gain": 1.0},
    "xavier_uniform": {"gain": 1.0},
    "variance_scaling": {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"},
}
# Keras's named initialisers, each a VarianceScaling: the kind a spec may write, and the
# variance_scaling it stands for in the IR.
KERAS_NAMED: dict[str, dict] = {
    "glorot_uniform": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform"},
    "glorot_normal": {"scale": 1.0, "mode": "fan_avg", "distribution": "truncated_normal"},
    "he_uniform": {"scale": 2.0, "mode": "fan_in", "distribution": "uniform"},
    "he_normal": {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal"},
    "lecun_uniform": {"scale": 1.0, "mode": "fan_in", "distribution": "uniform"},
    "lecun_normal": {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"},
}
# Keras's default kernel initialiser (every Conv2D, DepthwiseConv2D, SeparableConv2D and Dense)
GLOROT_UNIFORM = {"kind": "variance_scaling", **KERAS_NAMED["glorot_uniform"]}
MODES = ("fan_in", "fan_out")
VARIANCE_MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
# std of a unit normal truncated to [-2, 2], by which Keras widens a truncated normal
TRUNCATED_STD = 0.87962566103423978
NONLINEARITIES = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu")
_VALUE = Float(-1e6, 1e6)
_SCALE = Float(0.0, 1e6, lo_open=True)  # std, gain, scale
_TEXT = {"mode": MODES, "nonlinearity": NONLINEARITIES, "distribution": DISTRIBUTIONS}


def _choices(kind: str, arg: str) -> tuple[str, ...]:
    return VARIANCE_MODES if (kind, arg) == ("variance_scaling", "mode") else _TEXT[arg]

_NUMBER = either({"type": "number"})
INIT_ARG = {
    "type": "object", "required": ["kind"], "additionalProperties": False,
    "description": "how the parameter starts, as torch.nn.init names it, e.g. "
                   "{kind: kaiming_normal, mode: fan_out, nonlinearity: relu}, or as Keras "
                   "names it: {kind: glorot_uniform}, {kind: he_normal}, or any VarianceScaling "
                   "{kind: variance_scaling, scale: 2.0, mode: fan_out}",
    "properties": {"kind": {"enum": [*KINDS, *KERAS_NAMED]},
                   "mode": {"enum": list(VARIANCE_MODES)},
                   "nonlinearity": {"enum": list(NONLINEARITIES)},
                   "distribution": {"enum": list(DISTRIBUTIONS)},
                   **{k: _NUMBER for k in ("value", "mean", "std", "a", "b", "low", "high", "gain",
                                           "scale")}},
}


def resolve_init(given, what: str) -> dict:
    """The spec's initialiser with every argument of its kind explicit (plain values)."""
    given = dict(given)
    kind = given.pop("kind")
    if kind in KERAS_NAMED:
        if given:
            raise ShapeError(f"{what}: Keras's {kind} takes no arguments; found "
                             f"'{sorted(given)[0]}'", hint="write {kind: variance_scaling, "
                             "scale: ..., mode: ..., distribution: ...} for another scaling")
        return {"kind": "variance_scaling", **KERAS_NAMED[kind]}
    known = KINDS[kind]
    extra = sorted(set(given) - set(known))
    if extra:
        raise ShapeError(f"{what}: a {kind} initialiser takes no '{extra[0]}'"
                         + (f"; it takes {', '.join(known)}" if known else ""))
    out = {"kind": kind}
    for arg, default in known.items():
        value = given.get(arg, default)
        if value is None:
            raise ShapeError(f"{what}: a {kind} initialiser needs '{arg}'")
        if arg not in _TEXT and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ShapeError(f"{what}: {kind} {arg} is a number, found {value!r:.40}")
        out[arg] = value if arg in _TEXT else float(value)
    problem = INIT.problem(out)
    if problem:
        raise ShapeError(f"{what}: {problem}")
    return out


@dataclass(frozen=True)
class Init:
    """The IR type of an initialiser: a kind and exactly its arguments, each checked."""

    def problem(self, value) -> str | None:
        if not isinstance(value, dict) or value.get("kind") not in KINDS:
            return f"expected an initialiser {{kind: ...}}, found {value!r:.60}"
        kind = value["kind"]
        if set(value) != {"kind", *KINDS[kind]}:
            return f"a {kind} initialiser has {sorted(KINDS[kind])}, found {sorted(map(str, value))}"
        for arg in KINDS[kind]:
            v = value[arg]
            if arg in _TEXT:
                if not isinstance(v, str) or v not in _choices(kind, arg):
                    choices = ", ".join(_choices(kind, arg))
                    return f"{kind} {arg} is one of {choices}, found {v!r:.40}"
                continue
            problem = (_SCALE if arg in ("std", "gain", "scale") else _VALUE).problem(v)
            if problem:
                return f"{kind} {arg}: {problem}"
        if kind == "trunc_normal" and not value["a"] < value["b"]:
            return f"trunc_normal needs a < b, found a={value['a']}, b={value['b']}"
        if kind == "uniform" and not value["low"] < value["high"]:
            return f"uniform needs low < high, found low={value['low']}, high={value['high']}"
        return None


INIT = Init()
DEFAULT = {"kind": "default"}

# A weighted op's arguments and IR attributes for its weight's (`init`) and bias's (`bias_init`)
# initialisers.
INIT_ARGS = {"init": INIT_ARG, "bias_init": INIT_ARG}
INIT_ATTRS = {"init": INIT, "bias_init": INIT}


def resolve_inits(args, op: str, kernels=("init",), others=("bias_init",)) -> dict:
    """The initialiser IR attributes from an op's arguments: `kernels` name its kernels'
    (which may scale with fans), `others` its one-dimensional parameters'."""
    out = {attr: resolve_init(args[attr], f"{op} {attr}") for attr in (*kernels, *others)}
    for attr in others:
        if out[attr]["kind"] == "variance_scaling":
            raise ShapeError(f"{op} {attr}: {args[attr]['kind']} initialises kernels, whose fans "
                             "it counts; a one-dimensional parameter takes zeros, constant, normal, "
                             "trunc_normal or uniform")
    return out


def gain(init: dict) -> float:
    """torch.nn.init.calculate_gain for a Kaiming initialiser's nonlinearity."""
    nonlinearity, a = init["nonlinearity"], init["a"]
    return {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0),
            "leaky_relu": math.sqrt(2.0 / (1 + a * a)), "selu": 0.75}[nonlinearity]


def fans(shape: list[int]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight in torch's layout (out, in/groups, kh, kw) or (out, in),
    as torch.nn.init counts them."""
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def spread(init: dict, shape: list[int]) -> tuple[str, float, float]:
    """A Kaiming or Xavier initialiser as the distribution it draws from for a weight of
    `shape`: ("normal", mean, std) or ("uniform", low, high)."""
    fan_in, fan_out = fans(shape)
    if init["kind"].startswith("kaiming"):
        std = gain(init) / math.sqrt(fan_in if init["mode"] == "fan_in" else fan_out)
    else:
        std = init["gain"] * math.sqrt(2.0 / (fan_in + fan_out))
    if init["kind"].endswith("normal"):
        return "normal", 0.0, std
    bound = math.sqrt(3.0) * std
    return "uniform", -bound, bound



def depthwise_channels(op: str, attrs: dict, param: str) -> int | None:
    """C when the parameter `param` of a node of `op` is a depthwise kernel (Keras's
    DepthwiseConv2D, or a SeparableConv2D's depthwise_kernel, of shape (kh, kw, C, M)); else
    None."""
    if op == "conv2d" and attrs["depthwise_layer"]:  # groups == in_channels > 1, as Keras builds it
        return attrs["in_channels"]
    if op == "separable_conv2d" and param == "depthwise.weight":
        return attrs["in_channels"]
    return None


def keras_fans(shape: list[int], channels: int | None = None) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of torch's `shape` as Keras counts its kernel: as torch
    does, or, for a depthwise kernel of `channels` C (torch (C x M, 1, kh, kw), Keras
    (kh, kw, C, M)), C x kh x kw and M x kh x kw."""
    if channels is None:
        return fans(shape)
    receptive = math.prod(shape[2:])
    return channels * receptive, shape[0] // channels * receptive


def variance_spread(init: dict, shape: list[int], channels: int | None = None) -> dict:
    """A variance_scaling initialiser as the initialiser of the distribution it draws from for
    a weight of torch's `shape` (`channels`: as keras_fans): a trunc_normal cut at two standard
    deviations, a normal or a uniform."""
    fan_in, fan_out = keras_fans(shape, channels)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[init["mode"]]
    variance = init["scale"] / max(1.0, n)
    if init["distribution"] == "truncated_normal":
        std = math.sqrt(variance) / TRUNCATED_STD
        return {"kind": "trunc_normal", "mean": 0.0, "std": std, "a": -2.0 * std, "b": 2.0 * std}
    if init["distribution"] == "untruncated_normal":
        return {"kind": "normal", "mean": 0.0, "std": math.sqrt(variance)}
    limit = math.sqrt(3.0 * variance)
    return {"kind": "uniform", "low": -limit, "high": limit}
