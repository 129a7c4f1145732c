"""What `netc eval` and `netc lesion` report, written into a run folder. Imports no framework."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netc.train.plots import plot_confusion, plot_lesion
from netc.train.run_folder import RunFolder


@dataclass(frozen=True)
class Evaluation:
    data: str
    split: str
    accuracy: float
    loss: float
    count: int
    classes: tuple[str, ...]
    confusion: np.ndarray  # [true class, predicted class] counts
    checkpoint: str = ""   # the file scored, and what it holds
    epoch: int | None = None
    epochs: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"data": self.data, "split": self.split, "accuracy": self.accuracy,
                "loss": self.loss, "count": self.count, "checkpoint": self.checkpoint,
                "epoch": self.epoch, "epochs": self.epochs, "classes": list(self.classes),
                "confusion": self.confusion.tolist()}


def summarize_confusion(loss_sum: float, confusion: np.ndarray) -> tuple[float, float, int]:
    """(accuracy, mean loss, count) from a summed loss and ``[true, predicted]`` counts."""
    count = int(confusion.sum())
    return float(np.trace(confusion)) / max(1, count), loss_sum / max(1, count), count


def report_stem(split: str) -> str:
    """Report file names per split: the test report is ``eval``, others sit beside it."""
    return "eval" if split == "test" else f"eval-{split}"


def write_evaluation(evaluation: Evaluation, out_dir: str | Path,
                     stem: str | None = None) -> tuple[Path, Path | None]:
    """``<stem>.json`` (numbers and confusion matrix) and ``<stem>-confusion.png`` (None when
    matplotlib is missing); ``stem`` defaults to the split's (``report_stem``)."""
    json_path, png_path = _folder(out_dir).evaluation_paths(stem or report_stem(evaluation.split))
    json_path.write_text(json.dumps(evaluation.to_dict(), indent=1) + "\n", encoding="utf-8")
    title = (f"{evaluation.data} {evaluation.split}: {100 * evaluation.accuracy:.2f}% "
             f"of {evaluation.count}")
    drawn = plot_confusion(evaluation.confusion, evaluation.classes, png_path, title)
    return json_path, png_path if drawn else None


def write_lesion_report(report: dict[str, Any], out_dir: str | Path,
                        stem: str = "lesion") -> tuple[Path, Path | None]:
    """``<stem>.json`` and ``<stem>.png`` (accuracy against blocks deleted; None when matplotlib
    is missing)."""
    json_path, png_path = _folder(out_dir).lesion_paths(stem)
    json_path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return json_path, png_path if plot_lesion(report, png_path) else None


def _folder(out_dir: str | Path) -> RunFolder:
    folder = RunFolder(out_dir)
    folder.path.mkdir(parents=True, exist_ok=True)
    return folder
