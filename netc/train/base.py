"""The Trainer interface every backend's trainer implements, and the run it drives.

A backend's trainer (found through the backend registry: ``get_backend(name).trainer()``) knows
how to set up its framework's model, optimizer and data for a recipe, run epochs, write and read
its checkpoints, and score a checkpoint. Everything else about a run is here, once: a new run
locks a fresh folder and writes its spec, IR, recipe and backend; a resumed run locks its folder,
reads the last checkpoint, refuses another network, applies the settings a resume may change
(netc.train.resume_plan), keeps the metrics rows its checkpoint covers and says where it goes on;
each epoch ends in the shared recorder (netc.train.recorder). Imports no framework.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from netc.train.atomic import TEMP_SUFFIX, remove_stale_temps
from netc.train.errors import TrainError
from netc.train.initial import with_initial_weights
from netc.train.progress import Progress
from netc.train.recipe import Recipe, check_runnable, recipe_from_dict
from netc.train.recorder import EpochRecorder
from netc.train.resume_plan import resume_message, resume_recipe
from netc.train.run_folder import RunFolder
from netc.train.state_checks import check_ir_hash

if TYPE_CHECKING:
    from netc.train import ModelSource
    from netc.train.reports import Evaluation
    from netc.train.run_logs import EventWriter


@dataclass
class RunResult:
    run_dir: Path | None          # None in a process that does not write the folder
    model: Any                    # the trained model of the backend's framework
    history: list[dict[str, Any]] = field(default_factory=list)
    best_accuracy: float | None = None  # validation accuracy of the best checkpoint


class Session(ABC):
    """One backend's model, optimizer and data for one recipe, and the epochs still to run.

    ``recorder`` ends each epoch; ``epochs_done`` counts finished epochs; ``resume_step`` is
    the step within the next epoch a restored checkpoint continues at (None when the backend
    checkpoints at epoch ends only)."""

    model: Any
    recorder: EpochRecorder
    epochs_done: int = 0
    resume_step: int | None = None

    @abstractmethod
    def fit(self) -> None:
        """Train up to the recipe's last epoch."""

    @abstractmethod
    def restore(self, state: dict[str, Any], where: str) -> None:
        """Continue from a checkpoint that ``Trainer.read_checkpoint`` read; a part that does
        not fit this run is a TrainError naming it."""


class Trainer(ABC):
    """One backend's trainer. Subclasses name their backend, their checkpoint file suffix and
    the suffix of its temporary files, and build sessions."""

    name: str
    checkpoint_suffix: str
    temp_suffix: str = TEMP_SUFFIX

    # -- what a backend supplies ------------------------------------------------------------

    @abstractmethod
    def open_session(self, source: "ModelSource", recipe: Recipe,
                     progress: Progress | None) -> Session:
        """Load the data and build the model and optimizer; nothing is written yet."""

    @abstractmethod
    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        """A checkpoint's run state, its checksum verified and its fields checked. It holds
        at least ``ir_hash``, ``recipe`` and ``epoch``."""

    @abstractmethod
    def evaluate(self, checkpoint: Path, source: "ModelSource", data: str | None = None,
                 split: str = "test", *, device: str = "auto",
                 batch_size: int | None = None, ema: bool = False) -> "Evaluation":
        """Score a checkpoint on one split; ``data`` defaults to what the run trained on.
        ``ema``: score the average of the weights it holds (a run with ``recipe.ema``)."""

    @abstractmethod
    def lesion(self, checkpoint: Path, source: "ModelSource", data: str | None = None,
               **options: Any) -> dict[str, Any]:
        """A lesion study of a checkpoint (netc.train.lesion)."""

    def embed(self, checkpoint: Path | None, source: "ModelSource", names: list[str],
              data: str | None, out: str | Path, batch_size: int) -> dict[str, tuple[int, ...]]:
        """Write the features at ``names`` of a checkpoint's model (None: a seeded fresh one)
        for ``data`` (default: what the checkpoint trained on) to ``out``; the arrays' shapes."""
        raise TrainError(f"the {self.name} trainer does not write embeddings",
                         hint="netc embed reads runs of a backend whose trainer does")

    def writes_folder(self) -> bool:
        """Whether this process writes the run folder (one process of a distributed run)."""
        return True

    def leave(self, finished: bool) -> None:
        """Called once the run is over, finished or not (a distributed run leaves its group)."""

    def launch(self, command: list[str], processes: int, nodes: int = 1,
               endpoint: str | None = None) -> int:
        """Run ``command`` in ``processes`` processes per node; the exit status."""
        from netc.train.errors import TrainError

        raise TrainError(f"the {self.name} trainer does not start processes itself",
                         hint="drop --nproc-per-node")

    def launched(self) -> bool:
        """True in a process that ``launch`` started (so the CLI must train, not launch)."""
        return False

    def reports_interrupts(self) -> bool:
        """Whether this process tells the user how to continue an interrupted run."""
        return True

    # -- the run, the same for every backend ------------------------------------------------

    def event_writer(self, run: RunFolder, first_epoch: int) -> "EventWriter | None":
        """A TensorBoard writer into ``run.events_folder`` whose events from ``first_epoch`` on
        replace any an interrupted run left there; None where the framework cannot write one."""
        return None

    def recorder(self, recipe: Recipe, progress: Progress, name: str = "") -> EpochRecorder:
        return EpochRecorder(recipe.epochs, progress, self.checkpoint_suffix, self.temp_suffix,
                             recipe.patience, self.event_writer, name)

    def start(self, source: "ModelSource", recipe: Recipe, run: RunFolder | None,
              progress: Progress | None = None) -> RunResult:
        """Train ``source`` with ``recipe`` into the new run folder ``run`` (None in a process
        that does not write it)."""

        check_runnable(recipe, source.input_shape)
        source, transferred = with_initial_weights(source, recipe)

        def setup(locks: contextlib.ExitStack) -> Session:
            session = self.open_session(source, recipe, progress)
            if transferred is not None:
                session.recorder.progress.message(transferred.text())
            if run is not None and self.writes_folder():
                locks.enter_context(run.lock_new())
                run.write_start(source.spec_text, source.ir_text, recipe, self.name)
                if transferred is not None:
                    run.write_transfer(transferred.to_json())
                session.recorder.attach(run)
                session.recorder.progress.message(f"run folder: {run}")
            return session

        return self._run(setup)

    def resume(self, run: RunFolder, source: "ModelSource",
               overrides: Mapping[str, Any] | None = None,
               progress: Progress | None = None) -> RunResult:
        """Continue ``run`` from its last checkpoint, to the same end as if it had never
        stopped. ``source`` must build the network the run was trained with; ``overrides``
        (recipe keys) may extend the run or move it (netc.train.resume_plan)."""
        path = run.checkpoint(self.checkpoint_suffix)

        def setup(locks: contextlib.ExitStack) -> Session:
            writes = self.writes_folder()
            if writes:
                locks.enter_context(run.lock())
            state = self.read_checkpoint(path)
            check_ir_hash(state, source.ir_hash, str(path))
            saved = recipe_from_dict(state["recipe"], where=str(path))
            recipe, changes = resume_recipe(saved, overrides, state["epoch"], str(run))
            check_runnable(recipe, source.input_shape)
            session = self.open_session(source, recipe, progress)
            session.restore(state, str(path))
            if writes:
                remove_stale_temps(path.parent, self.temp_suffix)
                session.recorder.attach(run, run.truncate_metrics(session.epochs_done))
                if changes:
                    run.write_recipe(recipe)
                say = session.recorder.progress.message
                for change in changes:
                    say(f"resume applies {change}")
                done = session.epochs_done
                if done < recipe.epochs and session.recorder.stops_early(done):
                    say(f"{run} stopped early after epoch {session.epochs_done}: "
                        f"{session.recorder.stop_reason()}; nothing to train")
                else:
                    say(resume_message(run, session.epochs_done, recipe.epochs,
                                       session.resume_step))
            return session

        return self._run(setup)

    def _run(self, setup: Callable[[contextlib.ExitStack], Session]) -> RunResult:
        """``setup(locks)`` makes the session; a folder lock it enters into ``locks`` is held
        until the run ends, however it ends."""
        with contextlib.ExitStack() as locks:
            try:
                session = setup(locks)
                session.fit()
                session.recorder.close()
            except BaseException:
                self.leave(finished=False)
                raise
        self.leave(finished=True)
        recorder = session.recorder
        return RunResult(recorder.run.path if recorder.run else None, session.model,
                         recorder.history, recorder.best.accuracy)
