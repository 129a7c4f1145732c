"""IR -> PyTorch source that reads like torchvision's: one nn.Module class per block (and per
structural variant of it), constructor arguments for what differs between its instances, stage
tables as loops, and a forward whose intermediates die with their last reader.

Each instance is written once with holes for its values (`render.holes`); instances of a block
whose texts agree share a class, and `generalise` turns the holes into literals or expressions
over the class's arguments. Instances are handled innermost first, so a class's text already holds
its children's constructor calls.
"""
from __future__ import annotations

import keyword
import re
from collections import defaultdict
from dataclasses import dataclass, field

from ...compiler.ir import Graph
from ..base import Namer, UnsupportedOp, at_node, class_name
from ..generalise import Generalised, generalise, quantities
from ..instances import Instance, Scope, all_instances, find_instances, instance_scope, model_scope
from ..render import holes, ident, lit
from .init import init_helpers, init_lines
from .ops import EMITTERS, HELPER_CLASSES, HELPERS, INPLACE_OPS, INPLACE_SAFE_PRODUCERS, model_class
from .text import module_text
from .tree import (MODULE_ATTRS, Call, Group, Leaf, Tree, constructor, layout, reference, safe_attr,
                   self_parts)

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

RESERVED = ("self", "x", "i", "_", "torch", "nn", "F", "super", "str", "range", "layer")


@dataclass
class Body:
    """A scope written out: its module tree, forward lines, and the helpers its ops need."""
    tree: Tree
    forward: list[str]
    helpers: set = field(default_factory=set)


@dataclass
class Variant:
    name: str
    block: str
    instances: list[Instance]
    bodies: list[Body]
    matrix: list[list]
    sections: tuple = ()


class _Writer:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.top = find_instances(graph)
        self.top_ids = {id(i) for i in self.top}
        self.calls: dict[str, Call] = {}  # instance name -> how its parent constructs it
        self.output_op = {}  # instance name -> op of its output node
        self.helpers: set = set()
        self.classes: list[str] = []
        self.class_names = Namer(reserved=(*RESERVED, *HELPER_CLASSES, model_class(graph.name)))

    def run(self) -> str:
        by_height = defaultdict(list)
        for instance in all_instances(self.top):
            by_height[_height(instance)].append(instance)
        for height in sorted(by_height):
            self.write_classes(by_height[height])
        body = self.body(model_scope(self.graph, self.top), in_class=False)
        self.helpers |= body.helpers
        return body

    # -- classes ------------------------------------------------------------------------------

    def write_classes(self, instances: list[Instance]) -> None:
        groups: dict[tuple, Variant] = {}
        for instance in instances:
            with holes() as values:
                body = self.body(instance_scope(self.graph, instance), in_class=True)
                sections = _class_sections(body)
            key = (instance.block, *sections)
            if key not in groups:
                groups[key] = Variant("", instance.block, [], [], [], sections)
            variant = groups[key]
            variant.instances.append(instance)
            variant.bodies.append(body)
            variant.matrix.append(values)
        keys = {id(v): [item.local.split(".")[0]
                        for item in instance_scope(self.graph, v.instances[0]).items]
                for v in groups.values()}
        common: dict[str, set] = {}
        for variant in groups.values():
            shared = common.setdefault(variant.block, set(keys[id(variant)]))
            shared &= set(keys[id(variant)])
        for variant in groups.values():
            extra = [k for k in keys[id(variant)] if k not in common[variant.block]]
            variant.name = self.class_names(class_name(variant.block)
                                            + (class_name(extra[0]) if extra else ""))
            self.finish(variant)

    def finish(self, variant: Variant) -> None:
        self.helpers |= variant.bodies[0].helpers
        named = quantities(variant.instances, lambda i: i.args, lambda i: i.in_shape[0])
        init, forward, base = variant.sections
        general = generalise(init + "\n" + forward, variant.matrix, named,
                             reserved=(*RESERVED, *self.class_names.used))
        attrs = Namer(reserved=(*variant.bodies[0].tree.children, *MODULE_ATTRS))
        used_in_forward = {a for e in _exprs_in(forward, general) for a in e.arguments()}
        stored = {a.name: attrs(a.name) for a in general.arguments if a.name in used_in_forward}
        params = ", ".join(["self"] + [ident(a.name) + (f"={lit(a.default)}" if a.has_default
                                                        else "") for a in general.arguments])
        store = "".join(f"\n        self.{ident(attr)} = {ident(arg)}"
                        for arg, attr in stored.items())
        init_text = general.fill(init, {a.name: a.name for a in general.arguments})
        forward_text = general.fill(forward, {a.name: f"self.{ident(stored.get(a.name, a.name))}"
                                              for a in general.arguments})
        inputs = instance_scope(self.graph, variant.instances[0]).input_variables(VARIABLE_RESERVED)
        text = (f"class {ident(variant.name)}({base}):\n"
                f'    """The spec\'s block `{ident(variant.block)}`."""\n\n'
                f"    def __init__({params}):\n{init_text}{store}\n\n"
                f"    def forward(self, {', '.join(map(ident, inputs))}):\n{forward_text}\n")
        self.classes.append(text)
        for k, instance in enumerate(variant.instances):
            top = id(instance) in self.top_ids
            self.calls[instance.name] = Call(variant.name, general.call_values(k) if top else
                                             {a.name: a.values[k] for a in general.arguments})
            self.output_op[instance.name] = self.graph.node(instance.output).op

    # -- one scope ----------------------------------------------------------------------------

    def body(self, scope: Scope, in_class: bool) -> Body:
        tree, helpers = Tree(), set()
        has_module = {}
        for item in scope.items:
            parts = item.local.split(".")
            if item.instance is not None:
                tree.put(parts, self.calls[item.instance.name])
            else:
                ctor = self._ctor(item.node)
                has_module[item.local] = ctor is not None
                helpers.update(h for h in HELPERS
                               if h == item.node.op or (ctor or "").startswith(h + "("))
                if (ctor or "").startswith("nn.Parameter(") and (len(parts) > 1 or parts[0].isdigit()):
                    raise UnsupportedOp(f"{item.node.name}: torch holds a parameter node as an "
                                        "attribute, so it needs a name of its own directly in a "
                                        "block or at the top level", item.node.location)
                if ctor is not None:
                    tree.put(parts, Leaf(ctor))
        forward = _Forward(self, scope, tree, in_class, has_module, helpers).lines()
        return Body(tree, forward, helpers)

    def _ctor(self, node):
        emitter = EMITTERS.get(node.op)
        if emitter is None:
            raise UnsupportedOp(f"the torch backend has no emitter for op '{node.op}' "
                                f"({node.name})", node.location)
        with at_node(node):
            ctor, _ = emitter(node, "m", ["v"] * len(node.inputs), False)
        return ctor


class _Forward:
    """The forward lines of a scope: one per node or child call, a loop or call per chain of
    child instances that fills a whole container."""

    def __init__(self, writer, scope: Scope, tree: Tree, in_class: bool, has_module, helpers):
        self.w, self.scope, self.tree, self.in_class = writer, scope, tree, in_class
        self.has_module, self.helpers = has_module, helpers
        self.var, self.live = {}, {}  # value -> its variable; variable -> the value it holds
        for value, name in zip(scope.inputs, scope.input_variables(VARIABLE_RESERVED)):
            self.var.setdefault(value, name)  # a value given twice is read through its first
            self.live.setdefault(name, value)
        self.producer = {}

    def lines(self) -> list[str]:
        items, out = self.scope.items, []
        last = {}
        for k, item in enumerate(items):
            for src in item.inputs:
                last[src] = k
        for o in self.scope.output:
            last[o] = len(items)
        self.last = last
        k = 0
        while k < len(items):
            chain = self._chain(k)
            if chain:
                out += self._chain_lines(k, chain)
                k += chain[1]
                continue
            out.append(self._item_line(k, items[k]))
            k += 1
        outputs = ", ".join(self.var[o] for o in self.scope.output)
        out.append(f"return {outputs}")
        return out

    def _item_line(self, k, item) -> str:
        if item.instance is not None:
            args = ", ".join(self.var[i] for i in item.inputs)
            expr = f"{reference(self.tree, item.local.split('.'))}({args})"
            self.producer[item.output] = self.w.output_op[item.instance.name]
        else:
            node = item.node
            first = node.inputs[0]
            dies = self.last.get(first) == k and node.inputs.count(first) == 1
            inplace = (dies and node.op in INPLACE_OPS and first not in self.scope.inputs
                       and self.producer.get(first) in INPLACE_SAFE_PRODUCERS)
            parts = item.local.split(".")
            ref = reference(self.tree, parts) if self.has_module[item.local] else None
            with at_node(node):
                _, expr = EMITTERS[node.op](node, ref, [self.var[i] for i in node.inputs], inplace)
            self.producer[item.output] = node.op
        return f"{self._assign(k, item)} = {expr}"

    def _assign(self, k, item) -> str:
        first = item.inputs[0]
        if self.last.get(first) == k and item.inputs.count(first) == 1:
            name = self.var[first]
        else:
            own = "out" if self.in_class else "x"
            name = self._free(own, k, exact=True) or self._free(item.local.split(".")[0], k)
        self.var[item.output] = name
        self.live[name] = item.output
        return name

    def _free(self, base: str, k: int, exact: bool = False) -> str | None:
        """`base`, `base_2`, ...: the first that holds no value still to be read (`exact`: only
        `base`, or None). A layer name's dashes (RegNet's `block1-0`) become underscores."""
        base = base.replace("-", "_")
        if not _IDENT.fullmatch(base) or keyword.iskeyword(base) or base in VARIABLE_RESERVED:
            base = f"v_{base}"
        n = 1
        while True:
            name = base if n == 1 else f"{base}_{n}"
            held = self.live.get(name)
            if held is None or self.last.get(held, -1) < k:
                return ident(name)
            if exact:
                return None
            n += 1

    def _chain(self, k):
        """(container parts, length) when items k.. are the modules that fill one container, in
        its order, each reading the one before it and nothing else."""
        item = self.scope.items[k]
        if "." not in item.local or len(item.inputs) != 1:
            return None
        parts = item.local.split(".")[:-1]
        try:
            container = self.tree.get(parts)
        except (KeyError, AttributeError):
            return None
        if not isinstance(container, Tree) or len(container.children) < 2:
            return None
        run = self.scope.items[k:k + len(container.children)]
        if [r.local for r in run] != [".".join([*parts, key]) for key in container.children]:
            return None
        if not all(r.instance is not None or self._plain_call(r.node) for r in run):
            return None
        for n, (a, b) in enumerate(zip(run, run[1:])):
            if b.inputs != [a.output] or self.last.get(a.output) != k + n + 1:
                return None
        return parts, len(run)

    @staticmethod
    def _plain_call(node) -> bool:
        """True when the node's forward is its module applied to its one input."""
        if len(node.inputs) != 1:
            return False
        ctor, expr = EMITTERS[node.op](node, "M", ["A"], False)
        return ctor is not None and expr == "M(A)"

    def _chain_lines(self, k, chain) -> list[str]:
        parts, count = chain
        items = self.scope.items[k:k + count]
        ref = reference(self.tree, parts)
        source = self.var[items[0].inputs[0]]
        for item in items:
            self.producer[item.output] = (item.node.op if item.node is not None
                                          else self.w.output_op[item.instance.name])
        last_item = items[-1]
        dies = self.last.get(items[0].inputs[0]) == k
        stand_in = _Stand(items[0].inputs, last_item.output, items[0].local)
        name = self._assign(k, stand_in) if not dies else self.var[items[0].inputs[0]]
        self.var[last_item.output] = name
        self.live[name] = last_item.output
        if self.tree.get(parts).sequential:
            return [f"{name} = {ref}({source})"]
        lines = [] if name == source else [f"{name} = {source}"]
        return lines + [f"for layer in {ref}.values():", f"    {name} = layer({name})"]


@dataclass
class _Stand:
    inputs: list
    output: str
    local: str


def _height(instance: Instance) -> int:
    return 1 + max(map(_height, instance.children), default=-1)


def _class_sections(body: Body):
    """(__init__ body, forward body, base class) of a class, with holes."""
    tree = body.tree
    if tree.children and tree.sequential:
        doc = self_parts(tree)
        init = "        " + layout(Group("super().__init__(", doc, ")"), 8)
        base = "nn.Sequential"
    else:
        lines = ["        super().__init__()"]
        for key, child in tree.children.items():
            target = f"self.{ident(key)}" if safe_attr(key) else None
            column = 8 + len(target or f"self.add_module({key!r}, ") + 3
            text = layout(constructor(child), 8, column)
            lines.append(f"        {target} = {text}" if target else
                         f"        self.add_module({lit(key)}, {text})")
        init = "\n".join(lines)
        base = "nn.Module"
    forward = "\n".join("        " + line for line in body.forward)
    return init, forward, base


def _exprs_in(text: str, general: Generalised):
    from ..render import HOLE

    return [general.exprs[int(m.group(1))] for m in HOLE.finditer(text)]


def _all_values(general: Generalised, k: int) -> dict:
    return {a.name: a.values[k] for a in general.arguments}


VARIABLE_RESERVED = {"self", "torch", "nn", "F", "layer", *HELPER_CLASSES}


def emit_structured(graph: Graph) -> str:
    writer = _Writer(graph)
    body = writer.run()
    model = model_class(graph.name)
    init, forward, base = _class_sections(body)
    init += "".join("\n        " + line for line in init_lines(graph))
    classes = "".join("\n\n" + text for text in writer.classes)
    classes += (f"\n\nclass {ident(model)}({base}):\n    def __init__(self):\n{init}\n\n"
                f"    def forward(self, x):\n{forward}\n")
    helpers = [HELPERS[h] for h in sorted(writer.helpers)] + init_helpers(graph)
    return module_text(graph, helpers, classes, model)
