"""How a weighted op's parameters start: the `init` and `bias_init` arguments and IR attributes.

An initialiser is written as torch.nn.init names it, so a spec reads like its reference's
`_init_weights` loop (torchvision's ResNet: `{kind: kaiming_normal, mode: fan_out, nonlinearity:
relu}`). `default` is the backend framework's own choice at construction (torch: Kaiming uniform
with a = sqrt(5) and a uniform bias; Keras: Glorot uniform and zeros); every other kind is one
distribution that each backend reproduces exactly, fans counted as torch counts them (a
convolution's fan-in is in_channels / groups x kernel area, its fan-out out_channels x kernel
area).

In the IR an initialiser is a mapping with every argument of its kind explicit, checked by
`Init`; nothing else.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ...spec.errors import ShapeError
from .attr_types import Float

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
}
MODES = ("fan_in", "fan_out")
NONLINEARITIES = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu")
_VALUE = Float(-1e6, 1e6)
_SCALE = Float(0.0, 1e6, lo_open=True)  # std, gain
_TEXT = {"mode": MODES, "nonlinearity": NONLINEARITIES}

_NUMBER = {"type": "number"}
INIT_ARG = {
    "type": "object", "required": ["kind"], "additionalProperties": False,
    "description": "how the parameter starts, as torch.nn.init names it, e.g. "
                   "{kind: kaiming_normal, mode: fan_out, nonlinearity: relu}",
    "properties": {"kind": {"enum": list(KINDS)}, "mode": {"enum": list(MODES)},
                   "nonlinearity": {"enum": list(NONLINEARITIES)},
                   **{k: _NUMBER for k in ("value", "mean", "std", "a", "b", "low", "high", "gain")}},
}


def resolve_init(given, what: str) -> dict:
    """The spec's initialiser with every argument of its kind explicit (plain values)."""
    given = dict(given)
    kind = given.pop("kind")
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
                if not isinstance(v, str) or v not in _TEXT[arg]:
                    return f"{arg} is one of {', '.join(_TEXT[arg])}, found {v!r:.40}"
                continue
            problem = (_SCALE if arg in ("std", "gain") else _VALUE).problem(v)
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


def resolve_inits(args, op: str) -> dict:
    """The `init` and `bias_init` IR attributes from an op's arguments."""
    return {"init": resolve_init(args["init"], f"{op} init"),
            "bias_init": resolve_init(args["bias_init"], f"{op} bias_init")}


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
