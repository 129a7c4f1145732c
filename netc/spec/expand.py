"""Expand a spec into the IR: blocks, stage tables, repeats, defaults and expressions.

Expansion walks the spec once, front to back, adding primitive nodes as it goes, so every
`${in.channels}` sees the real incoming shape and every error points at the item that made it.
The combinators (residual, parallel, ...) live in `combinators.py`; this module holds the walk.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..compiler.builder import GraphBuilder
from ..compiler.ir import Graph
from ..compiler.ops import REGISTRY
from .document import BLOCK_META, Document, bind_params
from .errors import SpecError, did_you_mean
from .expressions import Namespace, format_name, is_expression, resolve
from .loader import LocDict, location_of

MAX_REPEAT = 10_000


@dataclass(frozen=True)
class Scope:
    prefix: str  # hierarchical name of the enclosing level ("" at the top)
    env: dict  # names visible to expressions
    defaults: dict  # op name -> argument defaults in force here

    def child(self, name: str, env: dict | None = None) -> "Scope":
        return replace(self, prefix=name, env=self.env if env is None else env)

    def join(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name


def split_item(item, loc):
    """`relu` or `{conv2d: {...}}` -> (key, args)."""
    if isinstance(item, str):
        return item, LocDict()
    if isinstance(item, dict) and len(item) == 1:
        key, args = next(iter(item.items()))
        return key, args if args is not None else LocDict()
    raise SpecError("a layer is a name or a mapping with one key", loc)


class Expander:
    def __init__(self, doc: Document):
        from . import combinators  # the combinators call back into this walker

        self.doc = doc
        data = doc.data
        shape = list(data["input"]["shape"])
        self.builder = GraphBuilder(data.get("name", "net"), data["input"].get("name", "input"), shape)
        self.stack: list[str] = []  # blocks being expanded, to name a recursion
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
        return self.graph

    # -- the walk -----------------------------------------------------------------------------

    def items(self, items, x: str, scope: Scope, auto=str) -> str:
        for i, item in enumerate(items):
            x = self.item(item, x, scope, location_of(items, i), auto(i))
        return x

    def item(self, item, x: str, scope: Scope, loc, auto_name: str) -> str:
        key, args = split_item(item, loc)
        env = self.env_for(scope, x)
        explicit = args.get("name") if key not in _NAME_TEMPLATES else None
        name = format_name(explicit, env, location_of(args, "name")) if explicit else auto_name
        return self.dispatch(key, args, x, scope, scope.join(name), loc)

    def dispatch(self, key, args, x, scope: Scope, full: str, loc) -> str:
        if key in self.handlers:
            return self.handlers[key](self, args, x, scope, full, loc)
        if key in REGISTRY:
            return self.op(key, args, x, scope, full, loc)
        if key in self.doc.blocks:
            return self.block(key, args, x, scope, full, loc)
        known = [*REGISTRY, *self.handlers, *self.doc.blocks]
        raise SpecError(f"unknown op or block '{key}'", loc, did_you_mean(key, known)
                        or "run `netc ops` for the list of ops; blocks are defined under 'blocks'")

    def env_for(self, scope: Scope, x: str) -> dict:
        shape = self.builder.shape(x)
        shape_ns = Namespace(channels=shape[0], shape=list(shape), features=shape[0])
        if len(shape) == 3:
            shape_ns.update(height=shape[1], width=shape[2])
        return {**scope.env, "in": shape_ns}

    # -- leaves ---------------------------------------------------------------------------------

    def op(self, key, args, x, scope, full, loc, inputs=None) -> str:
        opdef = REGISTRY[key]
        env = self.env_for(scope, x)
        values = {**opdef.defaults, **(scope.defaults.get(key) or {})}
        for arg, value in args.items():
            if arg != "name":
                values[arg] = self.evaluate(value, env, location_of(args, arg), key, arg)
        missing = [r for r in opdef.required if r not in values]
        if missing:
            raise SpecError(f"{key} is missing the required argument '{missing[0]}'", loc)
        return self.builder.add(full, key, values, inputs or [x], loc)

    def evaluate(self, value, env, loc, op=None, arg=None):
        if isinstance(value, list):
            return [self.evaluate(v, env, loc, op, arg) for v in value]
        if not is_expression(value):
            return value
        result = resolve(value, env, loc)
        if isinstance(result, float) and result.is_integer() and op and _wants_int(op, arg):
            result = int(result)
        if op and not _fits(op, arg, result):
            raise SpecError(f"{op} '{arg}': {value} gave {result!r}, which is not allowed here", loc)
        return result

    def block(self, key, args, x, scope, full, loc) -> str:
        block = self.doc.blocks[key]
        if key in self.stack:
            cycle = " -> ".join(self.stack[self.stack.index(key):] + [key])
            raise SpecError(f"block recursion: {cycle}", loc, "a block may not contain itself")
        env = self.env_for(scope, x)
        given = {k: v for k, v in args.items() if k != "name"}
        values = bind_params(block.params, given, env, f"block '{key}'", loc, args)
        inner_env = {**self.doc.params, **values, **{k: scope.env[k] for k in _INDEX_NAMES
                                                      if k in scope.env}}
        defaults = {**scope.defaults}
        for op, op_defaults in block.defaults.items():
            defaults[op] = {**defaults.get(op, {}), **op_defaults}
        inner = Scope(full, inner_env, defaults)
        definition = next(k for k in block.decl if k not in BLOCK_META)
        self.stack.append(key)
        try:
            if definition == "body":
                return self.items(block.decl["body"], x, inner)
            body = block.decl[definition]
            body = body if body is not None else LocDict()
            own = body.get("name")
            name = full
            if own:
                name = f"{full}.{format_name(own, self.env_for(inner, x))}"
            return self.dispatch(definition, body, x, inner.child(full), name,
                                 location_of(block.decl, definition))
        finally:
            self.stack.pop()


_NAME_TEMPLATES = ("stages", "repeat")  # their `name` is a pattern filled per stage or repeat
_INDEX_NAMES = ("stage", "block", "index", "count", "i")


def _wants_int(op, arg) -> bool:
    schema = REGISTRY[op].args.get(arg, {})
    return "integer" in str(schema)


def _fits(op, arg, value) -> bool:
    schema = REGISTRY[op].args.get(arg)
    if schema is None:
        return True
    kinds = str(schema)
    if isinstance(value, bool):
        return "boolean" in kinds
    if isinstance(value, int):
        return "integer" in kinds or "number" in kinds
    if isinstance(value, float):
        return "number" in kinds
    return isinstance(value, str) and "enum" in kinds


def expand(doc: Document) -> Graph:
    return Expander(doc).run()
