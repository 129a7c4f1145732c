"""Checks on run state shared by every trainer: the structure of a loaded checkpoint, its
progress counters, and a model whose weights or batch-norm statistics stopped being finite.

A checkpoint is data from disk: each field is checked for presence and type before a trainer
reads it, so a foreign or edited file is a TrainError that names the field, never a KeyError.
Framework-neutral: tensor types are passed in by the caller.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np

from netc.train.errors import TrainError

INT = "an integer"
FLOAT = "a number"
STR = "a string"
DICT = "a mapping"


def _is(kind: str, value: Any) -> bool:
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == FLOAT:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if kind == STR:
        return isinstance(value, str)
    return isinstance(value, dict)


def check_fields(payload: Mapping[str, Any], fields: Mapping[str, Any], where: str) -> None:
    """Each ``fields`` key must be in ``payload`` with a value of its kind: INT, FLOAT, STR, DICT
    or a tuple of Python types."""
    for key, kind in fields.items():
        if key not in payload:
            raise TrainError(f"{where}: the checkpoint lacks '{key}'",
                             hint="it is damaged, or was not written by netc")
        value = payload[key]
        ok = isinstance(value, kind) if isinstance(kind, tuple) else _is(kind, value)
        if not ok:
            expected = kind if isinstance(kind, str) else " or ".join(t.__name__ for t in kind)
            raise TrainError(f"{where}: checkpoint field '{key}' must be {expected}, got "
                             f"{type(value).__name__}")


def check_progress(where: str, epoch: int, epochs: int, step: int = 0,
                   steps: int | None = None) -> None:
    """Finished epochs within the recipe's, and the step within its epoch."""
    if not 0 <= epoch <= epochs:
        raise TrainError(f"{where}: the checkpoint says {epoch} epochs are done, but its recipe "
                         f"trains {epochs}", hint="it is damaged or was edited")
    if steps is not None and not 0 <= step < steps:
        raise TrainError(f"{where}: the checkpoint is at step {step} of an epoch of {steps} "
                         "steps", hint="it is damaged, or the data changed since it was written")
    if epoch == epochs and step:
        raise TrainError(f"{where}: the checkpoint is {step} steps past its last epoch")


def first_non_finite(named: Iterable[tuple[str, np.ndarray]]) -> tuple[str, float] | None:
    """(name, a bad value) of the first array holding a NaN or an infinity, else None."""
    for name, array in named:
        bad = array[~np.isfinite(array)]
        if bad.size:
            return name, float(bad.reshape(-1)[0])
    return None


def non_finite_state_error(name: str, value: float, epoch: int, lr: float) -> TrainError:
    """The error that stops a run whose model state went NaN or infinite, before it is saved."""
    statistic = any(mark in name for mark in ("running_", "moving_"))
    what = "batch-norm statistic" if statistic else "weight"
    return TrainError(f"the {what} '{name}' became {value} during epoch {epoch}; stopped "
                      "before saving it, so the last checkpoint holds the state before",
                      hint=f"lower lr (it was {lr:.4g}), add warmup_epochs, or train in fp32")


def check_ir_hash(state: Mapping[str, Any], ir_hash: str, where: str) -> None:
    """Refuse a checkpoint of another network than the one about to load it."""
    if state.get("ir_hash") != ir_hash:
        raise TrainError(f"{where} was trained from a different network (IR hash "
                         f"{state.get('ir_hash')}), this spec hashes to {ir_hash}",
                         hint="use the spec the run was trained from (its spec.yaml)")


def loss_error(loss: float, epoch: int, step: int, steps: int, lr: float) -> TrainError:
    """The error that stops a run whose loss stopped being finite (``step`` is 1-based)."""
    return TrainError(f"the loss became {loss} at epoch {epoch}, step {step} of {steps}",
                      hint=f"lower lr (this step used {lr:.4g}), add warmup_epochs, or train "
                           f"in fp32")
