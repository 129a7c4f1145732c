"""What differs between the instances of a block, as the arguments of the class that makes them.

An emitter writes each instance's text with holes for its values (`render.holes`). Instances whose
texts agree are one class; the holes whose values agree become literals, and the others
expressions over the class's arguments: a block parameter or the input's channel count where one
equals the values (`in_channels`, `width`), a multiple or quotient of one (`width * 4`,
`in_channels // 2`), a tuple of such, or else a fresh argument named after the keyword the hole
fills. Every expression is checked against every instance's values, so a class makes exactly the
instances it was compared over.

`progression` finds the arithmetic runs that let a stage of instances be written as one loop.
"""
from __future__ import annotations

import keyword
import re
from collections import Counter
from dataclasses import dataclass

from .base import Namer
from .render import HOLE, ident, lit

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HINT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=$")
IN_CHANNELS = "in_channels"


@dataclass
class Argument:
    name: str  # the identifier it is written as
    values: list  # one per instance
    default: object = None
    has_default: bool = False
    quantity: str = ""  # the named quantity it stands for (a block parameter, IN_CHANNELS), if any


@dataclass
class Expr:
    kind: str  # const, arg, mul, div, tuple
    value: object = None  # const: the value; arg/mul/div: the argument; tuple: [Expr]
    factor: int = 1

    def render(self, names: dict[str, str]) -> str:
        """Source text; `names` maps each argument to what reaches it (`width`, `self.width`)."""
        if self.kind == "const":
            return lit(self.value)
        if self.kind == "tuple":
            parts = [p.render(names) for p in self.value]
            return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
        ref = names[self.value]
        if self.kind == "arg":
            return ref
        return f"{ref} {'*' if self.kind == 'mul' else '//'} {lit(self.factor)}"

    def arguments(self):
        if self.kind in ("arg", "mul", "div"):
            yield self.value
        elif self.kind == "tuple":
            for part in self.value:
                yield from part.arguments()


@dataclass
class Generalised:
    arguments: list[Argument]  # those the holes use, without defaults first
    exprs: list[Expr]  # one per hole

    def fill(self, text: str, names: dict[str, str]) -> str:
        return HOLE.sub(lambda m: self.exprs[int(m.group(1))].render(names), text)

    def call_values(self, k: int) -> dict:
        """Instance k's argument values, defaults left out."""
        return {a.name: a.values[k] for a in self.arguments
                if not (a.has_default and _same(a.values[k], a.default))}


def quantities(instances, args_of, in_channels_of) -> list[tuple[str, list]]:
    """The named values an instance's holes may be expressed in: the block's parameters in the
    order the spec declares them, then the input's channel count."""
    names = []
    for inst in instances:
        names += [k for k in args_of(inst) if k not in names]
    found = []
    for name in names:
        if not _IDENT.fullmatch(name) or keyword.iskeyword(name) or name == IN_CHANNELS:
            continue
        values = [args_of(inst).get(name) for inst in instances]
        if all(v is not None for v in values):
            found.append((name, values))
    found.append((IN_CHANNELS, [in_channels_of(inst) for inst in instances]))
    return found


def generalise(text: str, matrix: list[list], named: list[tuple[str, list]],
               reserved=(), in_channels_first: bool = True) -> Generalised:
    """Holes of `text` (values per instance in `matrix`) -> expressions over arguments.
    A value equal to the input's channels and to a block parameter is written as the one or the
    other as `in_channels_first` says."""
    count = len(matrix[0]) if matrix else 0
    hints = {int(m.group(1)): _hint(text[:m.start()]) for m in HOLE.finditer(text)}
    fresh: list[tuple[str, list]] = []
    exprs = []
    for h in range(count):
        column = [row[h] for row in matrix]
        expr = _match(column, named, in_channels_first)
        if expr is None:
            found = next((name for name, vals in fresh if _same(vals, column)), None)
            if found is None:
                found = f"\x00fresh{len(fresh)}"
                fresh.append((found, column))
                hints[found] = hints.get(h) or "value"
            expr = Expr("arg", found)
        exprs.append(expr)
    used = {a for e in exprs for a in e.arguments()}
    namer = Namer(reserved=tuple(reserved))
    rename, arguments = {}, []
    for name, values in [*named, *fresh]:
        if name in used:
            rename[name] = namer(hints[name] if name.startswith("\x00") else name)
            arguments.append(_argument(ident(rename[name]), values,
                                       "" if name.startswith("\x00") else name))
    exprs = [_renamed(e, rename) for e in exprs]
    arguments.sort(key=lambda a: (a.has_default, a.name != rename.get(IN_CHANNELS)))
    return Generalised(arguments, exprs)


def _hint(before: str) -> str | None:
    m = _HINT.search(before)
    return m.group(1) if m and not keyword.iskeyword(m.group(1)) else None


def _argument(name: str, values: list, quantity: str) -> Argument:
    counts = Counter(_key(v) for v in values).most_common(2)
    if counts[0][1] > 1 and (len(counts) == 1 or counts[0][1] > counts[1][1]):
        default = next(v for v in values if _key(v) == counts[0][0])
        return Argument(name, values, default, True, quantity)
    return Argument(name, values, quantity=quantity)


def _renamed(expr: Expr, rename: dict) -> Expr:
    if expr.kind == "tuple":
        return Expr("tuple", [_renamed(p, rename) for p in expr.value])
    if expr.kind == "const":
        return expr
    return Expr(expr.kind, rename[expr.value], expr.factor)


def _match(column: list, named, in_channels_first: bool = True) -> Expr | None:
    if all(_same(v, column[0]) for v in column):
        return Expr("const", column[0])
    if in_channels_first:
        groups = [sorted(named, key=lambda q: q[0] != IN_CHANNELS)]
    else:  # the block's parameters, equal or scaled, before the input's channels
        groups = [[q for q in named if q[0] != IN_CHANNELS],
                  [q for q in named if q[0] == IN_CHANNELS]]
    for ordered in groups:
        for name, values in ordered:
            if _same(values, column):
                return Expr("arg", name)
        if all(_is_int(v) for v in column):
            for name, values in ordered:
                expr = _scaled(name, values, column)
                if expr is not None:
                    return expr
    if all(isinstance(v, (list, tuple)) and len(v) == len(column[0]) for v in column):
        parts = [_match([v[i] for v in column], named, in_channels_first)
                 for i in range(len(column[0]))]
        if all(p is not None for p in parts):
            return Expr("tuple", parts)
    return None


def _scaled(name, values, column) -> Expr | None:
    if not all(_is_int(v) and v > 0 for v in values):
        return None
    if column[0] % values[0] == 0 and column[0] >= values[0]:
        k = column[0] // values[0]
        if k > 1 and all(c == v * k for c, v in zip(column, values)):
            return Expr("mul", name, k)
    if column[0] > 0 and values[0] >= column[0]:
        k = values[0] // column[0]
        if k > 1 and all(c == v // k for c, v in zip(column, values)):
            return Expr("div", name, k)
    return None


def progression(values: list, positions: list | None = None):
    """(start, step) with values[k] == start + step * positions[k] (0, 1, 2, ... unless given)
    for every k, computed as the emitted loop computes it; None when there is none."""
    if len(values) < 2 or not all(_is_int(v) or isinstance(v, float) for v in values):
        return None
    positions = positions or list(range(len(values)))
    start, step = values[0], values[1] - values[0]
    if any(type(v) is not type(start) for v in values) or positions[:2] != [0, 1]:
        return None
    return (start, step) if all(start + step * i == v for i, v in zip(positions, values)) else None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _key(v):
    if isinstance(v, (list, tuple)):
        return ("seq", tuple(_key(x) for x in v))
    return (type(v).__name__, v)


def _same(a, b) -> bool:
    return _key(a) == _key(b)
