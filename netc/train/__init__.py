"""Training, evaluation and lesion studies for compiled networks.

The model side hands over a :class:`ModelSource`; everything here works from it. Importing this
package imports no framework: the recipe, data sources and run-folder format are shared by every
trainer, and the torch entry points below load torch only when first used.

    from netc.train import ModelSource, load_recipe, train, resume
    result = train(source, load_recipe("recipe.yaml", {"epochs": 5}))

Framework-neutral: errors, recipe, resume_plan, schedule, data/, rundir, atomic, integrity,
state_checks, selection, plots, progress.
Torch: batches, checkpoint, optim, runtime, trainer, evaluate, lesion, distributed, worker.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from netc.train.errors import TrainError
from netc.train.recipe import Recipe, load_recipe, make_recipe, parse_assignments

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ModelSource:
    """What training needs from the model side.

    ``build`` returns a fresh model on each call and is deterministic under
    ``torch.manual_seed``; ``ir_hash`` identifies the network so that a checkpoint is never
    loaded into a different one; ``ir_text``, when given, is saved in the run folder as
    ``ir.json`` by the process that holds the folder's lock.
    """

    build: Callable[[], "torch.nn.Module"]
    input_shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int
    spec_text: str
    ir_hash: str
    name: str
    ir_text: str = ""


# Public torch entry points, imported on first use.
_LAZY = {
    "train": "netc.train.trainer",
    "resume": "netc.train.trainer",
    "RunResult": "netc.train.trainer",
    "evaluate": "netc.train.evaluate",
    "evaluate_checkpoint": "netc.train.evaluate",
    "write_evaluation": "netc.train.evaluate",
    "Evaluation": "netc.train.evaluate",
    "load_model": "netc.train.runtime",
    "lesion_study": "netc.train.lesion",
    "write_lesion_report": "netc.train.lesion",
    "launch": "netc.train.distributed",
    "torchrun_argv": "netc.train.distributed",
    "inside_torchrun": "netc.train.distributed",
    "load_data": "netc.train.data",
}

__all__ = ["ModelSource", "Recipe", "TrainError", "load_recipe", "make_recipe",
           "parse_assignments", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'netc.train' has no attribute '{name}'")
    return getattr(importlib.import_module(_LAZY[name]), name)
