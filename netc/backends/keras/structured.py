"""IR -> Keras source that reads like keras.applications: one function per block (and per
structural variant of it), `def block(x, filters, stride=1, *, name)`, whose arguments are what
differs between its instances; runs of like blocks (a stage table's rows) as `for` loops.

Each instance's body is written once with holes for its values (`render.holes`). Layer names
inside it are the instance's name plus a fixed suffix, so they are written `name + '-1_conv'`;
instances of a block whose texts then agree share a function, and `generalise` turns the other
holes into literals or expressions over the function's arguments. Instances are written innermost
first, so a function's text already holds its children's calls.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ...compiler.ir import Graph
from ..base import Namer, UnsupportedOp
from ..generalise import IN_CHANNELS, generalise, quantities
from ..instances import Instance, Scope, all_instances, find_instances, instance_scope, model_scope
from ..render import HOLE, hole, holes, ident, lit
from .helpers import HELPERS
from .loops import Call, find_run, run_lines
from .names import AuxNames, is_under, keras_name
from .submodels import sequential_expr, submodels
from .text import model_text, node_expr, shortcut_first

_NAMES = ("x", "name", "i", "inputs", "keras", "layers", "ops", "sys", "str", "range")


def _reserved() -> tuple:
    """Names a function, argument or variable may not take: the source's own, and the helper
    layer classes (op plug-ins add theirs to HELPERS at import)."""
    return (*_NAMES, *HELPERS)


@dataclass
class _Variant:
    block: str
    instances: list
    texts: list
    matrix: list
    keys: list  # the first-level names of the scope's items
    inputs: list  # the function's input arguments: x, and a block's further inputs (p)


class _Writer:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.aux = AuxNames(graph)
        self.helpers: set = set()
        self.functions: list[str] = []
        self.calls: dict[str, Call] = {}  # instance name -> how its parent calls it
        self.function_names = Namer(reserved=_reserved())
        self.swapped = shortcut_first(graph)
        self.submodels = submodels(graph)

    def expr(self, node, args: list[str]) -> str:
        return node_expr(self.graph, node, args, self.aux, self.helpers, node.name in self.swapped)

    def run(self) -> list[str]:
        top = find_instances(self.graph)
        by_height = defaultdict(list)
        for instance in all_instances(top):
            by_height[_height(instance)].append(instance)
        for height in sorted(by_height):
            self.write_functions(by_height[height], top)
        scope = model_scope(self.graph, top)
        body = _Body(self, scope, "inputs", top_level=True)
        lines = body.lines()
        outputs = [body.var[o] for o in scope.output]
        model = outputs[0] if len(outputs) == 1 else "[" + ", ".join(outputs) + "]"
        return lines + [f"return keras.Model(inputs, {model}, "
                        f"name={lit(keras_name(self.graph.name))})"]

    def write_functions(self, instances: list[Instance], top: list[Instance]) -> None:
        variants: dict[tuple, _Variant] = {}
        for instance in instances:
            scope = instance_scope(self.graph, instance)
            with holes() as values:
                body = _Body(self, scope, "x", top_level=False)
                lines = body.lines()
                lines.append(f"return {body.var[scope.output[0]]}")
            text, values = _relative_names(_indent(lines), values, keras_name(instance.name))
            key = (instance.block, text)
            if key not in variants:
                keys = [item.local.split(".")[0] for item in scope.items]
                variants[key] = _Variant(instance.block, [], text, [], keys, body.inputs)
            variants[key].instances.append(instance)
            variants[key].matrix.append(values)
        common: dict[str, set] = {}
        for variant in variants.values():
            common.setdefault(variant.block, set(variant.keys)).intersection_update(variant.keys)
        top_ids = {id(i) for i in top}
        for variant in variants.values():
            extra = [k for k in variant.keys if k not in common[variant.block]]
            name = self.function_names(variant.block + ("_" + extra[0] if extra else ""))
            self.finish(name, variant, top_ids)

    def finish(self, name: str, variant: _Variant, top_ids: set) -> None:
        instances = variant.instances
        named = quantities(instances, lambda i: i.args, lambda i: i.in_shape[0])
        # Keras layers take their input's channels as given: a block parameter reads better
        # where one fits (`filters * 4`), and where none does, the function reads the channels
        # off its input, as keras.applications' transition_block does.
        general = generalise(variant.texts, variant.matrix, named,
                             reserved=(*_reserved(), *self.function_names.used,
                                       *_variables(variant.texts), *variant.inputs),
                             in_channels_first=False)
        given = [a for a in general.arguments if a.quantity != IN_CHANNELS]
        read = [f"    {ident(a.name)} = x.shape[-1]\n" for a in general.arguments
                if a.quantity == IN_CHANNELS]
        params = [*map(ident, variant.inputs)] + [
            ident(a.name) + (f"={lit(a.default)}" if a.has_default else "") for a in given
        ] + ["*", "name"]
        body = general.fill(variant.texts, {a.name: a.name for a in general.arguments})
        self.functions.append(f"\n\ndef {ident(name)}({', '.join(params)}):\n"
                              f'    """The spec\'s block `{ident(variant.block)}`."""\n'
                              f"{''.join(read)}{body}\n")
        for k, instance in enumerate(instances):
            self.calls[instance.name] = Call(name, [(a, a.values[k]) for a in given],
                                             id(instance) in top_ids)


class _Body:
    """The statements of one scope: one per node or child call, a loop per run of like calls.
    A value's variable is reused once the value is dead; the model's input keeps `inputs`."""

    def __init__(self, writer: _Writer, scope: Scope, input_var: str, top_level: bool):
        self.w, self.scope, self.top_level = writer, scope, top_level
        self.inputs = [input_var] if top_level else scope.input_variables(
            (*_reserved(), *writer.function_names.used))
        self.var, self.live = {}, {}
        for value, name in zip(scope.inputs, self.inputs):
            self.var.setdefault(value, name)  # a value given twice is read through its first
            self.live.setdefault(name, value)
        items = scope.items
        self.last = {}
        for k, item in enumerate(items):
            for src in item.inputs:
                self.last[src] = k
        for out in scope.output:
            self.last[out] = len(items)
        if top_level:
            self.last[scope.input] = len(items) + 1  # keras.Model(inputs, ...) reads it

    def lines(self) -> list[str]:
        items, out, k = self.scope.items, [], 0
        while k < len(items):
            run = find_run(items, k, self.w.calls, self.last)
            if run:
                target = self.assign(k, items[k], items[k + len(run) - 1].output)
                source = self.var[items[k].inputs[0]]
                out += ([] if target == source else [f"{target} = {source}"])
                out += run_lines(run, target, [self.w.calls[r.instance.name] for r in run],
                                 [keras_name(r.instance.name) for r in run])
                k += len(run)
                continue
            item = items[k]
            sub = self.w.submodels.get(item.node.name) if item.instance is None else None
            if sub is not None:
                end = self._submodel_end(k, sub)
                expr = sequential_expr(self.w.graph, sub, self.var[item.inputs[0]], self.w.expr)
                out.append(f"{self.assign(k, item, items[end].output)} = {expr}")
                k = end + 1
                continue
            if item.instance is not None:
                call = self.w.calls[item.instance.name]
                expr = call.text(", ".join(self.var[i] for i in item.inputs),
                                 lit(keras_name(item.instance.name)))
            else:
                expr = self.w.expr(item.node, [self.var[i] for i in item.inputs])
            out.append(f"{self.assign(k, item, item.output)} = {expr}")
            k += 1
        return out

    def _submodel_end(self, k: int, sub) -> int:
        """The index of the submodel's last item; its nodes must be this scope's next items."""
        end = k + len(sub.nodes) - 1
        got = [None if i.instance is not None else i.node.name for i in self.scope.items[k:end + 1]]
        if got != list(sub.nodes):
            raise UnsupportedOp(f"submodel '{sub.name}' crosses the edge of a block: its layers "
                                "must be written in one block or outside all")
        return end

    def assign(self, k: int, item, output: str) -> str:
        first = item.inputs[0]
        if self.last.get(first) == k and item.inputs == [first]:
            name = self.var[first]
        else:
            # a child block's call, or a node of a named sub-scope (a branch, a shortcut), is
            # held in a variable named after it; the scope's own main line in `x`, else `y`
            if "." in item.local or item.instance is not None:
                base = item.local.split(".")[0]
            else:
                base = "y"
            name = self._free("x", k) or self._free(base, k, any_suffix=True)
        self.var[output] = name
        self.live[name] = output
        return name

    def _free(self, base: str, k: int, any_suffix: bool = False) -> str | None:
        """`base` (or with `any_suffix`, `base_2`, ...) when it holds no value read after item k
        (the statement of item k reads its inputs before it assigns)."""
        base = Namer(reserved=_reserved())(base) if base not in ("x", "y") else base
        n = 1
        while True:
            name = base if n == 1 else f"{base}_{n}"
            held = self.live.get(name)
            if held is None or self.last.get(held, -1) <= k:
                return ident(name)
            if not any_suffix:
                return None
            n += 1


def _relative_names(text: str, values: list, prefix: str) -> tuple[str, list]:
    """Holes holding a layer name under `prefix` -> `name + '<suffix>'`; the rest renumbered."""
    kept: list = []

    def sub(match):
        value = values[int(match.group(1))]
        if isinstance(value, str) and is_under(value, prefix):
            return f"name + {lit(value[len(prefix):])}"
        kept.append(value)
        return hole(len(kept) - 1)
    return HOLE.sub(sub, text), kept


def _indent(lines: list[str]) -> str:
    return "\n".join("    " + line for line in lines)


def _variables(text: str) -> set:
    return {line.split(" = ", 1)[0].strip() for line in text.splitlines() if " = " in line}


def _height(instance: Instance) -> int:
    return 1 + max(map(_height, instance.children), default=-1)


def emit_structured(graph: Graph) -> str:
    writer = _Writer(graph)
    body = writer.run()
    return model_text(graph, body, writer.helpers, "".join(writer.functions))
