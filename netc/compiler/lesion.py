"""Remove residual blocks' bodies from a graph: the lesion study of Veit et al. 2016.

A lesioned block passes only its shortcut: its merge node becomes an identity of the shortcut,
and the nodes that fed nothing else but the body are dropped. The result is an ordinary graph,
so every backend builds it, and the intact model's weights load into it (minus the body's).
"""
from __future__ import annotations

import copy

from ..spec.errors import SpecError, did_you_mean
from .ir import Graph


def deletable_blocks(graph: Graph) -> list[str]:
    """Residual blocks whose removal keeps shapes: an identity shortcut merged by add."""
    return [r["name"] for r in graph.meta.get("residuals", [])
            if r["kind"] == "add" and r["shortcut"] == r["input"]]


def lesion(graph: Graph, names) -> Graph:
    blocks = {r["name"]: r for r in graph.meta.get("residuals", [])}
    allowed = set(deletable_blocks(graph))
    out = copy.deepcopy(graph)
    merges = {}
    for name in names:
        if name not in allowed:
            raise SpecError(f"'{name}' is not a residual block with an identity shortcut",
                            hint=did_you_mean(name, allowed))
        merges[blocks[name]["merge"]] = blocks[name]["shortcut"]
    for node in out.nodes:
        if node.name in merges:
            node.op, node.inputs, node.attrs, node.params, node.macs = \
                "identity", [merges[node.name]], {}, [], 0
    return Graph(out.name, out.input_name, out.input_shape, _live(out), out.outputs, out.meta)


def _live(graph: Graph):
    needed = set(graph.outputs)
    keep = []
    for node in reversed(graph.nodes):
        if node.name in needed:
            keep.append(node)
            needed.update(node.inputs)
    return keep[::-1]
