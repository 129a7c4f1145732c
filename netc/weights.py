"""Canonical weights: one dict, 'node.param' -> numpy array in IR layout (torch's: conv OIHW,
linear (out, in), batch-norm weight/bias/running_mean/running_var), and the weight files of each
framework read into it and written from it.

    netc weights resnet50.pt resnet50.weights.h5 --spec resnet50.yaml    # torch -> Keras
    netc weights resnet50.weights.h5 resnet50.pt --spec resnet50.yaml    # and back
"""
from __future__ import annotations

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


def select(graph: Graph, found: dict, source: str) -> dict[str, np.ndarray]:
    """The IR's parameters out of a larger mapping (a state_dict also holds num_batches_tracked),
    checked for presence and shape."""
    expected = expected_keys(graph)
    missing = [k for k in expected if k not in found]
    if missing:
        extra = sorted(set(found) - set(expected))[:3]
        raise SpecError(f"{source} lacks {len(missing)} of the spec's {len(expected)} parameters, "
                        f"e.g. '{missing[0]}'" + (f"; it has e.g. {', '.join(extra)}" if extra else ""),
                        hint="is it the checkpoint of this spec? weight keys are the IR's node names")
    out = {}
    for key, shape in expected.items():
        value = np.asarray(found[key], dtype=np.float32)
        if list(value.shape) != shape:
            raise SpecError(f"{source}: '{key}' has shape {list(value.shape)}, the spec says {shape}")
        out[key] = value
    return out


def read_torch(path: str, graph: Graph) -> dict[str, np.ndarray]:
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
    return select(graph, {k: v.detach().numpy() for k, v in state.items() if hasattr(v, "detach")},
                  f"'{path}'")


def write_torch(path: str, graph: Graph, weights: dict[str, np.ndarray]) -> None:
    import torch

    torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}, path)


def read_keras(path: str, graph: Graph) -> dict[str, np.ndarray]:
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


def convert(graph: Graph, src: str, dst: str) -> int:
    """Copy weights between framework files through the canonical dict; returns the tensor count."""
    read, _ = file_format(src)
    _, write = file_format(dst)
    weights = read(src, graph)
    write(dst, graph, weights)
    return len(weights)
