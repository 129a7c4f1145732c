"""`lint()`: the graph invariants every backend relies on, with messages that say what to fix."""
from __future__ import annotations

import re

from ..spec.errors import Location, SpecError
from .ir import Graph

NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")


class LintError(SpecError):
    pass


def lint(graph: Graph) -> None:
    seen = {graph.input_name}
    owners: dict[str, str] = {}
    for node in graph.nodes:
        loc = _where(node)
        if not NAME.match(node.name):
            raise LintError(f"node name '{node.name}' is not a dotted path of letters, digits and _",
                            loc)
        if node.name in seen:
            raise LintError(f"duplicate node name '{node.name}' (at {node.source}); "
                            "every layer needs its own name", loc, hint="rename one of them")
        for parent in _parents(node.name):
            if parent in seen and parent != graph.input_name:
                raise LintError(f"'{node.name}' is nested under '{parent}', which is itself a layer",
                                loc, hint=f"rename '{parent}' or this layer's enclosing level")
        owners[node.name] = node.source
        for src in node.inputs:
            if src not in seen:
                raise LintError(f"node '{node.name}' reads '{src}', which is not defined before it "
                                "(loops or disconnected nodes)", loc)
        seen.add(node.name)
    for out in graph.outputs:
        if out not in seen:
            raise LintError(f"graph output '{out}' is not a node")
    used = {src for n in graph.nodes for src in n.inputs} | set(graph.outputs)
    dangling = [n.name for n in graph.nodes if n.name not in used]
    if dangling:
        raise LintError(f"nodes whose output is never used: {', '.join(dangling[:5])}",
                        _where(graph.node(dangling[0])), hint="connect them or remove them")


def _where(node) -> Location | None:
    """The spec position a node was made at ("file:line:col", as the builder recorded it)."""
    file, _, rest = node.source.rpartition(":")
    file, _, line = file.rpartition(":")
    return Location(file, int(line), int(rest)) if line.isdigit() and rest.isdigit() else None


def _parents(name: str):
    parts = name.split(".")
    for i in range(1, len(parts)):
        yield ".".join(parts[:i])
