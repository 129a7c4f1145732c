"""Pictures of a network: DOT text laid out by Graphviz's `dot` program into SVG or PNG. Without
`dot` installed, DOT text is still written, and a picture is a clear error saying how to get it."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..spec.errors import SpecError

FORMATS = {".svg": "svg", ".png": "png", ".dot": None, ".gv": None}
INSTALL = ("install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install "
           "graphviz; conda: conda install graphviz), or write DOT text with -o NAME.dot")
TIMEOUT_S = 300


def picture_format(path: str) -> str | None:
    """The Graphviz output format `path` asks for by its suffix; None for DOT text."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise SpecError(f"'{path}': netc graph writes {', '.join(FORMATS)} files",
                        hint="name the output e.g. net.svg")
    return FORMATS[suffix]


def write(dot_text: str, path: str, dot_program: str = "dot") -> None:
    """Write `dot_text` to `path` as its suffix says: as it is, or laid out by `dot`."""
    fmt = picture_format(path)
    if fmt is None:
        Path(path).write_text(dot_text, encoding="utf-8")
        return
    program = shutil.which(dot_program)
    if program is None:
        raise SpecError(f"drawing {Path(path).name} needs Graphviz's '{dot_program}' program, "
                        "which is not installed", hint=INSTALL)
    try:
        done = subprocess.run([program, f"-T{fmt}", "-o", str(path)], input=dot_text,
                              capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise SpecError(f"Graphviz took more than {TIMEOUT_S} s to lay out the network",
                        hint="draw fewer levels (a smaller --depth)") from None
    if done.returncode != 0:
        raise SpecError(f"Graphviz could not draw {path}: {done.stderr.strip()[:500]}")
