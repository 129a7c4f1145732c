"""IR -> the flat form of PyTorch source (`netc build --flat`): one module per weighted node at its
IR path in nn.ModuleDicts, one forward line per node, no classes per block. For debugging: every
node's value has a variable of its own."""
from __future__ import annotations

from ...compiler.ir import Graph
from ..base import Namer, UnsupportedOp, at_node, last_uses
from ..render import ident, lit
from .init import init_helpers, init_lines
from .text import module_text
from .ops import EMITTERS, HELPERS, INPLACE_OPS, INPLACE_SAFE_PRODUCERS, model_class


def flat_ref(path: str) -> str:
    head, *rest = path.split(".")
    ref = f"self.{ident(head)}" if head.isidentifier() else f"getattr(self, {lit(head)})"
    return ref + "".join(f"[{lit(part)}]" for part in rest)


def _nested_parameter(node) -> bool:
    """A node that is itself a parameter (ViT's encoder.pos_embedding) inside an nn.ModuleDict,
    which holds it as an attribute rather than an item."""
    return "." in node.name and any(not p.name for p in node.params)


class _Tree:
    """Emits the nn.ModuleDict containers a dotted path needs, each once."""

    def __init__(self):
        self.made: set[str] = set()
        self.lines: list[str] = []

    def put(self, path: str, ctor: str, parameter: bool = False):
        parts = path.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix not in self.made:
                self.made.add(prefix)
                self.lines.append(self._assign(prefix, "nn.ModuleDict()"))
        if parameter:  # see _nested_parameter
            parent, _, leaf = path.rpartition(".")
            self.lines.append(f"{flat_ref(parent)}.register_parameter({lit(leaf)}, {ctor})")
        else:
            self.lines.append(self._assign(path, ctor))

    @staticmethod
    def _assign(path: str, value: str) -> str:
        if "." in path or path.isidentifier():
            return f"{flat_ref(path)} = {value}"
        return f"self.add_module({lit(path)}, {value})"


def emit_flat(graph: Graph) -> str:
    namer, tree, body = Namer(), _Tree(), []
    var = {graph.input_name: "x"}
    producer = {}
    last = last_uses(graph)
    scope = None
    used_helpers = set()
    for node in graph.nodes:
        emitter = EMITTERS.get(node.op)
        if emitter is None:
            raise UnsupportedOp(f"the torch backend has no emitter for op '{node.op}' ({node.name})",
                                 node.location)
        first = node.inputs[0]
        dies = last.get(first) == node.name and node.inputs.count(first) == 1
        inplace = dies and node.op in INPLACE_OPS and producer.get(first) in INPLACE_SAFE_PRODUCERS
        with at_node(node):
            parent, _, leaf = node.name.rpartition(".")
            ref = (f"getattr({flat_ref(parent)}, {lit(leaf)})" if _nested_parameter(node)
                   else flat_ref(node.name))
            ctor, expr = emitter(node, ref, [var[i] for i in node.inputs], inplace)
        if ctor is not None:
            tree.put(node.name, ctor, parameter=_nested_parameter(node))
        used_helpers.update(h for h in HELPERS if h == node.op or (ctor or "").startswith(h + "("))
        owner = node.name.rsplit(".", 1)[0] if "." in node.name else ""
        out = var[first] if dies else namer(owner or node.name)
        if owner != scope and owner:
            body.append(f"# {owner}")
        scope = owner
        body.append(f"{out} = {expr}")
        var[node.name], producer[node.name] = out, node.op
    outputs = ", ".join(var[o] for o in graph.outputs)
    body.append(f"return {outputs}")
    return _module_text(graph, tree.lines + init_lines(graph), body,
                        [HELPERS[h] for h in sorted(used_helpers)] + init_helpers(graph))


def _module_text(graph, init_lines, forward_lines, helpers) -> str:
    cls = model_class(graph.name)
    init = "\n".join("        " + line for line in init_lines) or "        pass"
    forward = "\n".join("        " + line for line in forward_lines)
    classes = f"""
class {cls}(nn.Module):
    def __init__(self):
        super().__init__()
{init}

    def forward(self, x):
{forward}
"""
    return module_text(graph, helpers, classes, cls)
