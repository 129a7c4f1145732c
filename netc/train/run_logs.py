"""The run's logs other tools read, beside ``metrics.jsonl``: a CSV table with one row per epoch
(spreadsheets, pandas) and TensorBoard scalars, one point per epoch under tags grouped the way
TensorBoard shows them (``loss/train``, ``accuracy/val``, ``lr``). The event files themselves
are written by the trainer's framework (``Trainer.event_writer``). Imports no framework.
"""
from __future__ import annotations

import csv
import importlib.util
import io
import re
from pathlib import Path
from typing import Any, Protocol, Sequence

from netc.train.atomic import atomic_write

# A metrics key of one split's score: ``val_acc``, ``ema_test_loss``.
_SCORE_KEY = re.compile(r"^(?P<split>.+)_(?P<kind>loss|acc)$")
_KIND_TAGS = {"loss": "loss", "acc": "accuracy"}
NO_TENSORBOARD = ("tensorboard is not installed, so no TensorBoard event files are written "
                  "(pip install 'netc[train]')")


def can_write_events() -> bool:
    """Whether the ``tensorboard`` package (torch's SummaryWriter needs it) is installed."""
    return importlib.util.find_spec("tensorboard") is not None


class EventWriter(Protocol):
    """What a trainer's TensorBoard writer offers the recorder."""

    def scalar(self, tag: str, value: float, step: int) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def scalar_tags(row: dict[str, Any]) -> dict[str, float]:
    """A metrics row as TensorBoard tags: ``<split>_loss`` -> ``loss/<split>``, ``<split>_acc``
    -> ``accuracy/<split>`` (a fraction, as in the row), other numbers under their own key;
    ``epoch`` is the step, not a scalar."""
    tags: dict[str, float] = {}
    for key, value in row.items():
        if key == "epoch" or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        match = _SCORE_KEY.match(key)
        tag = f"{_KIND_TAGS[match['kind']]}/{match['split']}" if match else key
        tags[tag] = float(value)
    return tags


def write_scalars(writer: EventWriter, row: dict[str, Any]) -> None:
    """One epoch's scalars, on disk before the epoch's checkpoint is."""
    for tag, value in scalar_tags(row).items():
        writer.scalar(tag, value, int(row["epoch"]))
    writer.flush()


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """The whole table, rewritten atomically: a resume that drops rows drops them here too.
    Columns are the union of the rows' keys, in the order they first appear."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    table = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    table.writeheader()
    table.writerows(rows)
    text = buffer.getvalue()
    atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))
