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


def did_you_mean(word: str, choices) -> str | None:
    """A hint naming the closest known spelling, or None when nothing is close."""
    close = difflib.get_close_matches(str(word), sorted(set(map(str, choices))), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
