"""netc: a declarative architecture compiler.

    graph = netc.load("resnet50.yaml")            # spec -> checked IR, no framework imported
    model = netc.build("resnet50.yaml", backend="torch")
"""
from __future__ import annotations

__version__ = "0.1.0"

from .compiler.ir import Graph, Node, Param
from .spec.errors import ShapeError, SpecError

__all__ = ["load", "build", "emit", "Graph", "Node", "Param", "SpecError", "ShapeError"]


def load(path: str, overrides: dict | None = None, text: str | None = None) -> Graph:
    """Parse, validate and expand a spec into a linted IR graph."""
    from .compiler.lint import lint
    from .spec.document import load_document
    from .spec.expand import expand
    from .spec.loader import location_of
    from .spec.references import check_references

    doc = load_document(str(path), overrides, text)
    check_references(doc)
    graph = expand(doc)
    lint(graph, input_loc=location_of(doc.data["input"], "shape"))
    return graph


def _checked(spec, overrides) -> Graph:
    """A linted graph: loaded from a spec path, or a Graph made elsewhere, linted again."""
    from .compiler.lint import lint

    if not isinstance(spec, Graph):
        return load(spec, overrides)
    lint(spec)
    return spec


def emit(spec, backend: str = "torch", overrides: dict | None = None) -> str:
    """The Python source a backend writes for a spec (a path or a Graph)."""
    from .backends import get_backend

    return get_backend(backend).emit(_checked(spec, overrides))


def build(spec, backend: str = "torch", overrides: dict | None = None):
    """A live model, loaded from exactly the source `emit` returns."""
    from .backends import get_backend

    graph = _checked(spec, overrides)
    impl = get_backend(backend)
    return impl.load(impl.emit(graph), graph)
