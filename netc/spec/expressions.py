"""`${...}` expressions: arithmetic over parameters, indices and the incoming shape.

Parsed with `ast` and walked by a small interpreter that knows a fixed set of node kinds, so a
spec can compute `${width * 4}` or `${in.channels // 2}` and nothing else: no attribute access
beyond `in.*`, no calls beyond a few pure functions, no `eval`.
"""
from __future__ import annotations

import ast
import functools
import math
import operator
import re

from .errors import ExprError, did_you_mean

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
def _round(value, ndigits=None):
    # round(5, -10**9) computes 10**(10**9): digits past a float's precision mean nothing anyway
    if ndigits is not None and not (isinstance(ndigits, int) and -15 <= ndigits <= 15):
        raise ValueError(f"ndigits must be a whole number from -15 to 15, got {_short(ndigits)}")
    return round(value, ndigits)


FUNCTIONS = {
    "min": min, "max": max, "abs": abs, "int": int, "float": float, "round": _round,
    "floor": math.floor, "ceil": math.ceil, "sqrt": math.sqrt,
}
_WHOLE = re.compile(r"^\$(?:\{(?P<expr>.*)\}|(?P<name>[A-Za-z_][A-Za-z0-9_.]*))$", re.S)
_PART = re.compile(r"\$\{([^}]*)\}|\{([^{}]*)\}")
MAX_MAGNITUDE = 10**15  # of any number a spec writes or computes
MAX_SOURCE = 500  # characters in one expression
MAX_DEPTH = 32  # nesting of operations in one expression
_IN = re.compile(r"(?<![\w.])in\s*\.")


class Namespace(dict):
    """Names visible to an expression; `in` is a Namespace of the incoming shape."""


def is_expression(value) -> bool:
    return isinstance(value, str) and value.startswith("$")


def resolve(value, env: dict, loc=None):
    """Evaluate `value` if it is an expression (`$name` or `${...}`), else return it unchanged."""
    if not isinstance(value, str):
        return value
    match = _WHOLE.match(value.strip())
    if not match:
        return value
    source = match.group("expr") if match.group("expr") is not None else match.group("name")
    return evaluate(source, env, loc)


def format_name(template: str, env: dict, loc=None) -> str:
    """Fill `{expr}` and `${expr}` parts of a name template, e.g. "layer{stage}" -> "layer1"."""
    if len(template) > MAX_LENGTH:
        raise ExprError(f"a name of {len(template):,} characters is past netc's limit of "
                        f"{MAX_LENGTH}", loc)
    def fill(match):
        value = evaluate(match.group(1) if match.group(1) is not None else match.group(2), env, loc)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value)

    return _PART.sub(fill, template)


def evaluate(source: str, env: dict, loc=None):
    if len(source) > MAX_SOURCE:
        raise ExprError(f"an expression of {len(source):,} characters is past netc's limit of "
                        f"{MAX_SOURCE}", loc, "compute it in steps, with network parameters")
    # `in` is a Python keyword, so `in.channels` would not parse: read it as the name `in_`.
    text = _IN.sub("in_.", source.strip())
    if "in" in env and "in_" not in env:
        env = {**env, "in_": env["in"]}
    try:
        tree = _parse(text)
    except SyntaxError as exc:
        raise ExprError(f"cannot parse expression '{_clip(source)}': {exc.msg}", loc) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExprError(f"cannot parse expression '{_clip(source)}': it nests too deeply",
                        loc) from None
    if _depth(tree.body) > MAX_DEPTH:
        raise ExprError(f"expression '{_clip(source)}' nests deeper than {MAX_DEPTH} levels", loc,
                        "compute it in steps, with network parameters")
    return _Interpreter(source, env, loc).visit(tree.body)


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> ast.Expression:
    """Parsed once per distinct text: a 1202-layer spec repeats the same few expressions."""
    return ast.parse(text, mode="eval")


@functools.lru_cache(maxsize=4096)
def _depth(root: ast.AST) -> int:
    """How deep the tree nests, found without recursion (the interpreter recurses)."""
    deepest, todo = 0, [(root, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in ast.iter_child_nodes(node)
                    if not isinstance(child, _LEAVES))
    return deepest


_LEAVES = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


class _Interpreter:
    def __init__(self, source: str, env: dict, loc):
        self.source, self.env, self.loc = source, env, loc

    def fail(self, message: str, hint: str | None = None):
        raise ExprError(f"in '${{{self.source}}}': {message}", self.loc, hint)

    def visit(self, node):
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            self.fail(f"{type(node).__name__} is not allowed; use arithmetic, comparisons, "
                      f"'a if c else b' and {', '.join(sorted(FUNCTIONS))}")
        return method(node)

    def visit_Constant(self, node):
        if not isinstance(node.value, (int, float, str, bool)):
            self.fail(f"constant {_short(node.value)} is not allowed")
        return self.checked(node.value)

    def visit_Name(self, node):
        if node.id in self.env:
            return self.env[node.id]
        if node.id in ("True", "False"):
            return node.id == "True"
        known = [k for k in self.env if isinstance(k, str) and k != "in_"]
        self.fail(f"unknown name '{node.id}'", did_you_mean(node.id, known)
                  or (f"known names: {', '.join(sorted(known))}" if known else None))

    def visit_Attribute(self, node):
        base = self.visit(node.value)
        if not isinstance(base, Namespace):
            self.fail(f"'.{node.attr}' is only allowed on 'in' (the incoming shape) or on a "
                      "block's named input")
        if node.attr not in base:
            owner = node.value.id if isinstance(node.value, ast.Name) else "in"
            self.fail(f"'{'in' if owner == 'in_' else owner}' has no '{node.attr}'",
                      did_you_mean(node.attr, base))
        return base[node.attr]

    def visit_BinOp(self, node):
        left, right = self.visit(node.left), self.visit(node.right)
        op = _BINARY.get(type(node.op))
        if op is None:
            self.fail(f"operator {type(node.op).__name__} is not allowed")
        if not (_is_number(left) and _is_number(right)):
            # Text and lists only join with '+', and stay short: 'ab' * 10**12 would eat memory.
            joined = isinstance(node.op, ast.Add) and type(left) is type(right) \
                and isinstance(left, (str, list)) and len(left) + len(right) <= MAX_LENGTH
            if not joined:
                self.fail(f"cannot apply {type(node.op).__name__} to {_short(left)} and {_short(right)}")
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            self.fail(f"exponent {right} is too large")
        try:
            result = op(left, right)
        except ZeroDivisionError:
            self.fail("division by zero", "check the divisor's parameter value")
        except (TypeError, OverflowError):
            self.fail(f"cannot apply {type(node.op).__name__} to {_short(left)} and {_short(right)}")
        return self.checked(result)

    def checked(self, result):
        if isinstance(result, complex):
            self.fail(f"the result {_short(result)} is not a real number")
        if isinstance(result, float) and not math.isfinite(result):
            self.fail(f"the result {result} is not a finite number")
        if isinstance(result, (int, float)) and abs(result) > MAX_MAGNITUDE:
            self.fail(f"value {_short(result)} is out of range "
                      f"(netc's limit is {MAX_MAGNITUDE:.0e})")
        return result

    def visit_UnaryOp(self, node):
        if type(node.op) not in _UNARY:
            self.fail(f"operator {type(node.op).__name__} is not allowed")
        operand = self.visit(node.operand)
        if not _is_number(operand) and not isinstance(node.op, ast.Not):
            self.fail(f"cannot apply {type(node.op).__name__} to {_short(operand)}")
        return _UNARY[type(node.op)](operand)

    def visit_Compare(self, node):
        left = self.visit(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            right = self.visit(right_node)
            if type(op) not in _COMPARE:
                self.fail(f"comparison {type(op).__name__} is not allowed; use ==, !=, <, <=, >, >=")
            try:
                holds = _COMPARE[type(op)](left, right)
            except TypeError:
                self.fail(f"cannot compare {_short(left)} with {_short(right)}")
            if not holds:
                return False
            left = right
        return True

    def visit_BoolOp(self, node):
        values = [self.visit(v) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)

    def visit_IfExp(self, node):
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Call(self, node):
        name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
        if name not in FUNCTIONS:
            self.fail(f"unknown function '{name}'", did_you_mean(name, FUNCTIONS)
                      or f"available: {', '.join(sorted(FUNCTIONS))}")
        if node.keywords:
            self.fail(f"{name}() takes no keyword arguments")
        args = [self.visit(a) for a in node.args]
        try:
            return self.checked(FUNCTIONS[name](*args))
        except (TypeError, ValueError, OverflowError) as exc:
            self.fail(f"{name}(): {exc}")


MAX_LENGTH = 1000  # characters or items an expression may build by '+'


def _is_number(value) -> bool:
    return isinstance(value, (int, float))


def _short(value) -> str:
    return _clip(repr(value))


def _clip(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."
