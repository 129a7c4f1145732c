"""The run folder: every file of a run, named here and nowhere else.

    runs/<name>-<YYYYmmdd-HHMMSS>/
      spec.yaml         the spec as trained
      ir.json           its IR graph (a run started from a spec, by the CLI or the Python API)
      recipe.yaml       the fully resolved recipe (rewritten when a resume changes it)
      backend.txt       the name of the backend that trains the run
      metrics.jsonl     one JSON object per finished epoch
      metrics.csv       the same rows as a table, one line per epoch
      events.out.tfevents.*  TensorBoard scalars of the same rows (`tensorboard --logdir runs`)
      checkpoints/      last<SUFFIX> (end of each epoch, and every K steps), best<SUFFIX> (best
                        on the validation split; none without one); the suffix is the trainer's
      curves.png        loss and accuracy against epoch, drawn at the end
      predictions.png   per-pixel models: validation images, labels and predictions, each epoch
      eval*.json        `netc eval` reports (eval.json for the test split, eval-<split>.json),
                        each with its confusion matrix figure; lesion.json and lesion.png
      .lock             held by the process writing the folder

Imports no framework.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

from netc.train.atomic import NoSpaceError, atomic_write, is_no_space
from netc.train.errors import TrainError
from netc.train.recipe import Recipe

try:
    import fcntl
except ImportError:  # Windows: runs there go unlocked
    fcntl = None


class RunLock:
    """An exclusive lock on a run folder, held while a process trains into it: a second run or
    a resume aimed at the same folder is refused instead of interleaving checkpoints. flock
    locks end with their process, so a killed run leaves no stale lock behind."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.handle = None
        if fcntl is None:
            return
        handle = (self.run_dir / RunFolder.LOCK).open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise TrainError(f"{self.run_dir} is being written by another run (process "
                             f"{holder})", hint="wait for it to end, or choose another "
                                                "--out folder") from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "run"


class RunFolder:
    """One run's folder on disk. Trainers, `netc train`, `netc eval` and `netc lesion` reach
    its files only through this class."""

    SPEC = "spec.yaml"
    IR = "ir.json"
    RECIPE = "recipe.yaml"
    BACKEND = "backend.txt"
    TRANSFER = "transfer.json"  # what init_weights gave the run: netc.transfer.Transfer
    METRICS = "metrics.jsonl"
    CSV = "metrics.csv"
    EVENTS = "events.out.tfevents.*"  # TensorBoard's own file names, in the folder itself
    CURVES = "curves.png"
    PREDICTIONS = "predictions.png"
    CHECKPOINTS = "checkpoints"
    LOCK = ".lock"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @classmethod
    def fresh(cls, name: str, runs_root: str | Path = "runs") -> "RunFolder":
        """A new, empty, time-stamped folder under ``runs_root``, named after the network."""
        base = Path(runs_root) / f"{_safe_name(name)}-{time.strftime('%Y%m%d-%H%M%S')}"
        path, count = base, 1
        while True:
            try:
                path.mkdir(parents=True)
                return cls(path)
            except FileExistsError:
                count += 1
                path = base.with_name(f"{base.name}-{count}")

    # -- names ------------------------------------------------------------------------------

    @property
    def ir_path(self) -> Path:
        return self.path / self.IR

    @property
    def spec_path(self) -> Path:
        return self.path / self.SPEC

    @property
    def recipe_path(self) -> Path:
        return self.path / self.RECIPE

    @property
    def metrics_path(self) -> Path:
        return self.path / self.METRICS

    @property
    def csv_path(self) -> Path:
        return self.path / self.CSV

    @property
    def events_folder(self) -> Path:
        """Where TensorBoard event files go: the run folder, so TensorBoard names the run
        after it."""
        return self.path

    def event_files(self) -> list[Path]:
        return sorted(self.path.glob(self.EVENTS))

    @property
    def curves_path(self) -> Path:
        return self.path / self.CURVES

    @property
    def predictions_path(self) -> Path:
        return self.path / self.PREDICTIONS

    @property
    def checkpoint_folder(self) -> Path:
        return self.path / self.CHECKPOINTS

    def checkpoint(self, suffix: str, which: str = "last") -> Path:
        """``checkpoints/<which><suffix>``; ``suffix`` is the trainer's (``.pt``, ...)."""
        return self.checkpoint_folder / f"{which}{suffix}"

    def existing_checkpoint(self, which: str = "last") -> Path | None:
        """The checkpoint ``which`` of whichever trainer wrote it, when there is one."""
        if not self.checkpoint_folder.is_dir():
            return None
        found = sorted(p for p in self.checkpoint_folder.glob(f"{which}.*") if p.is_file())
        return found[0] if found else None

    def evaluation_paths(self, stem: str) -> tuple[Path, Path]:
        """(``<stem>.json``, ``<stem>-confusion.png``) of an evaluation report."""
        return self.path / f"{stem}.json", self.path / f"{stem}-confusion.png"

    def lesion_paths(self, stem: str = "lesion") -> tuple[Path, Path]:
        """(``<stem>.json``, ``<stem>.png``) of a lesion study."""
        return self.path / f"{stem}.json", self.path / f"{stem}.png"

    # -- the folder's life ------------------------------------------------------------------

    def holds_run(self) -> bool:
        return self.metrics_path.exists() or self.existing_checkpoint() is not None

    def lock(self) -> RunLock:
        return RunLock(self.path)

    def lock_new(self) -> RunLock:
        """Create the folder if need be and lock it for a new run. The check that it holds no
        run comes after the lock, so of two runs started into one folder exactly one goes
        ahead."""
        self.path.mkdir(parents=True, exist_ok=True)
        lock = RunLock(self.path)
        if self.holds_run():
            lock.release()
            raise TrainError(f"{self.path} already holds a run",
                             hint="resume it, or choose another --out folder")
        return lock

    def write_start(self, spec_text: str, ir_text: str, recipe: Recipe, backend: str) -> None:
        """The files a run begins with, written by the process that holds the lock."""
        self.spec_path.write_text(spec_text, encoding="utf-8")
        if ir_text:
            self.ir_path.write_text(ir_text, encoding="utf-8")
        (self.path / self.BACKEND).write_text(f"{backend}\n", encoding="utf-8")
        self.write_recipe(recipe)
        self.checkpoint_folder.mkdir(exist_ok=True)

    def write_transfer(self, report: dict) -> None:
        (self.path / self.TRANSFER).write_text(json.dumps(report, indent=1) + "\n",
                                               encoding="utf-8")

    def backend(self) -> str | None:
        """The name of the backend that trains this run; None for a folder without the record."""
        path = self.path / self.BACKEND
        if not path.is_file():
            return None
        return path.read_text(encoding="utf-8").strip() or None

    def check_backend(self, name: str) -> None:
        """Refuse to continue this run with another backend than the one that trained it."""
        recorded = self.backend()
        if recorded is not None and recorded != name:
            raise TrainError(f"{self.path} is a {recorded} run, and --backend is {name}",
                             hint=f"resume it with --backend {recorded}")

    @contextlib.contextmanager
    def discarded_on_failure(self) -> Iterator[None]:
        """For a folder made for this run: remove it when the run fails or is interrupted
        before it wrote a metrics row or a checkpoint, so a run that never started leaves
        nothing behind."""
        try:
            yield
        except BaseException:
            if not self.holds_run():
                shutil.rmtree(self.path, ignore_errors=True)
            raise

    # -- recipe and metrics -----------------------------------------------------------------

    def write_recipe(self, recipe: Recipe) -> None:
        text = recipe.to_yaml()
        atomic_write(self.recipe_path, lambda temp: temp.write_text(text, encoding="utf-8"))

    def append_metrics(self, row: dict[str, Any]) -> None:
        path = self.metrics_path
        try:
            with path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as err:
            if not is_no_space(err):
                raise
            # A resume drops a row cut short, so the folder stays consistent with its checkpoints.
            raise NoSpaceError(f"no space left on the device while appending to {path}; the "
                               f"checkpoints in {self.checkpoint_folder} are intact",
                               hint="free some space, then resume the run") from None

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        rows = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut short by a kill; everything before it is whole
        return rows

    def truncate_metrics(self, epochs_done: int) -> list[dict[str, Any]]:
        """Keep the rows of the epochs a checkpoint covers, dropping any written after it."""
        rows = [row for row in self.read_metrics() if row.get("epoch", 0) <= epochs_done]
        text = "".join(json.dumps(row) + "\n" for row in rows)
        atomic_write(self.metrics_path, lambda temp: temp.write_text(text, encoding="utf-8"))
        return rows


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The metrics rows of the run in ``run_dir``."""
    return RunFolder(run_dir).read_metrics()
