"""Canonical weights: one dict, 'node.param' -> numpy array in IR layout (conv OIHW, linear
(out, in), batch-norm weight/bias/running_mean/running_var), and weight files read into it and
written from it by the backend whose suffix the file has (`Backend.reads_weights`,
`Backend.writes_weights`).

    netc weights resnet50.pt resnet50.weights.h5 --spec resnet50.yaml    # torch -> Keras
    netc weights resnet50.weights.h5 resnet50.pt --spec resnet50.yaml    # and back
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .backends import Backend, installed
from .compiler.ir import Graph, param_key
from .spec.errors import SpecError


def random_weights(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights that keep activations near unit scale through a deep network: kernels
    ~ N(0, 1/fan_in), and batch-norm statistics that are not the identity (so a backend that
    ignored them, or mixed mean and variance, would show)."""
    rng = np.random.default_rng(seed)
    out = {}
    for node in graph.nodes:
        for p in node.params:
            draw = _DRAW.get((p.kind, p.name), _DRAW.get(p.kind))
            out[param_key(node.name, p.name)] = np.asarray(draw(rng, p.shape))  # 0-d: an array
    return out


# Drawn in float32 directly: a third of the time of float64 draws cast down, which counts at
# hundreds of millions of parameters.
def _normal(rng, shape, std):
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(std)


def _uniform(rng, shape, low, high):
    return rng.random(shape, dtype=np.float32) * np.float32(high - low) + np.float32(low)


def _fan_in_normal(rng, shape):
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return _normal(rng, shape, 1.0 / np.sqrt(fan_in))


_DRAW = {
    "weight": _fan_in_normal,
    "bias": lambda rng, shape: _normal(rng, shape, 0.1),
    ("norm-affine", "weight"): lambda rng, shape: _uniform(rng, shape, 0.5, 1.5),
    "norm-affine": lambda rng, shape: _normal(rng, shape, 0.1),
    ("norm-statistic", "running_var"): lambda rng, shape: _uniform(rng, shape, 0.5, 1.5),
    "norm-statistic": lambda rng, shape: _normal(rng, shape, 0.1),
}


def expected_keys(graph: Graph) -> dict[str, list[int]]:
    return {param_key(n.name, p.name): p.shape for n in graph.nodes for p in n.params}


@dataclass(frozen=True)
class Leniency:
    """What a conversion accepts only when the user asks for it by name: keys the spec does not
    have (the file is likely another architecture's), integer or boolean tensors where the spec
    has float parameters, and NaN or infinite values."""

    extra_keys: bool = False
    non_float: bool = False
    non_finite: bool = False


@dataclass
class Conversion:
    """What ``convert`` wrote, and what it left out or let through (each list names keys)."""

    count: int = 0
    skipped: list[str] = field(default_factory=list)      # keys not in the spec
    bookkeeping: dict[str, list[str]] = field(default_factory=dict)  # what they are -> keys
    cast: list[str] = field(default_factory=list)         # non-float tensors made float32
    non_finite: list[str] = field(default_factory=list)   # kept although NaN or infinite


def _some(keys: list[str], count: int = 3) -> str:
    shown = ", ".join(f"'{k}'" for k in keys[:count])
    return shown + (f" and {len(keys) - count} more" if len(keys) > count else "")


def select(graph: Graph, found: dict, source: str, leniency: Leniency = Leniency(),
           report: Conversion | None = None, bookkeeping: dict[str, str] | None = None
           ) -> dict[str, np.ndarray]:
    """The IR's parameters out of what a weight file held, checked for presence, shape, a float
    dtype and no keys beyond the spec's (the framework's ``bookkeeping`` keys aside, key -> what
    it is). ``found`` maps keys to numpy arrays, or to anything else the file held."""
    report = report if report is not None else Conversion()
    bookkeeping = bookkeeping or {}
    expected = expected_keys(graph)
    missing = [k for k in expected if k not in found]
    extra = sorted(k for k in found if k not in expected and k not in bookkeeping)
    if missing:
        raise SpecError(f"{source} lacks {len(missing)} of the spec's {len(expected)} parameters, "
                        f"e.g. '{missing[0]}'" + (f"; it has e.g. {', '.join(extra[:3])}" if extra else ""),
                        hint="is it the checkpoint of this spec? weight keys are the IR's node names")
    if extra and not leniency.extra_keys:
        raise SpecError(f"{source} holds {len(extra)} keys the spec does not have: {_some(extra)}",
                        hint="is it another architecture's state_dict? --ignore-extra-keys "
                             "converts the spec's parameters and skips the rest")
    report.skipped = extra
    for key in sorted(k for k in found if k in bookkeeping):
        report.bookkeeping.setdefault(bookkeeping[key], []).append(key)
    out = {}
    for key, shape in expected.items():
        value = found[key]
        if not isinstance(value, np.ndarray):
            raise SpecError(f"{source}: '{key}' holds a {type(value).__name__}, not a tensor")
        if list(value.shape) != shape:
            raise SpecError(f"{source}: '{key}' has shape {list(value.shape)}, the spec says {shape}")
        if not np.issubdtype(value.dtype, np.floating):
            if not leniency.non_float:
                raise SpecError(f"{source}: '{key}' holds {value.dtype} values, not floats",
                                hint="--cast-non-float converts such tensors to float32")
            report.cast.append(key)
        out[key] = value.astype(np.float32)
    return out


def check_finite(weights: dict[str, np.ndarray], source: str, leniency: Leniency,
                 report: Conversion) -> None:
    bad = [key for key, value in weights.items() if not np.isfinite(value).all()]
    if bad and not leniency.non_finite:
        raise SpecError(f"{source}: {len(bad)} tensors hold NaN or infinite values: {_some(bad)}",
                        hint="--allow-non-finite converts them anyway")
    report.non_finite = bad


def backend_for(path: str, writing: bool) -> Backend:
    """The backend whose weight-file suffix `path` has (the longest that matches)."""
    def suffixes(b):
        return b.writes_weights if writing else b.reads_weights

    backends = installed()
    matches = [(len(s), -i, b) for i, b in enumerate(backends) for s in suffixes(b)
               if str(path).endswith(s)]
    if not matches:
        known = "; ".join(f"{', '.join(suffixes(b))} ({b.name})" for b in backends if suffixes(b))
        raise SpecError(f"'{path}': netc {'writes' if writing else 'reads'} weight files named "
                        f"{known}")
    return max(matches, key=lambda m: m[:2])[2]


def convert(graph: Graph, src: str, dst: str, leniency: Leniency = Leniency()) -> Conversion:
    """Copy weights between weight files through the canonical dict. Keys beyond the spec's,
    non-float tensors and non-finite values are refused unless ``leniency`` allows them; the
    returned Conversion says what was skipped or let through."""
    reader, writer = backend_for(src, writing=False), backend_for(dst, writing=True)
    report = Conversion()
    weights = select(graph, reader.read_weights(src, graph), f"'{src}'", leniency, report,
                     reader.bookkeeping_keys(graph))
    check_finite(weights, f"'{src}'", leniency, report)
    writer.write_weights(dst, graph, weights)
    report.count = len(weights)
    return report
