"""Adds primitive nodes to a Graph: applies an op's rules and locates any error at the spec item."""
from __future__ import annotations

from ..spec.errors import ShapeError, SpecError
from .ir import Graph, Node, Param
from .lint import name_problem
from .ops import REGISTRY

MAX_NODES = 100_000
_ARITY_HINT = {None: "join branches with a combinator (residual, parallel) or a dag node's merge",
               2: "write it as a dag node that reads two inputs: `from: [a, b], merge: mul`",
               3: "the highway combinator makes this op"}


class GraphBuilder:
    def __init__(self, name: str, input_name: str, input_shape: list[int]):
        self.graph = Graph(name, input_name, list(input_shape))

    def shape(self, value: str) -> list[int]:
        return self.graph.shape_of(value)

    def add(self, name: str, op: str, args: dict, inputs: list[str], loc=None) -> str:
        opdef = REGISTRY[op]
        problem = name_problem(name)
        if problem:
            raise SpecError(problem, loc, hint="names become weight keys such as layer1.0.conv1")
        if name in self.graph:
            first = self.graph.node(name).source if name != self.graph.input_name else "the input"
            raise SpecError(f"duplicate layer name '{name}' (first defined at {first})", loc,
                            hint="give one of them another name")
        if len(self.graph.nodes) >= MAX_NODES:
            raise SpecError(f"the network has more than {MAX_NODES:,} layers; netc stops here", loc,
                            hint="check repeat counts and stage tables")
        problem = opdef.arity_problem(len(inputs))
        if problem:
            raise SpecError(f"{name}: {problem}", loc, hint=_ARITY_HINT.get(opdef.arity))
        unknown = [a for a in args if a not in opdef.args]
        if unknown:
            raise SpecError(f"unknown argument '{unknown[0]}' for {op}", loc)
        in_shapes = [self.graph.shape_of(i) for i in inputs]
        try:
            attrs = opdef.resolve(args, in_shapes)
            shape = opdef.infer(attrs, in_shapes)
        except ShapeError as exc:
            owner = name[: -len(op) - 1] if name.endswith("." + op) else name
            raise ShapeError(f"{owner or name}: {exc.message}", loc, exc.hint) from None
        params = [Param(n, list(s), k) for n, s, k in opdef.params(attrs, in_shapes)]
        node = Node(name, op, list(inputs), attrs, list(shape), params,
                    int(opdef.macs(attrs, in_shapes, shape)), str(loc) if loc else "")
        self.graph.add(node)
        return name
