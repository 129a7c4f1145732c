"""Training, evaluation and lesion studies for compiled networks, through one core.

The model side hands over a :class:`ModelSource` (or a spec, or an IR graph, from which one is
made); the backend it was built for names the trainer, found through the backend registry
(``netc.backends.get_backend(name).trainer()``). Importing this package imports no framework.

    from netc.train import load_recipe, train, resume
    train("net.yaml", load_recipe("recipe.yaml", {"epochs": 5}), "runs/a")  # as `netc train`
    resume("runs/a", overrides={"epochs": 8})     # the network comes from the folder's ir.json

Backend-neutral: errors, recipe, schedule, resume_plan, data/, run_folder, recorder, run_logs
(CSV and TensorBoard scalars), base (the Trainer interface), selection, state_checks, integrity,
atomic, checkpoint_data, reports, lesion, plots, progress. Each backend's trainer and its helpers live in modules named after the backend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from netc.train.base import RunResult, Trainer
from netc.train.errors import TrainError
from netc.train.progress import Progress
from netc.train.recipe import Recipe, load_recipe, make_recipe, parse_assignments
from netc.train.run_folder import RunFolder

if TYPE_CHECKING:
    from netc.compiler.ir import Graph


@dataclass(frozen=True)
class ModelSource:
    """What training needs from the model side.

    ``build`` returns a fresh model of ``backend``'s framework on each call, deterministic under
    that framework's seed; ``ir_hash`` identifies the network so that a checkpoint is never
    loaded into a different one. ``graph``, when the model comes from a spec, is saved in the
    run folder as ``ir.json`` (so `netc eval` and `netc lesion` need nothing but the folder)
    and lets a trainer rebuild variants of the network (a lesion study's).
    """

    build: Callable[[], Any]
    input_shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int
    spec_text: str
    ir_hash: str
    name: str
    backend: str
    graph: "Graph | None" = None
    initial: "dict | None" = None  # canonical weights every fresh model starts from (transfer)

    @property
    def ir_text(self) -> str:
        """The text of the run folder's ir.json; empty without a graph."""
        return "" if self.graph is None else json.dumps(self.graph.to_json()) + "\n"


def trainer_for(backend: str) -> Trainer:
    """The trainer of a registered backend."""
    from netc.backends import get_backend

    return get_backend(backend).trainer()()


def as_source(model: "ModelSource | Graph | str | Path", backend: str | None = None,
              overrides: Mapping[str, Any] | None = None) -> ModelSource:
    """``model`` as a ModelSource: a ModelSource as it is, else a spec path or an IR graph
    made into one for ``backend`` (netc.runs.model_source)."""
    if isinstance(model, ModelSource):
        if backend is not None and backend != model.backend:
            raise TrainError(f"the model source was built for {model.backend}, not {backend}")
        return model
    from netc import load
    from netc.compiler.ir import Graph
    from netc.runs import model_source

    if isinstance(model, Graph):
        graph, text = model, ""
    else:
        graph, text = load(str(model), dict(overrides or {})), Path(model).read_text("utf-8")
    return model_source(graph, text, *([backend] if backend else []))


def train(model: "ModelSource | Graph | str | Path", recipe: Recipe,
          out: str | Path | None = None, *, backend: str | None = None,
          runs_root: str | Path = "runs", progress: Progress | None = None) -> RunResult:
    """Train ``model`` (a ModelSource, or a spec path or IR graph built for ``backend``) with
    ``recipe`` into a new run folder: ``out``, or a time-stamped one under ``runs_root``. The
    folder is the one `netc train` writes; `netc eval` and `netc lesion` read it. Under a
    distributed launch every process calls this; one of them writes the folder."""
    source = as_source(model, backend)
    trainer = trainer_for(source.backend)
    if out is not None:
        return trainer.start(source, recipe, RunFolder(out), progress)
    if not trainer.writes_folder():
        return trainer.start(source, recipe, None, progress)
    run = RunFolder.fresh(source.name, runs_root)
    with run.discarded_on_failure():
        return trainer.start(source, recipe, run, progress)


def resume(run_dir: str | Path, model: "ModelSource | Graph | str | Path | None" = None,
           overrides: Mapping[str, Any] | None = None, *, backend: str | None = None,
           progress: Progress | None = None) -> RunResult:
    """Continue the run in ``run_dir`` from its last checkpoint. ``model`` defaults to the
    network saved in the folder (its ir.json); ``overrides`` (recipe keys) may extend the run
    or move it (netc.train.resume_plan); other changes are refused."""
    run = RunFolder(run_dir)
    if model is None:
        from netc.runs import model_source, run_graph

        graph, text = run_graph(run.path)
        name = backend or run.backend()
        source = model_source(graph, text, *([name] if name else []))
    else:
        source = as_source(model, backend)
    run.check_backend(source.backend)
    return trainer_for(source.backend).resume(run, source, overrides, progress)


__all__ = ["ModelSource", "Recipe", "RunFolder", "RunResult", "Trainer", "TrainError",
           "as_source", "load_recipe", "make_recipe", "parse_assignments", "resume", "train",
           "trainer_for"]
