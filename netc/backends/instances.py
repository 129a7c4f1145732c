"""Block instances in an IR graph, and the scopes an emitter writes one class or function for.

Expansion records every block instance in `graph.meta["blocks"]` ({block, name, args}). An
instance an emitter can write as one class is one whose layers are exactly the nodes under its
name, contiguous in the graph's order, reading one value from outside (or, for a block that
declares several `inputs:`, only the values its call gave) and giving one value to the rest of
the graph. Instances that are not (a tampered or flat-numbered meta, a block whose body
reaches outside) are written inline, node by node: the meta only ever groups nodes, it never adds
text to the emitted source.

A `Scope` is the model itself or one instance: its own nodes plus its child instances, in order.
"""
from __future__ import annotations

import keyword
from dataclasses import dataclass, field

from ..compiler.ir import Graph, Node

_KIND = (bool, int, float, str)


@dataclass
class Instance:
    block: str
    name: str  # the instance's namespace; its layers are `name.*`
    args: dict  # block parameter -> plain value, as the spec bound them
    start: int  # node index range [start, stop)
    stop: int
    inputs: list[str]  # the values it reads from outside, in its call's order
    output: str  # the one node the rest of the graph reads
    in_shape: list[int]  # the first input's
    children: list["Instance"] = field(default_factory=list)
    input_names: list[str] = field(default_factory=list)  # a block's declared input names

    @property
    def input(self) -> str:
        return self.inputs[0]

    def local(self, name: str) -> str:
        return name[len(self.name) + 1:]


@dataclass
class Item:
    """One step of a scope's forward: a node of its own, or a child instance called whole."""
    local: str  # name relative to the scope
    inputs: list[str]
    output: str
    node: Node | None = None
    instance: Instance | None = None


@dataclass
class Scope:
    prefix: str  # "" for the model
    inputs: list[str]
    output: list[str]
    items: list[Item]
    input_names: list[str] = field(default_factory=list)

    @property
    def input(self) -> str:
        return self.inputs[0]

    def local(self, name: str) -> str:
        return name[len(self.prefix) + 1:] if self.prefix else name

    def input_variables(self, reserved) -> list[str]:
        """The forward's (or function's) argument per input: `x`, then each declared name that
        is a free identifier (`p`), else x1, x2, ..."""
        names = ["x"]
        for k in range(1, len(self.inputs)):
            name = self.input_names[k] if k < len(self.input_names) else None
            if not _is_ident(name) or name in reserved or name in names:
                name = next(f"x{n}" for n in range(k, k + len(self.inputs) + 1)
                            if f"x{n}" not in names and f"x{n}" not in reserved)
            names.append(name)
        return names


def find_instances(graph: Graph) -> list[Instance]:
    """The well-formed instances, nested: the top level's, each holding its children."""
    spans = _spans(graph)
    last_read = {}  # value -> index of the last node that reads it; outputs are read after all
    for i, node in enumerate(graph.nodes):
        for src in node.inputs:
            last_read[src] = i
    for out in graph.outputs:
        last_read[out] = len(graph.nodes)
    found = []
    for entry in graph.meta.get("blocks", []) if isinstance(graph.meta, dict) else []:
        instance = _instance(graph, entry, spans, last_read)
        if instance is not None:
            found.append(instance)
    found.sort(key=lambda i: (i.start, -i.stop))
    top, stack = [], []
    for instance in found:
        while stack and not _inside(instance, stack[-1]):
            stack.pop()
        if stack and stack[-1].start == instance.start and stack[-1].stop == instance.stop:
            continue  # the same layers twice (a block whose body is one block): keep the outer
        (stack[-1].children if stack else top).append(instance)
        stack.append(instance)
    return top


def _inside(inner: Instance, outer: Instance) -> bool:
    return (outer.start <= inner.start and inner.stop <= outer.stop
            and inner.name.startswith(outer.name + "."))


def _spans(graph: Graph) -> dict[str, list[int]]:
    """Every level of the node names -> [first index, last index + 1, count]."""
    spans: dict[str, list[int]] = {}
    for i, node in enumerate(graph.nodes):
        parts = node.name.split(".")
        for k in range(1, len(parts)):
            span = spans.setdefault(".".join(parts[:k]), [i, i + 1, 0])
            span[1] = i + 1
            span[2] += 1
    return spans


def _instance(graph: Graph, entry, spans, last_read) -> Instance | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        return None
    name, block, args = entry["name"], entry.get("block"), entry.get("args")
    span = spans.get(name)
    if span is None or not _is_ident(block) or not isinstance(args, dict):
        return None
    start, stop, count = span
    if stop - start != count:
        return None  # interleaved with other layers
    inside = {n.name for n in graph.nodes[start:stop]}
    outside = {src for n in graph.nodes[start:stop] for src in n.inputs if src not in inside}
    read = {name for name in inside if last_read.get(name, -1) >= stop}
    inputs = _given_inputs(graph, entry, outside)
    if inputs is None or len(read) != 1:
        return None
    plain = {k: v for k, v in args.items() if isinstance(k, str) and isinstance(v, _KIND)}
    names = entry.get("input_names")
    names = [n if _is_ident(n) else "" for n in names] if isinstance(names, list) else []
    return Instance(block, name, plain, start, stop, inputs, next(iter(read)),
                    list(graph.shape_of(inputs[0])), input_names=names)


def _given_inputs(graph: Graph, entry: dict, outside: set) -> list[str] | None:
    """The values an instance reads, in order: the one it reads from outside, or those its call
    gave a block of several inputs (which may leave one unread, or give one value twice)."""
    given = entry.get("inputs")
    if given is None:
        return list(outside) if len(outside) == 1 else None
    if not isinstance(given, list) or len(given) < 2 or not all(
            isinstance(v, str) and (v == graph.input_name or v in graph) for v in given):
        return None
    return list(given) if outside <= set(given) else None


def _is_ident(value) -> bool:
    return isinstance(value, str) and value.isidentifier() and value.isascii() \
        and not keyword.iskeyword(value)


def model_scope(graph: Graph, top: list[Instance]) -> Scope:
    return Scope("", [graph.input_name], list(graph.outputs), _items(graph, 0, len(graph.nodes),
                                                                    top, ""))


def instance_scope(graph: Graph, instance: Instance) -> Scope:
    items = _items(graph, instance.start, instance.stop, instance.children, instance.name)
    return Scope(instance.name, list(instance.inputs), [instance.output], items,
                 list(instance.input_names))


def _items(graph: Graph, start: int, stop: int, children: list[Instance],
           prefix: str) -> list[Item]:
    local = (lambda name: name[len(prefix) + 1:]) if prefix else (lambda name: name)
    items, i, queue = [], start, list(children)
    while i < stop:
        if queue and queue[0].start == i:
            child = queue.pop(0)
            items.append(Item(local(child.name), list(child.inputs), child.output, instance=child))
            i = child.stop
            continue
        node = graph.nodes[i]
        items.append(Item(local(node.name), list(node.inputs), node.name, node=node))
        i += 1
    return items


def all_instances(top: list[Instance]):
    """Every instance, children before their parent."""
    for instance in top:
        yield from all_instances(instance.children)
        yield instance
