"""IR -> the flat form of Keras source (`netc build --flat`): one statement per node in one
`build_model`, no functions per block. For debugging: every layer sits where its node does."""
from __future__ import annotations

from ...compiler.ir import Graph
from ..base import Namer, last_uses
from ..render import lit
from .names import AuxNames, keras_name
from .submodels import sequential_expr, submodels
from .text import model_text, node_expr, shortcut_first


class _Variables:
    """Python variables for node values, named after the node's scope (`layer1_0`, top level
    `x`) and reused once the value they hold is dead; the model input keeps `inputs`."""

    def __init__(self, graph: Graph):
        self.namer = Namer(reserved=("inputs", "x", "keras", "layers", "ops"))
        position = {n.name: i for i, n in enumerate(graph.nodes)}
        end = len(graph.nodes)
        self.dies_at = {v: (end if reader is None else position[reader])
                        for v, reader in last_uses(graph).items()}
        self.dies_at[graph.input_name] = end  # `inputs` is read again by keras.Model(...)
        self.holds = {"inputs": graph.input_name}
        self.by_scope = {"": "x"}
        self.var = {graph.input_name: "inputs"}

    def assign(self, node, index: int, owner: str) -> str:
        name = self.by_scope.get(owner) or self.by_scope.setdefault(owner, self.namer(owner))
        held = self.holds.get(name)
        if held is not None and self.dies_at.get(held, -1) > index:
            name = self.namer(owner or "x")  # the scope's variable is still needed
        self.holds[name] = node.name
        self.var[node.name] = name
        return name


def emit_flat(graph: Graph) -> str:
    aux, helpers, body = AuxNames(graph), set(), []
    variables = _Variables(graph)
    var = variables.var
    scope, swapped = None, shortcut_first(graph)
    groups, inside = submodels(graph), set()

    def layer_expr(node, args):
        return node_expr(graph, node, args, aux, helpers, node.name in swapped)

    for index, node in enumerate(graph.nodes):
        if node.name in inside:
            continue
        sub = groups.get(node.name)
        if sub is not None:  # written once, as its last node's value
            expr = sequential_expr(graph, sub, var[node.inputs[0]], layer_expr)
            inside.update(sub.nodes)
            node, index = graph.node(sub.nodes[-1]), index + len(sub.nodes) - 1
        else:
            expr = layer_expr(node, [var[i] for i in node.inputs])
        owner = node.name.rsplit(".", 1)[0] if "." in node.name else ""
        if owner != scope and owner:
            body.append(f"# {owner}")
        scope = owner
        body.append(f"{variables.assign(node, index, owner)} = {expr}")
    outputs = ", ".join(var[o] for o in graph.outputs)
    outputs = outputs if len(graph.outputs) == 1 else f"[{outputs}]"
    body.append(f"return keras.Model(inputs, {outputs}, name={lit(keras_name(graph.name))})")
    return model_text(graph, body, helpers, "")
