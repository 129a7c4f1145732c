"""Which epoch's weights become ``best``: the validation split decides, never the test split.

A run without a validation split (``val_fraction: 0``) keeps no best checkpoint; its last one is
what `netc eval` scores. Shared by both trainers; imports no framework.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netc.train.errors import TrainError

SCORE_SPLIT = "val"


@dataclass
class Best:
    accuracy: float | None = None  # the validation score: accuracy, or a per-pixel mean IoU
    loss: float | None = None
    epoch: int | None = None
    metric: str = "acc"  # the row column scored: "acc", or "miou" for a per-pixel model

    @property
    def metric_name(self) -> str:
        return "mean IoU" if self.metric == "miou" else "accuracy"

    def offer(self, row: dict[str, Any]) -> bool:
        """Take ``row`` if its validation accuracy (a per-pixel model's: mean IoU) is higher,
        or equal at a lower validation loss (a small validation split saturates: the loss
        still tells converged weights from lucky ones). True when it was taken."""
        if f"{SCORE_SPLIT}_acc" not in row:
            return False
        self.metric = "miou" if f"{SCORE_SPLIT}_miou" in row else "acc"
        accuracy, loss = row[f"{SCORE_SPLIT}_{self.metric}"], row[f"{SCORE_SPLIT}_loss"]
        better = (self.accuracy is None or accuracy > self.accuracy
                  or (accuracy == self.accuracy and loss < self.loss))
        if better:
            self.accuracy, self.loss, self.epoch = accuracy, loss, row["epoch"]
        return better

    def to_state(self) -> dict[str, Any] | None:
        if self.accuracy is None:
            return None
        state = {"val_acc": self.accuracy, "val_loss": self.loss, "epoch": self.epoch}
        return state if self.metric == "acc" else {**state, "metric": self.metric}

    @classmethod
    def from_state(cls, state: Any, where: str) -> "Best":
        if state is None:
            return cls()
        try:
            return cls(float(state["val_acc"]), float(state["val_loss"]), int(state["epoch"]),
                       str(state.get("metric", "acc")))
        except (TypeError, KeyError, ValueError):
            raise TrainError(f"{where}: checkpoint field 'best' is damaged") from None
