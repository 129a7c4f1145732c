"""Canonical weights: one dict, 'node.param' -> numpy array in IR layout (torch's: conv OIHW,
linear (out, in), batch-norm weight/bias/running_mean/running_var), and the weight files of each
framework read into it and written from it.

    netc weights resnet50.pt resnet50.weights.h5 --spec resnet50.yaml    # torch -> Keras
    netc weights resnet50.weights.h5 resnet50.pt --spec resnet50.yaml    # and back
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .compiler.ir import Graph
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
            out[f"{node.name}.{p.name}"] = draw(rng, p.shape).astype(np.float32)
    return out


def _fan_in_normal(rng, shape):
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape)


_DRAW = {
    "weight": _fan_in_normal,
    "bias": lambda rng, shape: rng.normal(0.0, 0.1, shape),
    ("norm-affine", "weight"): lambda rng, shape: rng.uniform(0.5, 1.5, shape),
    "norm-affine": lambda rng, shape: rng.normal(0.0, 0.1, shape),
    ("norm-statistic", "running_var"): lambda rng, shape: rng.uniform(0.5, 1.5, shape),
    "norm-statistic": lambda rng, shape: rng.normal(0.0, 0.1, shape),
}


def expected_keys(graph: Graph) -> dict[str, list[int]]:
    return {f"{n.name}.{p.name}": p.shape for n in graph.nodes for p in n.params}


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
    counters: list[str] = field(default_factory=list)     # torch's num_batches_tracked
    cast: list[str] = field(default_factory=list)         # non-float tensors made float32
    non_finite: list[str] = field(default_factory=list)   # kept although NaN or infinite


# torch counts batch-norm steps in a buffer that no other framework keeps and no output uses.
COUNTER = "num_batches_tracked"


def _counters(graph: Graph) -> set[str]:
    return {f"{n.name}.{COUNTER}" for n in graph.nodes
            if any(p.name == "running_var" for p in n.params)}


def _some(keys: list[str], count: int = 3) -> str:
    shown = ", ".join(f"'{k}'" for k in keys[:count])
    return shown + (f" and {len(keys) - count} more" if len(keys) > count else "")


def select(graph: Graph, found: dict, source: str, leniency: Leniency = Leniency(),
           report: Conversion | None = None) -> dict[str, np.ndarray]:
    """The IR's parameters out of a state_dict, checked for presence, shape, a float dtype and
    no keys beyond the spec's (batch-norm step counters aside). ``found`` maps keys to numpy
    arrays, or to anything else a state_dict held (an extra key either way)."""
    report = report if report is not None else Conversion()
    expected = expected_keys(graph)
    missing = [k for k in expected if k not in found]
    counters = _counters(graph)
    extra = sorted(k for k in found if k not in expected and k not in counters)
    if missing:
        raise SpecError(f"{source} lacks {len(missing)} of the spec's {len(expected)} parameters, "
                        f"e.g. '{missing[0]}'" + (f"; it has e.g. {', '.join(extra[:3])}" if extra else ""),
                        hint="is it the checkpoint of this spec? weight keys are the IR's node names")
    if extra and not leniency.extra_keys:
        raise SpecError(f"{source} holds {len(extra)} keys the spec does not have: {_some(extra)}",
                        hint="is it another architecture's state_dict? --ignore-extra-keys "
                             "converts the spec's parameters and skips the rest")
    report.skipped = extra
    report.counters = sorted(k for k in found if k in counters)
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


def _to_numpy(value):
    """A tensor as numpy (bfloat16 and half widened to float32); anything else unchanged."""
    import torch

    if not isinstance(value, torch.Tensor):
        return value
    value = value.detach().cpu()
    if value.dtype in (torch.bfloat16, torch.float16):
        value = value.float()
    return value.numpy()


def read_torch(path: str, graph: Graph, leniency: Leniency = Leniency(),
               report: Conversion | None = None) -> dict[str, np.ndarray]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle torch refuses to load safely, or not a torch file
        raise SpecError(f"cannot read '{path}' as a torch state_dict ({type(exc).__name__}: {exc})",
                        hint="netc loads checkpoints with weights_only=True; save a plain state_dict") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise SpecError(f"'{path}' holds a {type(state).__name__}, not a state_dict")
    return select(graph, {str(k): _to_numpy(v) for k, v in state.items()}, f"'{path}'",
                  leniency, report)


def write_torch(path: str, graph: Graph, weights: dict[str, np.ndarray]) -> None:
    import torch

    torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}, path)


def read_keras(path: str, graph: Graph, leniency: Leniency = Leniency(),
               report: Conversion | None = None) -> dict[str, np.ndarray]:
    from .backends import get_backend

    backend = get_backend("keras")
    model = backend.load(backend.emit(graph), graph)
    try:
        model.load_weights(path)
    except (ValueError, OSError) as exc:
        raise SpecError(f"cannot load '{path}' into the spec's Keras model: {exc}") from None
    return backend.export_weights(model, graph)


def write_keras(path: str, graph: Graph, weights: dict[str, np.ndarray]) -> None:
    from .backends import get_backend

    backend = get_backend("keras")
    model = backend.load(backend.emit(graph), graph)
    backend.import_weights(model, graph, weights)
    model.save_weights(path)


FORMATS = {".pt": (read_torch, write_torch), ".pth": (read_torch, write_torch),
           ".weights.h5": (read_keras, write_keras)}


def file_format(path: str):
    for suffix, handlers in FORMATS.items():
        if str(path).endswith(suffix):
            return handlers
    raise SpecError(f"'{path}': netc reads and writes {', '.join(FORMATS)} weight files")


def convert(graph: Graph, src: str, dst: str, leniency: Leniency = Leniency()) -> Conversion:
    """Copy weights between framework files through the canonical dict. Keys beyond the spec's,
    non-float tensors and non-finite values are refused unless ``leniency`` allows them; the
    returned Conversion says what was skipped or let through."""
    read, _ = file_format(src)
    _, write = file_format(dst)
    report = Conversion()
    weights = read(src, graph, leniency, report)
    check_finite(weights, f"'{src}'", leniency, report)
    write(dst, graph, weights)
    report.count = len(weights)
    return report
