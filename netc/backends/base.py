"""The Backend interface: everything a backend does, so that nothing outside a backend names a
framework. IR -> source -> live model; parameter counts and the framework's own total; canonical
weights in and out of a live model and of the framework's weight files; node values for
`netc check`; and the backend's trainer."""
from __future__ import annotations

import keyword
import linecache
import re
import types
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable

from ..compiler.ir import Graph
from ..spec.errors import SpecError

if TYPE_CHECKING:  # the registry is imported by the CLI, which starts without numpy
    import numpy as np

TRAINABLE_KINDS = ("weight", "bias", "norm-affine")

# adjust(node name, value) -> value: numpy, channels-first, applied before later nodes read it.
Adjust = Callable[[str, "np.ndarray"], "np.ndarray"]


class Unsupported(SpecError):
    """Something a backend does not do (an ability, a file type); it never approximates silently."""


class UnsupportedOp(Unsupported):
    """An op or attribute a backend cannot honour exactly."""


class Backend(ABC):
    name: str
    # The framework's own parameter total (`headline`): how it is spelled, and which IR
    # parameter kinds it includes.
    headline_label: str = "headline"
    headline_kinds: tuple[str, ...] = TRAINABLE_KINDS
    # Weight-file suffixes this backend reads and writes (`read_weights`, `write_weights`).
    reads_weights: tuple[str, ...] = ()
    writes_weights: tuple[str, ...] = ()
    # Whether `float64_values` can run the graph in float64 (netc check's exact reference).
    runs_float64: bool = False
    # Model file formats `export` writes and `run_exported` runs back (`netc export --format`).
    export_formats: tuple[str, ...] = ()

    @abstractmethod
    def emit(self, graph: Graph) -> str:
        """Readable, standalone Python source defining `build_model()`."""

    def load(self, source: str, graph: Graph):
        """The live model from `source`: the very text `netc build -o` writes."""
        module = load_source(source, f"netc_{self.name}_{graph.name}_{graph.content_hash()}")
        return module.build_model()

    @abstractmethod
    def count(self, model, graph: Graph) -> dict[str, dict[str, int]]:
        """Per IR node: parameter counts by kind as the live model holds them."""

    @abstractmethod
    def headline(self, model) -> int:
        """The framework's own parameter total (torch: parameters(); Keras: count_params())."""

    @abstractmethod
    def export_weights(self, model, graph: Graph) -> dict:
        """Canonical weights: 'node.param' -> numpy array in IR layout."""

    @abstractmethod
    def import_weights(self, model, graph: Graph, weights: dict) -> None:
        """Load canonical weights; every IR parameter must be present with its IR shape."""

    # -- weight files ---------------------------------------------------------------------------

    def read_weights(self, path: str, graph: Graph) -> dict:
        """What a weight file of this framework holds, as data: key -> numpy array (or whatever
        else it held, which the caller refuses). Keys are canonical ('node.param') where the
        file is keyed by IR names; the caller checks keys, shapes and dtypes."""
        raise self._lacks("reading weight files")

    def write_weights(self, path: str, graph: Graph, weights: dict) -> None:
        """Write canonical weights as this framework's weight file."""
        raise self._lacks("writing weight files")

    def bookkeeping_keys(self, graph: Graph) -> dict[str, str]:
        """Keys this framework's weight files hold beside the IR's parameters, which no output
        reads, each with what it is; skipped, and reported, when a file is read."""
        return {}

    # -- node values, for `netc check` -----------------------------------------------------------

    def node_values(self, model, graph: Graph, x: np.ndarray, feed: dict | None = None
                    ) -> dict[str, np.ndarray]:
        """Every node's output, by IR name, channels-first numpy, for a channels-first input
        batch `x`, the model in inference mode. With `feed` (IR name -> channels-first value,
        the input included), each node is computed alone from the fed values of its inputs."""
        raise self._lacks("probing node values")

    def float64_values(self, graph: Graph, weights: dict, x: np.ndarray,
                       adjust: Adjust | None = None, like=None) -> dict[str, np.ndarray]:
        """Every node's value with the graph computed in float64 from canonical `weights`, in
        inference mode. With `adjust`, each node's value passes through it before any later
        node reads it. `like`, a model this backend built from `graph`, may be copied rather
        than building another. Only backends with `runs_float64`."""
        raise self._lacks("computing in float64")

    # -- deployment, for `netc export` -----------------------------------------------------------

    def prepare_export(self, fmt: str) -> None:
        """Refuse `fmt` when a package it needs is missing, and load what writing and running
        it imports: before any weights are read, so the error comes first and libraries load
        in an order that works."""
        raise self._lacks(f"exporting to {fmt}")

    def export(self, model, graph: Graph, fmt: str, path: str, example: np.ndarray) -> None:
        """Write the live model as a `fmt` file (one of `export_formats`) at `path`, its batch
        size left free; `example` is a channels-first input batch to trace with."""
        raise self._lacks(f"exporting to {fmt}")

    def run_exported(self, fmt: str, path: str, x: np.ndarray) -> list[np.ndarray]:
        """The outputs of the exported file at `path`, run by its format's own runtime on the
        channels-first batch `x`, channels-first."""
        raise self._lacks(f"running {fmt} files")

    def checkpoint_weights(self, path: str, graph: Graph) -> dict:
        """What a checkpoint of this backend's trainer holds as the model's weights, as
        `read_weights` returns it."""
        raise self._lacks("reading training checkpoints")

    # -- training --------------------------------------------------------------------------------

    def trainer(self) -> type:
        """The class that trains this backend's models through netc's training core."""
        raise self._lacks("training")

    def _lacks(self, ability: str) -> Unsupported:
        return Unsupported(f"the {self.name} backend does not support {ability}")


@contextmanager
def at_node(node):
    """Locate a backend's refusal (an op or attribute it cannot honour) at the node's spec item."""
    try:
        yield
    except SpecError as exc:
        if exc.loc is None:
            exc.loc = node.location
        raise


def load_source(source: str, module_name: str) -> types.ModuleType:
    """Run netc's own emitted source as a module; tracebacks show its real lines."""
    filename = f"<{module_name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(module_name)
    module.__file__ = filename
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102  (netc's output, not user text)
    return module


# Names the emitted modules import or call; a network's class may not shadow them.
SOURCE_NAMES = frozenset({"F", "nn", "torch", "keras", "layers", "ops", "sys", "math", "super",
                          "range", "str", "int", "float", "len", "list", "tuple", "dict"})


def class_name(name: str) -> str:
    parts = re.split(r"[^A-Za-z0-9]+", name)
    out = "".join(p[:1].upper() + p[1:] for p in parts if p) or "Net"
    if out[0].isdigit():
        return "Net" + out
    return out + "Net" if out in SOURCE_NAMES or keyword.iskeyword(out) else out


class Namer:
    """Unique, valid Python identifiers for node names (torch.fx's namer, in small)."""

    def __init__(self, reserved=("self", "x", "torch", "nn", "F", "keras", "layers", "ops")):
        self.used = set(reserved)

    def __call__(self, name: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_]", "_", name) or "v"
        base = "v_" + base if base[0].isdigit() or keyword.iskeyword(base) else base
        candidate, i = base, 1
        while candidate in self.used:
            i += 1
            candidate = f"{base}_{i}"
        self.used.add(candidate)
        return candidate


def last_uses(graph: Graph) -> dict[str, str]:
    """value name -> the last node that reads it (graph outputs are read 'after the end')."""
    last = {}
    for node in graph.nodes:
        for src in node.inputs:
            last[src] = node.name
    for out in graph.outputs:
        last[out] = None
    return last
