"""IR -> PyTorch source: classes per block (`structured`), or the flat form (`flat`)."""
from __future__ import annotations

from ...compiler.ir import Graph
from ..base import UnsupportedOp
from ..render import lit
from .flat import emit_flat
from .structured import emit_structured
from .tree import MODULE_ATTRS


def emit(graph: Graph, flat: bool = False) -> str:
    _check_module_names(graph)
    return emit_flat(graph) if flat else emit_structured(graph)


def _check_module_names(graph: Graph) -> None:
    """torch keeps child modules beside nn.Module's own attributes and refuses a child named like
    one of them (`forward`, `training`, `to`) or like its private state (`_modules`)."""
    for node in graph.nodes:
        clash = next((p for p in node.name.split(".") if p in MODULE_ATTRS or p.startswith("_")),
                     None)
        if clash is not None:
            raise UnsupportedOp(f"'{node.name}': torch cannot name a module '{clash}', which "
                                "nn.Module uses for its own attribute"
                                + ("s" if clash.startswith("_") else ""), node.location,
                                hint="rename the layer (names become weight keys)")


def module_ref(path: str) -> str:
    """An expression that reaches the module at IR name `path` from `self` in either form."""
    return f"self.get_submodule({lit(path)})"
