"""Expand a spec into the IR: blocks, stage tables, repeats, defaults and expressions.

Expansion walks the spec once, front to back, adding primitive nodes as it goes, so every
`${in.channels}` sees the real incoming shape and every error points at the item that made it.
The combinators (residual, parallel, ...) live in `combinators.py`; this module holds the walk.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

from ..compiler.builder import GraphBuilder
from ..compiler.ir import SCALARS, Graph
from ..compiler.ops import REGISTRY
from .document import BLOCK_META, Document, bind_params
from .errors import SpecError, did_you_mean
from .expressions import Namespace, format_name, is_expression, resolve
from .loader import LocDict, location_of
from .preprocess import resolve_normalize
from .schema import COMBINATORS
from .validate import value_problem

MAX_REPEAT = 10_000
MAX_WORK = 20_000  # items expanded, each counted where it is visited: skipped, empty or repeated


@dataclass(frozen=True)
class Scope:
    prefix: str  # hierarchical name of the enclosing level ("" at the top)
    env: dict  # names visible to expressions
    defaults: dict  # op name -> argument defaults in force here
    inputs: dict | None = None  # a multi-input block's inputs by name, for its dags' `from:`

    def child(self, name: str, env: dict | None = None) -> "Scope":
        return replace(self, prefix=name, env=self.env if env is None else env)

    def join(self, name: str) -> str:
        # An empty name adds no level: the item's layers sit in the enclosing namespace, as
        # torchvision keeps InceptionE's 2a/2b convolutions beside the other branches.
        return ".".join(part for part in (self.prefix, name) if part)


def input_shape(decl, params: dict, size: tuple[int, int] | None = None) -> list[int]:
    """The input shape with `$size`-style entries evaluated over the network params, so
    `--set size=64` resizes the input; with `size` (H, W), an image input's H and W are it."""
    dims = decl["shape"]
    shape = []
    for i, dim in enumerate(dims):
        loc = location_of(dims, i)
        value = resolve(dim, params, loc)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SpecError(f"input shape entry {dim!r} gave {value!r}; a dimension must be a "
                            "positive whole number", loc)
        shape.append(value)
    if size is not None:
        if len(shape) != 3:
            raise SpecError(f"an input size (H, W) applies to an image input (C, H, W), not to "
                            f"the input shape {shape}", location_of(decl, "shape"))
        shape = [shape[0], *size]
    return shape


def split_item(item, loc):
    """`relu` or `{conv2d: {...}}` -> (key, args)."""
    if isinstance(item, str):
        return item, LocDict()
    if isinstance(item, dict) and len(item) == 1:
        key, args = next(iter(item.items()))
        return key, args if args is not None else LocDict()
    raise SpecError("a layer is a name or a mapping with one key", loc)


class Expander:
    def __init__(self, doc: Document, input_size: tuple[int, int] | None = None):
        from . import combinators  # the combinators call back into this walker

        self.doc = doc
        data = doc.data
        shape = input_shape(data["input"], doc.params, input_size)
        self.builder = GraphBuilder(data.get("name", "net"), data["input"].get("name", "input"), shape)
        self.stack: list[str] = []  # blocks being expanded, to name a recursion
        self.work, self.last_loc = 0, None
        self.handlers = combinators.HANDLERS

    @property
    def graph(self) -> Graph:
        return self.builder.graph

    def run(self) -> Graph:
        data = self.doc.data
        scope = Scope("", dict(self.doc.params), dict(data.get("defaults") or {}))
        out = self.items(data["body"], self.graph.input_name, scope)
        self.graph.outputs = [out]
        self.graph.meta.setdefault("residuals", [])
        self.graph.meta.setdefault("stages", [])
        self.graph.meta.setdefault("blocks", [])
        if "normalize" in data["input"]:  # preprocessing as data: the trainer applies it
            self.graph.meta["normalize"] = resolve_normalize(
                data["input"]["normalize"], self.graph.input_shape[0],
                location_of(data["input"], "normalize"))
        if data.get("outputs"):  # named outputs: a segmentation head and its auxiliary head
            from ..compiler.outputs import select_outputs

            return select_outputs(self.graph, list(data["outputs"]), location_of(data, "outputs"))
        return self.graph

    # -- the walk -----------------------------------------------------------------------------

    def spend(self, loc) -> None:
        """Count one unit of expansion work; refuse a spec whose expansion would not end soon."""
        self.work += 1
        self.last_loc = loc or self.last_loc
        if self.work > MAX_WORK:
            raise SpecError(f"the network expands to more than {MAX_WORK:,} items; netc stops here",
                            self.last_loc, "check repeat counts, stage tables and nested repeats")

    def items(self, items, x: str, scope: Scope, auto=str, inputs=None) -> str:
        """The items in order, each reading the one before; `inputs` (several values) go to the
        first present item, a block that declares as many (a dag node's `from: [a, b]`)."""
        self.spend(location_of(items))
        position = 0
        for i, item in enumerate(items):
            loc = location_of(items, i)
            self.spend(loc)
            if not self.present(item, x, scope, loc):
                continue  # like `if ...: layers.append(...)`, a skipped layer takes no index
            x = self.item(item, x, scope, loc, auto(position), inputs)
            position, inputs = position + 1, None
        return x

    def present(self, item, x: str, scope: Scope, loc) -> bool:
        """False when the item's `when:` condition is false (an optional layer)."""
        key, args = split_item(item, loc)
        if "when" not in args:
            return True
        value = resolve(args["when"], self.env_for(scope, x), location_of(args, "when"))
        if not isinstance(value, bool):
            raise SpecError(f"'when' must be true or false, got {value!r}", location_of(args, "when"))
        return value

    def item(self, item, x: str, scope: Scope, loc, auto_name: str, inputs=None) -> str:
        if not self.present(item, x, scope, loc):
            return x
        key, args = split_item(item, loc)
        if "when" in args:
            args = _without(args, "when")
        env = self.env_for(scope, x)
        explicit = args.get("name") if key not in _NAME_TEMPLATES else None
        name = auto_name if explicit is None else format_name(explicit, env, location_of(args, "name"))
        return self.dispatch(key, args, x, scope, scope.join(name), loc, inputs)

    def dispatch(self, key, args, x, scope: Scope, full: str, loc, inputs=None) -> str:
        self.spend(loc)
        if inputs is not None and key not in self.doc.blocks:
            raise SpecError(f"'{key}' reads one input; {len(inputs)} values reach it", loc,
                            "merge them first (`merge: add | concat`), or call a block that "
                            "declares `inputs:` as many")
        if key in self.handlers:
            missing = [r for r in COMBINATORS[key]["required"] if r not in args]
            if missing:  # `- seq` written bare passes the schema, which only sees a name
                raise SpecError(f"{key} is missing the required argument '{missing[0]}'", loc)
            return self.handlers[key](self, args, x, scope, full, loc)
        if key in REGISTRY:
            return self.op(key, args, x, scope, full, loc)
        if key in self.doc.blocks:
            return self.block(key, args, x, scope, full, loc, inputs)
        known = [*REGISTRY, *self.handlers, *self.doc.blocks]
        raise SpecError(f"unknown op or block '{key}'", loc, did_you_mean(key, known)
                        or "run `netc ops` for the list of ops; blocks are defined under 'blocks'")

    def env_for(self, scope: Scope, x: str) -> dict:
        return {**scope.env, "in": self.shape_namespace(x)}

    def shape_namespace(self, value: str) -> Namespace:
        """`in.channels`, `in.height`, ...: of the incoming value, or of a block's named input."""
        shape = self.builder.shape(value)
        shape_ns = Namespace(channels=shape[0], shape=list(shape), features=shape[0])
        if len(shape) == 3:
            shape_ns.update(height=shape[1], width=shape[2])
        return shape_ns

    # -- leaves ---------------------------------------------------------------------------------

    def op(self, key, args, x, scope, full, loc, inputs=None) -> str:
        opdef = REGISTRY[key]
        env = None  # built on the first expression: most arguments are literals
        values = dict(opdef.defaults)
        for given in (scope.defaults.get(key) or {}, args):  # `defaults:` may hold expressions too
            for arg, value in given.items():
                if arg == "name":
                    continue
                if isinstance(value, (str, list, dict)):
                    env = env or self.env_for(scope, x)
                    value = self.evaluate(value, env, location_of(given, arg) or loc, key, arg)
                values[arg] = value
        missing = [r for r in opdef.required if r not in values]
        if missing:
            raise SpecError(f"{key} is missing the required argument '{missing[0]}'", loc)
        return self.builder.add(full, key, values, inputs or [x], loc)

    def evaluate(self, value, env, loc, op=None, arg=None):
        if isinstance(value, list):
            return [self.evaluate(v, env, loc, op, arg) for v in value]
        if isinstance(value, dict):  # an initialiser: its arguments are checked as it resolves
            return {k: self.evaluate(v, env, location_of(value, k) or loc)
                    for k, v in value.items()}
        if not is_expression(value):
            return value
        result = resolve(value, env, loc)
        if isinstance(result, float) and result.is_integer() and op and _wants_int(op, arg):
            result = int(result)
        problem = _problem(op, arg, result) if op else None
        if problem:
            hint = "use // for whole-number division" if isinstance(result, float) else None
            raise SpecError(f"{op} '{arg}': {value} gave {result!r}; {problem}", loc, hint)
        return result

    def block(self, key, args, x, scope, full, loc, inputs=None) -> str:
        self.spend(loc)
        block = self.doc.blocks[key]
        if key in self.stack:
            cycle = " -> ".join(self.stack[self.stack.index(key):] + [key])
            raise SpecError(f"block recursion: {cycle}", loc, "a block may not contain itself")
        named = _bound_inputs(block, key, inputs or [x], loc)
        env = self.env_for(scope, x)
        given = {k: v for k, v in args.items() if k != "name"}
        values = bind_params(block.params, given, env, f"block '{key}'", loc, args)
        inner_env = {**self.doc.params, **values, **{k: scope.env[k] for k in _INDEX_NAMES
                                                      if k in scope.env}}
        inner_env.update({name: self.shape_namespace(v) for name, v in (named or {}).items()})
        defaults = {**scope.defaults}
        for op, op_defaults in block.defaults.items():
            defaults[op] = {**defaults.get(op, {}), **op_defaults}
        inner = Scope(full, inner_env, defaults, named)
        definition = next(k for k in block.decl if k not in BLOCK_META)
        entries, start = self.graph.meta.setdefault("blocks", []), len(self.graph.nodes)
        entry = {"block": key, "name": full, "args": {k: v for k, v in values.items() if _plain(v)}}
        if named and len(named) > 1:  # the values a class's forward(x, p) takes, in order
            entry.update(inputs=list(named.values()), input_names=list(named))
        # Called with `name: ""` inside another block, it shares that block's namespace: its
        # layers are the enclosing instance's, which is recorded already.
        owns = not any(e["name"] == full for e in entries)
        if owns:
            entries.append(entry)  # before its inner blocks: outer instances come first
        self.stack.append(key)
        try:
            if definition == "body":
                return self.items(block.decl["body"], x, inner)
            body = block.decl[definition]
            body = body if body is not None else LocDict()
            if "when" in body:  # the definition itself is optional
                if not self.present({definition: body}, x, inner, loc):
                    return x
                body = _without(body, "when")
            own = body.get("name")
            name = full
            if own:
                name = f"{full}.{format_name(own, self.env_for(inner, x))}"
            return self.dispatch(definition, body, x, inner.child(full), name,
                                 location_of(block.decl, definition))
        finally:
            self.stack.pop()
            if owns and not any(n.name.startswith(full + ".") for n in self.graph.nodes[start:]):
                entries.remove(entry)  # no namespace of its own: its layers sit in the caller's


def _bound_inputs(block, key: str, values: list, loc) -> dict | None:
    """A block's declared `inputs:` -> the values the call gives them (None: one unnamed input)."""
    declared = block.inputs
    if len(values) == len(declared or [None]):
        return dict(zip(declared, values)) if declared else None
    reads = (f"reads {len(declared)} inputs ({', '.join(declared)})" if declared
             else "reads one input")
    hint = ("call it from a dag node that names them: `from: [a, b]`" if declared else
            "merge the values first, or declare the block's `inputs: [x, y]`")
    raise SpecError(f"block '{key}' {reads}; the call gives {len(values)}", loc, hint)


def _plain(value) -> bool:
    return isinstance(value, SCALARS) and not (isinstance(value, float) and not math.isfinite(value))


def _without(args: LocDict, key: str) -> LocDict:
    out = LocDict({k: v for k, v in args.items() if k != key})
    out.loc, out.key_locs, out.value_locs = args.loc, args.key_locs, args.value_locs
    return out


_NAME_TEMPLATES = ("stages", "repeat")  # their `name` is a pattern filled per stage or repeat
_INDEX_NAMES = ("stage", "block", "index", "count", "i")


def _wants_int(op, arg) -> bool:
    schema = REGISTRY[op].args.get(arg, {})
    return "integer" in str(schema)


def _problem(op, arg, value) -> str | None:
    """The op's own argument schema judges a computed value, as it judged the literal ones."""
    schema = REGISTRY[op].args.get(arg)
    if schema is None:
        return None
    if is_expression(value):
        return "an expression may not produce another expression"
    if isinstance(value, (int, float, str)):  # widths and strides repeat: judge each once
        return _judged(op, arg, type(value), value)
    return value_problem(schema, value)


@lru_cache(maxsize=4096)
def _judged(op, arg, kind, value) -> str | None:
    return value_problem(REGISTRY[op].args[arg], value)


def expand(doc: Document, input_size: tuple[int, int] | None = None) -> Graph:
    return Expander(doc, input_size).run()
