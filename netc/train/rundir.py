"""The run folder, shared by every trainer.

    runs/<name>-<YYYYmmdd-HHMMSS>/
      spec.yaml         the spec as trained
      recipe.yaml       the fully resolved recipe
      metrics.jsonl     one JSON object per finished epoch
      checkpoints/      last.pt (end of each epoch, and every K steps), best.pt
      curves.png        loss and accuracy against epoch, drawn at the end
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from netc.train.atomic import atomic_write
from netc.train.errors import TrainError
from netc.train.recipe import Recipe

SPEC_FILE = "spec.yaml"
RECIPE_FILE = "recipe.yaml"
METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"
CHECKPOINT_FOLDER = "checkpoints"


def checkpoint_path(run_dir: Path, which: str = "last") -> Path:
    return Path(run_dir) / CHECKPOINT_FOLDER / f"{which}.pt"


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "run"


def create_run_dir(name: str, out: str | Path | None = None,
                   runs_root: str | Path = "runs") -> Path:
    """A fresh folder for a run: ``out`` if given (it must not hold a run yet), else a new
    time-stamped folder under ``runs_root``."""
    if out is not None:
        run_dir = Path(out)
        if (run_dir / METRICS_FILE).exists() or checkpoint_path(run_dir).exists():
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


def write_run_files(run_dir: Path, spec_text: str, recipe: Recipe) -> None:
    (run_dir / SPEC_FILE).write_text(spec_text, encoding="utf-8")
    (run_dir / RECIPE_FILE).write_text(recipe.to_yaml(), encoding="utf-8")
    (run_dir / CHECKPOINT_FOLDER).mkdir(exist_ok=True)


def append_metrics(run_dir: Path, row: dict[str, Any]) -> None:
    with (run_dir / METRICS_FILE).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


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
