"""Values into emitted source: the one way an emitter writes a value into the code it emits.

`lit` renders plain Python values (bool, int, finite float, str, and tuples or lists of them) as
literals; anything else is refused. Text always arrives quoted, so even a value that escaped every
check upstream becomes a string constant in the emitted file, never code. `ident` passes only
identifiers (class names, docstring titles).

Inside `holes()`, `lit` checks its value as always but writes a numbered hole instead of the
literal, and records the value: an emitter run once per block instance then gives one text with
holes and one list of values per instance, which `generalise` compares to find what differs.
A hole is `\x00N\x00`, which no literal or identifier can contain (`repr` escapes NUL).
"""
from __future__ import annotations

import keyword
import math
import re
from contextlib import contextmanager

from ..spec.errors import SpecError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class UnsafeValue(SpecError):
    """A value that is not a checked plain type reached an emitter."""


_RECORDING: list[list] = []


@contextmanager
def holes():
    """Record the values `lit` renders from here on; yields the list they go into."""
    values: list = []
    _RECORDING.append(values)
    try:
        yield values
    finally:
        _RECORDING.pop()


def hole(index: int) -> str:
    return f"\x00{index}\x00"


HOLE = re.compile("\x00([0-9]+)\x00")


def lit(value) -> str:
    text = _lit(value)
    if _RECORDING:
        _RECORDING[-1].append(value)
        return hole(len(_RECORDING[-1]) - 1)
    return text


def _lit(value) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnsafeValue(f"cannot write the non-finite number {value} into a model")
        return float.__repr__(value)
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, (list, tuple)):
        items = [_lit(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    raise UnsafeValue(f"cannot write a {type(value).__name__} into a model")


def ident(name) -> str:
    if not isinstance(name, str) or not _IDENT.fullmatch(name) or keyword.iskeyword(name):
        raise UnsafeValue(f"{name!r:.60} is not an identifier")
    return name
