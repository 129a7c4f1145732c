"""IR -> PyTorch source: classes per block (`structured`), or the flat form (`flat`)."""
from __future__ import annotations

from ...compiler.ir import Graph
from ..render import lit
from .flat import emit_flat
from .structured import emit_structured


def emit(graph: Graph, flat: bool = False) -> str:
    return emit_flat(graph) if flat else emit_structured(graph)


def module_ref(path: str) -> str:
    """An expression that reaches the module at IR name `path` from `self` in either form."""
    return f"self.get_submodule({lit(path)})"
