"""The parity check of an exported file: the file, run by its format's own runtime, against the
netc model it was written from, on one random batch (of another size than the one traced, so a
batch size frozen into the file shows).

Tolerance: both are float32 implementations of one graph. Each errs from the graph computed
exactly by at most the float32 rounding propagated through this network, measured as `netc
check` measures it (netc.crosscheck.tolerance: the graph run in float64, once plain and once
with every node moved by its one-implementation rounding bound); two implementations may
differ by twice that. A wrong layout, a dropped layer or a batch-norm in training mode moves
outputs by orders of magnitude more.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends import Backend
from ..compiler.ir import Graph
from ..crosscheck.check import exact_values, float64_backend
from ..crosscheck.tolerance import implementation_bound
from ..spec.errors import SpecError

BATCH = 3  # the check's batch; exports are traced with EXAMPLE_BATCH, so the two differ
EXAMPLE_BATCH = 2


@dataclass
class Parity:
    fmt: str
    batch: int
    max_error: float  # max abs difference, file vs netc model, over every output
    limit: float
    scale: float  # max |output| of the netc model

    @property
    def ok(self) -> bool:
        return bool(self.max_error <= self.limit)


def example_input(graph: Graph, batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, *graph.input_shape)).astype(np.float32)


def rounding_limit(graph: Graph, weights: dict, x: np.ndarray) -> float:
    """Twice the float32 rounding this network can accumulate at its outputs on `x`."""
    reference = float64_backend()
    exact = exact_values(graph, weights, x, backend=reference)
    shapes = {n.name: [graph.shape_of(s) for s in n.inputs] for n in graph.nodes}
    one = {n.name: implementation_bound(n, shapes[n.name], float(np.max(np.abs(exact[n.name]))))
           for n in graph.nodes}
    moved = exact_values(graph, weights, x, noise=one, backend=reference)
    return 2.0 * max(float(np.max(np.abs(moved[o] - exact[o]))) for o in graph.outputs)


def check_parity(impl: Backend, model, graph: Graph, weights: dict, fmt: str, path: str,
                 batch: int = BATCH, seed: int = 1) -> Parity:
    x = example_input(graph, batch, seed)
    values = impl.node_values(model, graph, x)
    expected = [values[name] for name in graph.outputs]
    found = impl.run_exported(fmt, path, x)
    if len(found) != len(expected):
        raise SpecError(f"{path}: the {fmt} file gives {len(found)} outputs, the network "
                        f"{len(expected)}")
    for got, want in zip(found, expected):
        if tuple(got.shape) != tuple(want.shape):
            raise SpecError(f"{path}: the {fmt} file gives an output of shape "
                            f"{list(got.shape)} for a batch of {batch}; the network gives "
                            f"{list(want.shape)}")
    error = max(float(np.max(np.abs(g.astype(np.float64) - w))) for g, w in zip(found, expected))
    scale = max(float(np.max(np.abs(w))) for w in expected)
    return Parity(fmt, batch, error, rounding_limit(graph, weights, x), scale)
