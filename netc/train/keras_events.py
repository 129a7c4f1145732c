"""TensorBoard event files of a Keras run, through ``tf.summary`` (TensorFlow's own writer;
absent without TensorFlow, as under Keras on JAX or torch with TensorFlow not installed).

``tf.summary`` cannot mark earlier events as replaced, as torch's ``purge_step`` does: a run
killed between an epoch's row and its checkpoint logs that epoch again when resumed, and
TensorBoard shows both points at that step.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


class TFSummaryScalars:
    """The recorder's EventWriter over a ``tf.summary`` file writer."""

    def __init__(self, folder: Path):
        import tensorflow as tf

        self.tf = tf
        self.writer = tf.summary.create_file_writer(str(folder))

    def scalar(self, tag: str, value: float, step: int) -> None:
        with self.writer.as_default():
            self.tf.summary.scalar(tag, value, step=step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_event_writer(folder: Path, first_epoch: int) -> TFSummaryScalars | None:
    if importlib.util.find_spec("tensorflow") is None:
        return None
    return TFSummaryScalars(folder)
