"""Helpers for the training tests that start subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
# A spec small enough to train in a second: runs through the CLI and the run-folder tests.
TINY = """netc: 1
name: tiny
input: {shape: [1, 8, 8]}
body:
  - conv2d: {name: conv, out: 4, kernel: 3, pad: 1}
  - relu
  - global_avgpool
  - linear: {name: fc, out: 10}
"""


def worker_env() -> dict[str, str]:
    """Environment for a subprocess that imports netc and this folder's test models."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), str(HERE),
                                                    env.get("PYTHONPATH", "")] if p)
    env["OMP_NUM_THREADS"] = "1"  # see conftest.one_torch_thread
    return env


def worker_command(model: str, *args: str) -> list[str]:
    """Train one of netc_train_models.SOURCES in a subprocess (train_source.py)."""
    return [sys.executable, str(HERE / "train_source.py"), model, *args]


def run_worker(model: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    result = subprocess.run(worker_command(model, *args), env=worker_env(), cwd=REPO,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result


class Interrupt(Exception):
    """Raised by StopsInEpoch."""


def stops_in_epoch(epoch: int):
    """A Progress that stands in for a kill: raises Interrupt at the first step of ``epoch``."""
    from netc.train.progress import Progress

    class StopsInEpoch(Progress):
        def step(self, at_epoch, *args) -> None:
            if at_epoch == epoch:
                raise Interrupt

    return StopsInEpoch(enabled=False)
