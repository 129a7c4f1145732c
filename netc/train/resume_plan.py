"""What a resumed run may change: settings given with ``--resume`` are applied and announced,
or refused; never ignored.

A resumed run continues its saved recipe. A few settings may change: ``epochs`` (extend a run,
finished or not; schedules that span the whole run are recomputed over the new length), and
``device``, ``threads``, ``compile`` and ``channels_last`` (where and how fast it runs, not what
it computes). Anything else that differs from the saved recipe is refused: the run would
silently become another experiment.
"""
from __future__ import annotations

from typing import Any, Mapping

from netc.train.errors import TrainError
from netc.train.recipe import Recipe, override_recipe

CHANGEABLE = ("epochs", "device", "threads", "compile", "channels_last")
# The learning rate of these schedules at a step depends on the run's total length.
LENGTH_DEPENDENT_SCHEDULES = ("cosine", "onecycle")


def resume_recipe(saved: Recipe, overrides: Mapping[str, Any] | None, epochs_done: int,
                  where: str) -> tuple[Recipe, list[str]]:
    """The recipe the resumed run continues with, and one line per change to announce."""
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    wanted = override_recipe(saved, given, "override")
    changed = [key for key in given if getattr(wanted, key) != getattr(saved, key)]
    refused = [key for key in changed if key not in CHANGEABLE]
    if refused:
        listing = ", ".join(f"{key} ({_show(getattr(saved, key))} -> "
                            f"{_show(getattr(wanted, key))})" for key in refused)
        raise TrainError(f"{where}: a resumed run keeps its recipe; cannot change {listing}",
                         hint=f"a resumed run may change only {', '.join(CHANGEABLE)}; for "
                              f"other settings start a new run (e.g. with --recipe "
                              f"RUN/recipe.yaml and your flags)")
    if wanted.epochs < epochs_done:
        raise TrainError(f"{where}: cannot resume with epochs {wanted.epochs}: the run has "
                         f"finished {epochs_done} epochs already")
    return wanted, [_announce(key, saved, wanted) for key in changed]


def resume_message(run_dir: Any, epochs_done: int, epochs: int, step: int | None = None) -> str:
    """The line a resumed run starts with: where it continues, or that it is finished."""
    if epochs_done >= epochs:
        return (f"{run_dir} has finished all {epochs} epochs; nothing to train (pass --epochs "
                "to extend it)")
    where = f"resuming {run_dir} at epoch {epochs_done + 1}"
    return where if step is None else f"{where}, step {step}"


def _announce(key: str, saved: Recipe, wanted: Recipe) -> str:
    line = f"{key}: {_show(getattr(saved, key))} -> {_show(getattr(wanted, key))}"
    if key == "epochs" and wanted.schedule in LENGTH_DEPENDENT_SCHEDULES:
        line += (f" (the {wanted.schedule} learning-rate schedule now spans {wanted.epochs} "
                 "epochs, so the learning rate from here on differs from the original run's)")
    return line


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)
