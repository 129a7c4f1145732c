"""Keras layer names for IR nodes, and unique names for a node's auxiliary layers.

Layer names are IR names with each '-' written as '--' and then each '.' as '-': Keras accepts
dots, but its torch backend keys variables by layer name in a torch ParameterDict, which refuses
them. IR names are dotted paths whose parts are runs of letters, digits and '_' joined by single
dashes (lint's `name_problem`), so a dash never starts, ends or doubles inside a part; a layer
name's runs of dashes are then one dash (a '.') or two (a '-'), and the mapping is reversible.
Names without dashes keep their old layer names. `keras_name` refuses a hand-made name with '/'
(Keras's path separator), an empty part, or dashes that are not single and inside a part,
rather than alias it.
"""
from __future__ import annotations

import re

from ...compiler.ir import Graph
from ..base import UnsupportedOp

SEP = "-"  # what '.' becomes in a layer name
DASH = "--"  # what '-' becomes in a layer name
_DASH_RUN = re.compile(r"--|-")


def keras_name(ir_name: str) -> str:
    if "/" in ir_name or not all(_mappable(part) for part in ir_name.split(".")):
        raise UnsupportedOp(f"'{ir_name}': the Keras backend writes node names with '-' as '--' "
                            "and '.' as '-', so a name may not contain '/', its dotted parts may "
                            "not be empty, and its dashes must be single and inside a part",
                            hint="join letters, digits and '_' with single dashes inside a part")
    return ir_name.replace("-", DASH).replace(".", SEP)


def _mappable(part: str) -> bool:
    return part != "" and not part.startswith("-") and not part.endswith("-") and DASH not in part


def ir_name(layer_name: str) -> str:
    return _DASH_RUN.sub(lambda m: "-" if m.group() == DASH else ".", layer_name)


def is_under(layer_name: str, prefix: str) -> bool:
    """Whether `layer_name` names a layer under the block whose layer name is `prefix` (a '.'
    after it, not a '-' of a longer part)."""
    rest = layer_name[len(prefix):]
    return layer_name.startswith(prefix) and rest.startswith(SEP) and not rest.startswith(DASH)


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
