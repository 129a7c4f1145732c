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
    accuracy: float | None = None
    loss: float | None = None
    epoch: int | None = None

    def offer(self, row: dict[str, Any]) -> bool:
        """Take ``row`` if its validation accuracy is higher, or equal at a lower validation
        loss (a small validation split saturates: the loss still tells converged weights from
        lucky ones). True when it was taken."""
        if f"{SCORE_SPLIT}_acc" not in row:
            return False
        accuracy, loss = row[f"{SCORE_SPLIT}_acc"], row[f"{SCORE_SPLIT}_loss"]
        better = (self.accuracy is None or accuracy > self.accuracy
                  or (accuracy == self.accuracy and loss < self.loss))
        if better:
            self.accuracy, self.loss, self.epoch = accuracy, loss, row["epoch"]
        return better

    def to_state(self) -> dict[str, Any] | None:
        if self.accuracy is None:
            return None
        return {"val_acc": self.accuracy, "val_loss": self.loss, "epoch": self.epoch}

    @classmethod
    def from_state(cls, state: Any, where: str) -> "Best":
        if state is None:
            return cls()
        try:
            return cls(float(state["val_acc"]), float(state["val_loss"]), int(state["epoch"]))
        except (TypeError, KeyError, ValueError):
            raise TrainError(f"{where}: checkpoint field 'best' is damaged") from None
