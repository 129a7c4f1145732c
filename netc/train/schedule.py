"""Steps per epoch, and learning-rate schedules as pure functions of the global step.

A schedule with no state of its own makes resuming exact: the step counter in the checkpoint is
the whole schedule state, and every trainer computes the same numbers.
"""

from __future__ import annotations

import bisect
import math
from typing import Callable

from netc.train.errors import TrainError
from netc.train.recipe import Recipe

# torch.optim.lr_scheduler.OneCycleLR defaults (Smith & Topin 2019, "Super-convergence").
ONECYCLE_PCT_START = 0.3
ONECYCLE_DIV_FACTOR = 25.0
ONECYCLE_FINAL_DIV_FACTOR = 1e4


def _constant(recipe: Recipe, step: int, steps_per_epoch: int, start: int, total: int) -> float:
    return 1.0


def _step(recipe: Recipe, step: int, steps_per_epoch: int, start: int, total: int) -> float:
    boundaries = [m * steps_per_epoch for m in recipe.step_milestones]
    return recipe.step_gamma ** bisect.bisect_right(boundaries, step)


def _cosine(recipe: Recipe, step: int, steps_per_epoch: int, start: int, total: int) -> float:
    progress = (step - start) / max(1, total - start)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, max(0.0, progress))))


def _anneal_cos(begin: float, end: float, fraction: float) -> float:
    return end + (begin - end) * 0.5 * (1.0 + math.cos(math.pi * fraction))


def _onecycle(recipe: Recipe, step: int, steps_per_epoch: int, start: int, total: int) -> float:
    low = 1.0 / ONECYCLE_DIV_FACTOR
    final = low / ONECYCLE_FINAL_DIV_FACTOR
    span = max(1, total - start)
    rise = max(1.0, ONECYCLE_PCT_START * span - 1)
    position = max(0, step - start)
    if position <= rise:
        return _anneal_cos(low, 1.0, position / rise)
    return _anneal_cos(1.0, final, min(1.0, (position - rise) / max(1.0, span - 1 - rise)))


SCHEDULE_FACTORS: dict[str, Callable[[Recipe, int, int, int, int], float]] = {
    "constant": _constant, "step": _step, "cosine": _cosine, "onecycle": _onecycle,
}


def lr_at(recipe: Recipe, step: int, steps_per_epoch: int) -> float:
    """The learning rate for global step ``step`` (0-based): linear warm-up, then the schedule."""
    total = recipe.epochs * steps_per_epoch
    warmup = round(recipe.warmup_epochs * steps_per_epoch)
    factor = SCHEDULE_FACTORS[recipe.schedule](recipe, step, steps_per_epoch, warmup, total)
    if step < warmup:
        factor *= (step + 1) / warmup
    return recipe.lr * factor


def steps_per_epoch(train_size: int, global_batch: int) -> int:
    """Full batches only: a ragged last batch would give batch norm a tiny batch and the
    ranks of a distributed run unequal shards; the next epoch's shuffle covers the rest."""
    if global_batch > train_size:
        raise TrainError(f"batch_size {global_batch} is larger than the training split "
                         f"({train_size} images)", hint=f"set batch_size <= {train_size}")
    return train_size // global_batch
