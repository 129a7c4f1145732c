"""The run folder, shared by every trainer.

    runs/<name>-<YYYYmmdd-HHMMSS>/
      spec.yaml         the spec as trained
      ir.json           its IR graph (when the run was started from a spec)
      recipe.yaml       the fully resolved recipe (rewritten when a resume changes it)
      metrics.jsonl     one JSON object per finished epoch
      checkpoints/      last.pt (end of each epoch, and every K steps), best.pt (best on the
                        validation split; none without one)
      curves.png        loss and accuracy against epoch, drawn at the end
      .lock             held by the process writing the folder
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from netc.train.atomic import atomic_write, is_no_space, NoSpaceError
from netc.train.errors import TrainError
from netc.train.recipe import Recipe

try:
    import fcntl
except ImportError:  # Windows: runs there go unlocked
    fcntl = None

SPEC_FILE = "spec.yaml"
IR_FILE = "ir.json"
LOCK_FILE = ".lock"
RECIPE_FILE = "recipe.yaml"
METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"
CHECKPOINT_FOLDER = "checkpoints"


def checkpoint_path(run_dir: Path, which: str = "last") -> Path:
    return Path(run_dir) / CHECKPOINT_FOLDER / f"{which}.pt"


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "run"


class RunLock:
    """An exclusive lock on a run folder, held while a process trains into it: a second run or
    a resume aimed at the same folder is refused instead of interleaving checkpoints. flock
    locks end with their process, so a killed run leaves no stale lock behind."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.handle = None
        if fcntl is None:
            return
        handle = (self.run_dir / LOCK_FILE).open("a+", encoding="utf-8")
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


CHECKPOINT_FILES = {"torch": "last.pt", "keras": "last.weights.h5"}


def checkpoint_backend(run_dir: Path) -> str | None:
    """Which trainer wrote the run's last checkpoint; None when there is none yet."""
    for backend, name in CHECKPOINT_FILES.items():
        if (Path(run_dir) / CHECKPOINT_FOLDER / name).is_file():
            return backend
    return None


def holds_run(run_dir: Path) -> bool:
    return (Path(run_dir) / METRICS_FILE).exists() or checkpoint_backend(run_dir) is not None


def create_run_dir(name: str, out: str | Path | None = None,
                   runs_root: str | Path = "runs") -> Path:
    """A fresh folder for a run: ``out`` if given (it must not hold a run yet), else a new
    time-stamped folder under ``runs_root``."""
    if out is not None:
        run_dir = Path(out)
        if holds_run(run_dir):
            raise TrainError(f"{run_dir} already holds a run",
                             hint="resume it, or choose another --out folder")
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(runs_root) / f"{_safe_name(name)}-{stamp}"
    run_dir, count = base, 1
    while True:
        try:
            run_dir.mkdir(parents=True)
            return run_dir
        except FileExistsError:
            count += 1
            run_dir = base.with_name(f"{base.name}-{count}")


def open_run_dir(name: str, out: str | Path | None = None,
                 runs_root: str | Path = "runs") -> tuple[Path, RunLock]:
    """``create_run_dir``, locked; the check that the folder holds no run comes after the lock,
    so of two runs started into one folder exactly one goes ahead."""
    if out is None:
        run_dir = create_run_dir(name, None, runs_root)
    else:
        run_dir = Path(out)
        run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run_dir)
    if holds_run(run_dir):
        lock.release()
        raise TrainError(f"{run_dir} already holds a run",
                         hint="resume it, or choose another --out folder")
    return run_dir, lock


def write_run_files(run_dir: Path, spec_text: str, recipe: Recipe, ir_text: str = "") -> None:
    (run_dir / SPEC_FILE).write_text(spec_text, encoding="utf-8")
    if ir_text:
        (run_dir / IR_FILE).write_text(ir_text, encoding="utf-8")
    write_recipe(run_dir, recipe)
    (run_dir / CHECKPOINT_FOLDER).mkdir(exist_ok=True)


def write_recipe(run_dir: Path, recipe: Recipe) -> None:
    text = recipe.to_yaml()
    atomic_write(Path(run_dir) / RECIPE_FILE, lambda temp: temp.write_text(text, encoding="utf-8"))


def append_metrics(run_dir: Path, row: dict[str, Any]) -> None:
    path = run_dir / METRICS_FILE
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
                           f"checkpoints in {run_dir / CHECKPOINT_FOLDER} are intact",
                           hint="free some space, then resume the run") from None


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line cut short by a kill; everything before it is whole
    return rows


def truncate_metrics(run_dir: Path, epochs_done: int) -> list[dict[str, Any]]:
    """Keep the rows of the epochs a checkpoint covers, dropping any written after it."""
    rows = [row for row in read_metrics(run_dir) if row.get("epoch", 0) <= epochs_done]
    path = Path(run_dir) / METRICS_FILE
    text = "".join(json.dumps(row) + "\n" for row in rows)
    atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))
    return rows
