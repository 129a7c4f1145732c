"""Keras layer names for IR nodes, and unique names for a node's auxiliary layers.

Layer names are IR names with '.' written as '-': Keras accepts dots, but its torch backend keys
variables by layer name in a torch ParameterDict, which refuses them. The mapping is reversible
because IR names are dotted paths of letters, digits and '_' (the builder checks); `keras_name`
refuses a hand-made name with '-' or '/' (Keras's path separator) rather than alias it.
"""
from __future__ import annotations

from ...compiler.ir import Graph
from ..base import UnsupportedOp

SEP = "-"  # what '.' becomes in a layer name


def keras_name(ir_name: str) -> str:
    if "-" in ir_name or "/" in ir_name:
        raise UnsupportedOp(f"'{ir_name}': the Keras backend writes node names with '.' as '-', so "
                            "a node name may not contain '-' or '/'",
                            hint="rename the node with letters, digits, '_' and '.'")
    return ir_name.replace(".", SEP)


def ir_name(layer_name: str) -> str:
    return layer_name.replace(SEP, ".")


class AuxNames:
    """Unique Keras names for a node's auxiliary layers (its explicit ZeroPadding2D): the layer's
    name and a suffix, so they stay under the node's block."""

    def __init__(self, graph: Graph):
        self.used = {keras_name(n.name) for n in graph.nodes} | {keras_name(graph.input_name)}

    def for_node(self, layer: str):
        def make(suffix: str) -> str:
            name, i = f"{layer}_{suffix}", 1
            while name in self.used:
                i += 1
                name = f"{layer}_{suffix}{i}"
            self.used.add(name)
            return name
        return make
