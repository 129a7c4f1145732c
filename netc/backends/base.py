"""The Backend interface: IR -> source -> live model, and weights in and out of it."""
from __future__ import annotations

import keyword
import linecache
import re
import types
from abc import ABC, abstractmethod
from contextlib import contextmanager

from ..compiler.ir import Graph
from ..spec.errors import SpecError


class UnsupportedOp(SpecError):
    """An op or attribute a backend cannot honour exactly; it never approximates silently."""


class Backend(ABC):
    name: str

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


def class_name(name: str) -> str:
    parts = re.split(r"[^A-Za-z0-9]+", name)
    out = "".join(p[:1].upper() + p[1:] for p in parts if p) or "Net"
    return out if not out[0].isdigit() else "Net" + out


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
