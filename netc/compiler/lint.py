"""`lint()`: the graph invariants every backend relies on, with messages that say what to fix.

A graph is linted before any backend sees it, whether expansion made it or it was read from a
file: names are dotted identifiers, every op is registered and gets its number of inputs, every
attribute has its op's declared type and range, and each node's shape, parameters and MACs are
what the op's rules give for its attributes and inputs. A graph that passes holds nothing but
plain, checked values, so no text can travel from it into emitted source.
"""
from __future__ import annotations

import keyword
import math
import re

from ..spec.errors import Location, ShapeError, SpecError
from .ops.attr_types import (MAX_CHANNELS, MAX_INPUT_ELEMENTS, MAX_NODE_ELEMENTS, MAX_PARAMS,
                             MAX_SPATIAL)
from .ir import Graph, Node
from .ops import REGISTRY

# A part of a layer name: letters, digits and _, in runs joined by single dashes (torchvision's
# RegNet names its blocks `block1-0`), so a dash never starts or ends a part and never doubles.
_PART = re.compile(r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class LintError(SpecError):
    pass


def name_problem(name) -> str | None:
    """Why `name` cannot name a layer (a weight key such as layer1.0.conv1); None if it can."""
    if not isinstance(name, str):
        return f"a layer name must be text, found {type(name).__name__}"
    shown = repr(name)[1:-1][:60]
    for part in name.split("."):
        if not _PART.fullmatch(part):
            return (f"layer name '{shown}' is not a dotted path of letters, digits and _ "
                    "(with single dashes inside a part)")
        if keyword.iskeyword(part):
            return f"layer name '{shown}' uses the Python keyword '{part}'"
        if part.startswith("__") and part.endswith("__"):
            return f"layer name '{shown}' uses '{part}', a name Python reserves"
    return None


def lint(graph: Graph, origin: str | None = None, input_loc: Location | None = None) -> None:
    """Raise a LintError at the first broken invariant. `origin` names the file a graph was read
    from; its errors are located there rather than at the spec positions the file claims.
    `input_loc` is where a spec declared the input, for errors about the input's shape."""
    _check_graph(graph, _at(origin) or input_loc)
    seen = {graph.input_name}
    total = 0
    for node in graph.nodes:
        loc = Location(origin, 0, 0) if origin else node.location
        problem = name_problem(node.name)
        if problem:
            raise LintError(problem, loc, hint="names become weight keys such as layer1.0.conv1")
        if node.name in seen:
            raise LintError(f"duplicate node name '{node.name}' (at {node.source}); "
                            "every layer needs its own name", loc, hint="rename one of them")
        for parent in _parents(node.name):
            if parent in seen and parent != graph.input_name:
                raise LintError(f"'{node.name}' is nested under '{parent}', which is itself a layer",
                                loc, hint=f"rename '{parent}' or this layer's enclosing level")
        for src in node.inputs:
            if src not in seen:
                raise LintError(f"node '{node.name}' reads '{src}', which is not defined before it "
                                "(loops or disconnected nodes)", loc)
        _check_node(graph, node, loc)
        total += node.param_count()
        if total > MAX_PARAMS:
            raise LintError(f"the network passes {MAX_PARAMS:,} parameters at '{node.name}'", loc,
                            hint="check the widths and repeat counts")
        seen.add(node.name)
    for out in graph.outputs:
        if out not in seen:
            raise LintError(f"graph output '{out}' is not a node", _at(origin))
    _check_blocks(graph, _at(origin))
    used = {src for n in graph.nodes for src in n.inputs} | set(graph.outputs)
    dangling = [n.name for n in graph.nodes if n.name not in used]
    if dangling:
        raise LintError(f"nodes whose output is never used: {', '.join(dangling[:5])}",
                        _at(origin) or graph.node(dangling[0]).location,
                        hint="connect them or remove them")


def _check_graph(graph: Graph, loc) -> None:
    for what, value in (("network name", graph.name), ("input name", graph.input_name)):
        if not isinstance(value, str) or not _IDENT.fullmatch(value) or keyword.iskeyword(value):
            raise LintError(f"the {what} {value!r:.60} is not an identifier", loc)
    shape = graph.input_shape
    if (not isinstance(shape, list) or len(shape) not in (1, 3)
            or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape)):
        raise LintError(f"the input shape {shape!r:.60} is not [features] or [C, H, W]", loc)
    elements = 1
    for d in shape:
        elements *= d
    if shape[0] > MAX_CHANNELS or max(shape[1:], default=0) > MAX_SPATIAL \
            or elements > MAX_INPUT_ELEMENTS:
        raise LintError(f"the input shape {'x'.join(map(str, shape))} is beyond netc's limits "
                        f"({MAX_CHANNELS:,} channels, {MAX_SPATIAL:,} pixels a side, "
                        f"{MAX_INPUT_ELEMENTS:,} values)", loc)
    if not graph.outputs or not all(isinstance(o, str) for o in graph.outputs):
        raise LintError("the graph names no outputs", loc)


def _check_blocks(graph: Graph, loc) -> None:
    """meta["blocks"]: each entry names a block (an identifier), the namespace of its instance
    (a prefix of some node's name) and its arguments (identifiers -> plain finite values); a
    block of several inputs also the values its call gave and their names (identifiers)."""
    entries = graph.meta.get("blocks", []) if isinstance(graph.meta, dict) else None
    if not isinstance(entries, list):
        raise LintError("meta 'blocks' is not a list", loc)
    levels = {p for n in graph.nodes for p in _parents(n.name)}
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) - _INPUT_KEYS != {"block", "name", "args"}:
            raise LintError("a meta 'blocks' entry is not {block, name, args}", loc)
        _check_block_inputs(graph, entry, loc)
        block, name, args = entry["block"], entry["name"], entry["args"]
        if not _is_ident(block):
            raise LintError(f"meta 'blocks' names the block {block!r:.60}, not an identifier", loc)
        if not isinstance(name, str) or not (name in levels or name in graph):
            raise LintError(f"meta 'blocks' names the instance {name!r:.60}, which is no level "
                            "of the graph's layer names", loc)
        if not isinstance(args, dict):
            raise LintError(f"meta 'blocks' entry '{name}' has arguments that are not a mapping",
                            loc)
        for key, value in args.items():
            plain = isinstance(value, (bool, int, str)) or (
                isinstance(value, float) and math.isfinite(value))
            if not _is_ident(key) or not plain:
                raise LintError(f"meta 'blocks' entry '{name}' has the argument {key!r:.40} = "
                                f"{value!r:.40}; arguments are identifiers with plain values", loc)


_INPUT_KEYS = {"inputs", "input_names"}


def _check_block_inputs(graph: Graph, entry: dict, loc) -> None:
    if not _INPUT_KEYS & set(entry):
        return
    inputs, names = entry.get("inputs"), entry.get("input_names")
    if not (isinstance(inputs, list) and isinstance(names, list) and len(inputs) == len(names) >= 2
            and all(isinstance(v, str) and (v == graph.input_name or v in graph) for v in inputs)
            and all(_is_ident(n) for n in names)):
        raise LintError(f"meta 'blocks' entry '{entry['name']!s:.60}' gives inputs that are not "
                        "values of the graph with identifiers for names", loc)


def _is_ident(value) -> bool:
    return isinstance(value, str) and bool(_IDENT.fullmatch(value)) and not keyword.iskeyword(value)


def _check_node(graph: Graph, node: Node, loc) -> None:
    opdef = REGISTRY.get(node.op) if isinstance(node.op, str) else None
    if opdef is None:
        raise LintError(f"node '{node.name}' has the unknown op {node.op!r:.40}", loc)
    problem = opdef.arity_problem(len(node.inputs))
    if problem:
        raise LintError(f"{node.name}: {problem}", loc)
    if not isinstance(node.attrs, dict) or set(node.attrs) != set(opdef.attrs):
        found = sorted(map(str, node.attrs)) if isinstance(node.attrs, dict) else node.attrs
        raise LintError(f"{node.name}: {node.op} has attributes {sorted(opdef.attrs)}, "
                        f"found {found!r:.80}", loc)
    for attr, kind in opdef.attrs.items():
        problem = kind.problem(node.attrs[attr])
        if problem:
            raise LintError(f"{node.name}: {node.op} attribute '{attr}': {problem}", loc)
    in_shapes = [graph.shape_of(i) for i in node.inputs]
    try:
        shape = opdef.infer(node.attrs, in_shapes)
        params = [[n, list(s), k] for n, s, k in opdef.params(node.attrs, in_shapes)]
        macs = int(opdef.macs(node.attrs, in_shapes, shape))
    except ShapeError as exc:
        raise LintError(f"{node.name}: {exc.message}", loc) from None
    elements = 1
    for d in shape:
        elements *= d
    if elements > MAX_NODE_ELEMENTS:
        raise LintError(f"{node.name}: its output {'x'.join(map(str, shape))} holds {elements:,} "
                        f"values per sample, past netc's limit of {MAX_NODE_ELEMENTS:,}", loc,
                        hint="check the input size and the widths")
    held = [[p.name, p.shape, p.kind] for p in node.params]
    if node.shape != shape or held != params or node.macs != macs:
        raise LintError(f"{node.name}: its shape, parameters or MACs are not what {node.op} "
                        f"gives for its attributes and inputs", loc)


def _at(origin) -> Location | None:
    return Location(origin, 0, 0) if origin else None


def _parents(name: str):
    parts = name.split(".")
    for i in range(1, len(parts)):
        yield ".".join(parts[:i])
