"""netc: a declarative architecture compiler.

    graph = netc.load("resnet50.yaml")            # spec -> checked IR, no framework imported
    model = netc.build("resnet50.yaml", backend="torch")
"""
from __future__ import annotations

__version__ = "0.1.0"

from .backends import DEFAULT_BACKEND
from .compiler.ir import Graph, Node, Param
from .spec.errors import ShapeError, SpecError

__all__ = ["load", "build", "emit", "Graph", "Node", "Param", "SpecError", "ShapeError"]


def load(path: str, overrides: dict | None = None, text: str | None = None,
         input_size: tuple[int, int] | None = None) -> Graph:
    """Parse, validate and expand a spec into a linted IR graph; with `input_size` (H, W), an
    image input takes that height and width instead of the spec's (checks at a small size)."""
    from .compiler.lint import lint
    from .plugins import check as check_plugins
    from .spec.document import load_document
    from .spec.expand import expand
    from .spec.loader import location_of
    from .spec.references import check_references

    if input_size is not None:
        input_size = _size(input_size)
    check_plugins()
    doc = load_document(str(path), overrides, text)
    check_references(doc)
    graph = expand(doc, input_size)
    lint(graph, input_loc=location_of(doc.data["input"], "shape"))
    return graph


def _size(size) -> tuple[int, int]:
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in size)):
        raise SpecError(f"input_size is (height, width), two positive whole numbers; got {size!r:.60}")
    return int(size[0]), int(size[1])


def _checked(spec, overrides) -> Graph:
    """A linted graph: loaded from a spec path, or a Graph made elsewhere, linted again."""
    from .compiler.lint import lint

    if not isinstance(spec, Graph):
        return load(spec, overrides)
    lint(spec)
    return spec


def emit(spec, backend: str = DEFAULT_BACKEND, overrides: dict | None = None, flat: bool = False) -> str:
    """The Python source a backend writes for a spec (a path or a Graph); `flat=True` writes one
    line per node and no class per block, for debugging."""
    from .backends import get_backend

    impl = get_backend(backend)
    graph = _checked(spec, overrides)
    return impl.emit(graph, flat=True) if flat else impl.emit(graph)


def build(spec, backend: str = DEFAULT_BACKEND, overrides: dict | None = None, flat: bool = False):
    """A live model, loaded from exactly the source `emit` returns."""
    from .backends import get_backend

    graph = _checked(spec, overrides)
    impl = get_backend(backend)
    return impl.load(impl.emit(graph, flat=True) if flat else impl.emit(graph), graph)
