"""The end of an epoch, the same for every trainer: its metrics row, the best-score rule, and
what is saved.

A trainer hands over the epoch's training statistics and a way to score the held-out splits;
the recorder builds the row (``epoch``, ``train_loss``, ``train_acc``, ``<split>_loss`` and
``<split>_acc`` per held-out split, ``lr``, ``images_per_s``, ``time_s``), offers it to the best
score (netc.train.selection), appends it to ``metrics.jsonl``, has the trainer write its last
checkpoint and copies that to ``best`` when the epoch improved on the validation split.
Imports no framework.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from netc.train.atomic import atomic_copy
from netc.train.plots import plot_curves
from netc.train.progress import Progress
from netc.train.run_folder import RunFolder
from netc.train.selection import Best

Scores = dict[str, tuple[float, float]]  # split -> (mean loss, accuracy)


class EpochRecorder:
    """Rows, best score and checkpoint decisions of one run. ``run`` is None in a process that
    does not write the folder (a distributed run's ranks other than 0)."""

    def __init__(self, epochs: int, progress: Progress, suffix: str, temp_suffix: str):
        self.epochs = epochs
        self.progress = progress
        self.suffix, self.temp_suffix = suffix, temp_suffix
        self.run: RunFolder | None = None
        self.history: list[dict[str, Any]] = []
        self.best = Best()

    def attach(self, run: RunFolder, history: list[dict[str, Any]] | None = None) -> None:
        self.run = run
        self.history = list(history or [])

    @property
    def last_checkpoint(self):
        return None if self.run is None else self.run.checkpoint(self.suffix)

    def row(self, epoch: int, train_loss: float, train_acc: float, lr: float, images: int,
            train_seconds: float, scores: Callable[[], Scores]) -> dict[str, Any]:
        """The metrics row of finished epoch ``epoch`` (1-based); ``scores`` runs here, so
        ``time_s`` counts the evaluation as well as the training."""
        started = time.perf_counter()
        row: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc}
        for name, (loss, accuracy) in scores().items():
            row[f"{name}_loss"], row[f"{name}_acc"] = loss, accuracy
        row["lr"] = lr
        row["images_per_s"] = images / max(1e-9, train_seconds)
        row["time_s"] = train_seconds + time.perf_counter() - started
        return row

    def commit(self, row: dict[str, Any], save_last: Callable[[], None]) -> None:
        """Keep ``row``; in the writing process append it to the metrics, write the last
        checkpoint (``save_last``, which reads the best score as updated by this row) and copy
        it to ``best`` when the row improved on it."""
        self.history.append(row)
        improved = self.best.offer(row)
        if self.run is not None:
            self.run.append_metrics(row)
            save_last()
            if improved:
                atomic_copy(self.last_checkpoint, self.run.checkpoint(self.suffix, "best"),
                            self.temp_suffix)
        self.progress.epoch(row, self.epochs)

    def close(self) -> None:
        """Draw the curves of the whole run (nothing without matplotlib)."""
        if self.run is not None:
            plot_curves(self.history, self.run.curves_path)
