"""Deployable files of a Keras model: a TensorFlow SavedModel (a folder, run back by
tf.saved_model) and a TFLite flat buffer (run back by the TFLite interpreter), each with its
batch size left free and channels-last input, as the Keras model takes it; and the canonical
weights of a checkpoint the Keras trainer wrote."""
from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager

import numpy as np

from ...compiler.ir import Graph
from ..base import Unsupported
from .probe import _channels_first, _channels_last

FORMATS = ("saved_model", "tflite")


def require(fmt: str) -> None:
    """Both formats are TensorFlow's: they need Keras running on TensorFlow."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise Unsupported(f"exporting a Keras model to {fmt} needs Keras on TensorFlow; Keras "
                          f"runs on {keras.backend.backend()} here",
                          hint="set KERAS_BACKEND=tensorflow (pip install 'netc[tf]')")


prepare = require


@contextmanager
def _quiet():
    """tf.lite announces its move to LiteRT on every interpreter it makes; it still runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _write_saved_model(model, path: str) -> None:
    """A SavedModel is a folder: one from an earlier export is replaced; any other existing
    file or folder is refused, never removed."""
    if os.path.exists(path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise Unsupported(f"'{path}' exists and is not a SavedModel folder",
                              hint="a SavedModel is written as a new folder; choose another -o")
        shutil.rmtree(path)
    model.export(path, format="tf_saved_model", verbose=False)


def _write_tflite(model, path: str) -> None:
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        saved = os.path.join(folder, "saved_model")
        _write_saved_model(model, saved)
        data = tf.lite.TFLiteConverter.from_saved_model(saved).convert()
    with open(path, "wb") as handle:
        handle.write(data)


def _run_saved_model(path: str, x: np.ndarray) -> list[np.ndarray]:
    import tensorflow as tf

    loaded = tf.saved_model.load(path)  # held: its functions read its variables
    out = loaded.serve(x)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def _run_tflite(path: str, x: np.ndarray) -> list[np.ndarray]:
    import tensorflow as tf

    with _quiet():
        interpreter = tf.lite.Interpreter(model_path=path)
    given = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(given, list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(given, x)
    interpreter.invoke()
    return [interpreter.get_tensor(out["index"]) for out in interpreter.get_output_details()]


WRITERS = {"saved_model": _write_saved_model, "tflite": _write_tflite}
RUNNERS = {"saved_model": _run_saved_model, "tflite": _run_tflite}


def export(model, graph: Graph, fmt: str, path: str, example: np.ndarray) -> None:
    """Write `model` as `fmt`; the Keras model's input already leaves the batch size free."""
    require(fmt)
    WRITERS[fmt](model, path)


def run_exported(fmt: str, path: str, x: np.ndarray) -> list[np.ndarray]:
    """The outputs of the file at `path` on the channels-first batch `x` (fed channels-last),
    channels-first."""
    require(fmt)
    outs = RUNNERS[fmt](path, _channels_last(np.asarray(x, np.float32)))
    return [_channels_first(o) for o in outs]


def checkpoint_weights(backend, path: str, graph: Graph) -> dict:
    """A Keras checkpoint is a weights file with the run state beside the weights: its
    weights are read as any weights file's are, after its checksum is verified."""
    from pathlib import Path

    from ...train.keras_checkpoint import read_checkpoint_state

    read_checkpoint_state(Path(path))
    return backend.read_weights(str(path), graph)
