"""The command line as a whole: commands registered explicitly, `python -m netc`, `-h`, and the
shared `--backends` option."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from netc.cli import main
from netc.commands import COMMANDS

SPEC = str(Path(__file__).resolve().parent.parent / "examples" / "resnet20_cifar.yaml")


def test_every_command_module_is_registered():
    names = set(main.commands)
    assert {c.name for c in COMMANDS} <= names
    assert {"validate", "summary", "build", "schema", "ops", "train", "eval", "lesion", "embed",
            "diff", "check", "weights", "table", "export", "graph"} == names


def test_python_dash_m_netc_runs_the_command():
    out = subprocess.run([sys.executable, "-m", "netc", "validate", SPEC], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "ok (" in out.stdout, out.stderr


@pytest.mark.parametrize("args", [["-h"], ["validate", "-h"], ["train", "-h"]])
def test_dash_h_is_help(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0 and result.output.startswith("Usage: ")


@pytest.mark.parametrize("command", ["diff", "check"])
@pytest.mark.parametrize("value, message", [
    ("", "'' is not a backend"), ("torch,torch", "each backend may be named once"),
    ("torhc", "did you mean 'torch'"), ("torch,", "'' is not a backend")])
def test_backend_lists_are_checked(command, value, message):
    result = CliRunner().invoke(main, [command, SPEC, "--backends", value])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_check_needs_two_backends():
    result = CliRunner().invoke(main, ["check", SPEC, "--backends", "torch"])
    assert result.exit_code == 2 and "at least 2 backends" in result.output
