"""IR -> readable Keras 3 source: a functional `keras.Model`, channels-last, one layer per node,
written as one function per block (`structured`) or, with `flat`, one statement per node."""
from __future__ import annotations

from ...compiler.ir import Graph
from .flat import emit_flat
from .names import ir_name, keras_name
from .structured import emit_structured
from .text import DEEP_GRAPH

__all__ = ["emit", "keras_name", "ir_name", "DEEP_GRAPH"]


def emit(graph: Graph, flat: bool = False) -> str:
    return emit_flat(graph) if flat else emit_structured(graph)
