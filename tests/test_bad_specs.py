"""The bad-input corpus: every file under tests/bad/ must fail `netc validate` the way a user
should see it: exit code 2, `FILE:LINE:COL: error: MESSAGE`, the source line with a caret under
the column, a hint where one is likely, never a traceback, and quickly.

Each corpus file states what it must produce in its leading comments:

    # expect: LINE:COL: MESSAGE    the first line's location and a substring of its message
    # hint: TEXT                   a substring of the `hint:` line (when a fix is likely)
    # file: lib/x.yaml             the error lies in this file (relative to the spec), not the spec
    # file: --set width=wide       the error lies in this command-line argument (LINE is 1, COL
                                   counts from the '-' of '--set')
    # args: --set width=32         extra arguments to `netc validate`
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import deadline
from netc.cli import main

BAD = Path(__file__).resolve().parent / "bad"
ROOT = BAD.parent.parent
CASES = sorted(BAD.glob("*.yaml"))
SECONDS = 10  # a case that takes longer hangs, as far as a user can tell


@dataclass
class Expectation:
    line: int
    col: int
    message: str
    hint: str | None = None
    file: str | None = None
    args: tuple = ()


_HEADER = re.compile(r"^# (expect|hint|file|args): (.*)$")
_EXPECT = re.compile(r"^(\d+):(\d+): (.+)$")


def expectation(path: Path) -> Expectation:
    fields = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _HEADER.match(line)
        if not match:
            break
        fields[match.group(1)] = match.group(2)
    where = _EXPECT.match(fields["expect"])
    assert where, f"{path.name}: '# expect: LINE:COL: MESSAGE' is malformed"
    return Expectation(int(where.group(1)), int(where.group(2)), where.group(3), fields.get("hint"),
                       fields.get("file"), tuple(shlex.split(fields.get("args", ""))))


def on_command_line(exp: Expectation) -> bool:
    return bool(exp.file) and exp.file.startswith("--set ")


def error_file(spec: str, exp: Expectation) -> str:
    """The path the error should name: the spec as given, or an included file beside it."""
    if on_command_line(exp):
        return exp.file
    return os.path.normpath(os.path.join(os.path.dirname(spec), exp.file)) if exp.file else spec


def check_report(output: str, spec: str, exp: Expectation) -> None:
    assert "Traceback" not in output, output
    lines = output.splitlines()
    where = error_file(spec, exp)
    head = f"{where}:{exp.line}:{exp.col}: error: "
    assert lines[0].startswith(head), f"expected '{head}...', got:\n{output}"
    assert exp.message in lines[0][len(head):], f"expected '{exp.message}' in:\n{output}"
    if on_command_line(exp):
        assert exp.line == 1 and 1 <= exp.col <= len(where) + 1, output
        rest = lines[1:]
    else:
        source = Path(where).read_text(encoding="utf-8").splitlines()[exp.line - 1]
        assert lines[1] == "  " + source.expandtabs(1), output
        assert lines[2] == "  " + " " * (exp.col - 1) + "^", output
        rest = lines[3:]
    hints = [line for line in rest if line.startswith("  hint: ")]
    if exp.hint:
        assert hints and exp.hint in hints[0], f"expected hint '{exp.hint}' in:\n{output}"


def test_the_corpus_is_large_and_every_case_states_its_error():
    assert len(CASES) >= 45
    for path in CASES:
        expectation(path)  # each parses


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_validate_reports_located_error(path):
    exp = expectation(path)
    spec = str(path)
    started = time.perf_counter()
    with deadline(SECONDS):
        result = CliRunner().invoke(main, ["validate", *exp.args, spec])
    assert time.perf_counter() - started < SECONDS
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 2, result.output
    check_report(result.output, spec, exp)


# A sample through a real process: the console behaviour (stderr, exit status) and the cases
# where a mistake would hurt outside Python (a shell command in a tag, an alias bomb, 10**9 layers,
# an endless device, 10**8 empty bodies).
SAMPLE = ["yaml_tab", "python_tag", "billion_laughs", "enormous_repeat", "shape_add",
          "include_cycle", "set_unknown_param", "expr_string_multiply", "set_python_tag",
          "include_device", "nested_empty_repeats"]


@pytest.mark.parametrize("name", SAMPLE)
def test_validate_in_a_subprocess(name):
    path = BAD / f"{name}.yaml"
    exp = expectation(path)
    # a path relative to the working directory, as a user types it
    spec = os.path.relpath(path, ROOT)
    proc = subprocess.run([sys.executable, "-m", "netc.cli", "validate", *exp.args, spec],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""  # python_tag's `echo pwned` would print here had it run
    check_report(proc.stderr, spec, exp)
