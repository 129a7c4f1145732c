"""The end of an epoch, the same for every trainer: its metrics row, the best-score rule, early
stopping, what is saved and logged, and the run's closing summary.

A trainer hands over the epoch's training statistics and a way to score the held-out splits;
the recorder builds the row (``epoch``, ``train_loss``, ``train_acc``, ``<split>_loss`` and
``<split>_acc`` per held-out split, with ``<split>_miou`` for a per-pixel model, the average
weights' ``ema_<split>_*`` when the recipe keeps one, ``lr``, ``images_per_s``, ``time_s``),
offers it to the best score (netc.train.selection), appends it to ``metrics.jsonl``, rewrites
``metrics.csv``, adds it to the TensorBoard events, has the trainer write its last checkpoint and
copies that to ``best`` when the epoch improved on the validation split. With ``patience`` the
run stops once that many epochs in a row have not improved on it; the best score's epoch is in
every checkpoint, so a resumed run knows how long it has waited. Imports no framework.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from netc.train.atomic import atomic_copy
from netc.train.plots import plot_curves
from netc.train.progress import Progress, describe_time
from netc.train.run_folder import RunFolder
from netc.train.run_logs import EventWriter, write_csv, write_scalars
from netc.train.selection import Best

Scores = dict[str, tuple[float, ...]]  # split -> (mean loss, accuracy[, mean IoU])
# Opens the TensorBoard writer of a run folder; its argument is the first epoch it will log
# (events of that epoch and later, left by an interrupted run, are to be dropped).
OpenEvents = Callable[[RunFolder, int], "EventWriter | None"]


class EpochRecorder:
    """Rows, best score, early stopping and checkpoint decisions of one run. ``run`` is None in
    a process that does not write the folder (a distributed run's ranks other than 0)."""

    def __init__(self, epochs: int, progress: Progress, suffix: str, temp_suffix: str,
                 patience: int = 0, open_events: OpenEvents | None = None, name: str = ""):
        self.epochs, self.patience, self.name = epochs, patience, name
        self.progress = progress
        self.suffix, self.temp_suffix = suffix, temp_suffix
        self.open_events = open_events
        self.events: EventWriter | None = None
        self.run: RunFolder | None = None
        self.history: list[dict[str, Any]] = []
        self.best = Best()
        self.committed = 0  # epochs this process finished

    def attach(self, run: RunFolder, history: list[dict[str, Any]] | None = None) -> None:
        self.run = run
        self.history = list(history or [])
        if self.open_events is not None:
            self.events = self.open_events(run, len(self.history) + 1)

    @property
    def last_checkpoint(self):
        return None if self.run is None else self.run.checkpoint(self.suffix)

    def row(self, epoch: int, train_loss: float, train_acc: float, lr: float, images: int,
            train_seconds: float, scores: Callable[[], Scores]) -> dict[str, Any]:
        """The metrics row of finished epoch ``epoch`` (1-based); ``scores`` runs here, so
        ``time_s`` counts the evaluation as well as the training."""
        started = time.perf_counter()
        row: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc}
        for name, (loss, accuracy, *iou) in scores().items():
            row[f"{name}_loss"], row[f"{name}_acc"] = loss, accuracy
            if iou:  # a per-pixel model's mean IoU
                row[f"{name}_miou"] = iou[0]
        row["lr"] = lr
        row["images_per_s"] = images / max(1e-9, train_seconds)
        row["time_s"] = train_seconds + time.perf_counter() - started
        return row

    def commit(self, row: dict[str, Any], save_last: Callable[[], None]) -> None:
        """Keep ``row``; in the writing process append it to the metrics and logs, write the
        last checkpoint (``save_last``, which reads the best score as updated by this row) and
        copy it to ``best`` when the row improved on it."""
        self.history.append(row)
        self.committed += 1
        improved = self.best.offer(row)
        if self.run is not None:
            self.run.append_metrics(row)
            write_csv(self.run.csv_path, self.history)
            if self.events is not None:
                write_scalars(self.events, row)
            save_last()
            if improved:
                atomic_copy(self.last_checkpoint, self.run.checkpoint(self.suffix, "best"),
                            self.temp_suffix)
        self.progress.epoch(row, self.epochs)
        if row["epoch"] < self.epochs and self.stops_early(row["epoch"]):
            self.progress.message(self.early_stop_message(row["epoch"]))

    def stops_early(self, epochs_done: int) -> bool:
        """Whether ``patience`` epochs have passed since the best validation score (the run
        ends after ``epochs_done``)."""
        return (bool(self.patience) and self.best.epoch is not None
                and epochs_done - self.best.epoch >= self.patience)

    def stop_reason(self) -> str:
        return (f"no better validation score for {self.patience} epochs (patience); the best "
                f"was at epoch {self.best.epoch}")

    def early_stop_message(self, epochs_done: int) -> str:
        return f"early stop after epoch {epochs_done} of {self.epochs}: {self.stop_reason()}"

    def close(self) -> None:
        """Draw the curves of the whole run (nothing without matplotlib), close the event
        files and, when this process trained, say how the run went and where it is."""
        if self.events is not None:
            self.events.close()
            self.events = None
        if self.run is None:
            return
        title = f"{self.name}, run {self.run.path.name}" if self.name else self.run.path.name
        plot_curves(self.history, self.run.curves_path, title)
        if self.committed:
            self.progress.message(self.summary())

    def summary(self) -> str:
        """One line: the best validation accuracy and its epoch, the epochs done and the time
        they took (training and evaluation, summed over every resume), the run folder."""
        done = self.history[-1]["epoch"] if self.history else 0
        parts = []
        if self.best.accuracy is not None:
            parts.append(f"best validation {self.best.metric_name} "
                         f"{100 * self.best.accuracy:.2f}% at epoch {self.best.epoch}")
        seconds = sum(row.get("time_s", 0.0) for row in self.history)
        stopped = " (stopped early)" if done < self.epochs and self.stops_early(done) else ""
        parts.append(f"{done} of {self.epochs} epochs{stopped} in {describe_time(seconds)}")
        parts.append(f"run folder: {self.run}")
        return "; ".join(parts)
