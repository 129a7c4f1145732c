"""The one family of user errors: each carries where it happened and, when likely, a fix."""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    file: str
    line: int  # 1-based; 0 when the error is about the whole file (missing, not text)
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.line else self.file


class SpecError(Exception):
    """A user's mistake: in a spec, a recipe, a command-line value or a run folder (training's
    TrainError is one of the family). The CLI prints it located, with the source line and a
    caret, and exits 2."""

    def __init__(self, message: str, loc: Location | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.hint = hint

    def format(self, sources: dict[str, str] | None = None) -> str:
        where = f"{self.loc}: " if self.loc else ""
        lines = [f"{where}error: {self.message}"]
        text = _source_line(self.loc, sources)
        if text is not None:
            lines.append("  " + text)
            lines.append("  " + " " * (self.loc.col - 1) + "^")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class ShapeError(SpecError):
    """Shapes that cannot meet: spoken of in spec terms (node names, C x H x W)."""


class ExprError(SpecError):
    """A `${...}` expression that cannot be evaluated."""


_SHOWN_BYTES = 4 * 2**20  # more than any spec netc reads


def _source_line(loc: Location | None, sources: dict[str, str] | None) -> str | None:
    if loc is None or loc.line < 1:
        return None
    text = (sources or {}).get(loc.file)
    if text is None:
        if not os.path.isfile(loc.file):  # a FIFO would block, a device never end
            return None
        try:
            with open(loc.file, encoding="utf-8") as fh:
                text = fh.read(_SHOWN_BYTES)
        except (OSError, UnicodeDecodeError):
            return None
    lines = text.splitlines()
    if 1 <= loc.line <= len(lines):
        return lines[loc.line - 1].expandtabs(1)
    return None


# Activations of torch.nn and keras.activations one slip away from another function's name
# ('elu' from 'relu', 'softmin' from 'softmax'): a different function, never a misspelling.
OTHER_FUNCTIONS = frozenset({
    "elu", "selu", "celu", "glu", "prelu", "rrelu", "mish", "softmin", "softplus", "softsign",
    "exponential", "threshold", "hardshrink", "softshrink", "squareplus", "sparsemax"})


def did_you_mean(word: str, choices) -> str | None:
    """A hint naming the closest known spelling, or None when nothing is close. Close means a
    slip of the keyboard: a few letters left out, added, changed or swapped (at most one per
    three letters, and at least one). A known name with letters put before it is a different,
    qualified name, not a slip ('hsigmoid', 'hardsigmoid' and 'sigmoid' are three functions), so
    it is never offered; nor is anything for the name of another framework's function
    (OTHER_FUNCTIONS)."""
    word = str(word)
    if word.lower() in OTHER_FUNCTIONS:
        return None
    close = difflib.get_close_matches(word, sorted(set(map(str, choices))), n=5, cutoff=0.6)
    low = word.lower()
    close = [c for c in close if edit_distance(low, c.lower()) <= max(1, len(c) // 3)
             and not (low.endswith(c.lower()) and len(low) > len(c))]
    return f"did you mean '{close[0]}'?" if close else None


def edit_distance(a: str, b: str) -> int:
    """Letters to insert, delete, change or swap (adjacent) to turn `a` into `b` (optimal string
    alignment distance)."""
    if abs(len(a) - len(b)) > 8 or max(len(a), len(b)) > 200:
        return max(len(a), len(b))  # far apart, or too long to be a slip worth the quadratic cost
    before, row = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (ca != cb))
            if before is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, row = row, current
    return row[-1]
