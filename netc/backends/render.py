"""Values into emitted source: the one way an emitter writes a value into the code it emits.

`lit` renders plain Python values (bool, int, finite float, str, and tuples or lists of them) as
literals; anything else is refused. Text always arrives quoted, so even a value that escaped every
check upstream becomes a string constant in the emitted file, never code. `ident` passes only
identifiers (class names, docstring titles).
"""
from __future__ import annotations

import keyword
import math
import re

from ..spec.errors import SpecError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class UnsafeValue(SpecError):
    """A value that is not a checked plain type reached an emitter."""


def lit(value) -> str:
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
        items = [lit(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    raise UnsafeValue(f"cannot write a {type(value).__name__} into a model")


def ident(name) -> str:
    if not isinstance(name, str) or not _IDENT.fullmatch(name) or keyword.iskeyword(name):
        raise UnsafeValue(f"{name!r:.60} is not an identifier")
    return name
