"""Keras checkpoints: one HDF5 file holding the weights, the optimizer and the run state.

``Model.save_weights`` writes the model's and the optimizer's variables (the optimizer's step
counter included, which is the whole learning-rate schedule state); the run state (epoch, best
score, recipe, seeds, IR hash) is added to the same file as a JSON attribute before the file is
renamed into place, so weights and state never disagree and a kill leaves the old file or the new.
A second attribute holds a checksum of the state and of every dataset in the file
(netc.train.integrity), so a flipped byte in a weight is caught before a run resumes from it.
Framework-neutral apart from Keras itself: no torch import, unlike netc.train.checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from netc.train.atomic import atomic_write
from netc.train.errors import TrainError
from netc.train.integrity import content_digest, verify_digest
from netc.train.state_checks import DICT, INT, STR, check_fields, check_progress

if TYPE_CHECKING:
    import keras

FORMAT = "netc-keras-checkpoint/2"
STATE_ATTRIBUTE = "netc_state"
CHECKSUM_ATTRIBUTE = "netc_checksum"
# Every field of the run state, and its kind (netc.train.keras_trainer writes them).
FIELDS = {"name": STR, "ir_hash": STR, "spec_text": STR, "recipe": DICT, "keras_backend": STR,
          "epoch": INT, "best": (dict, type(None)), "steps_per_epoch": INT, "seeds": DICT}
SUFFIX = ".weights.h5"
# Keras insists on the ``.weights.h5`` ending, so a temp file's mark sits before it.
TEMP_SUFFIX = ".tmp.weights.h5"


def checkpoint_path(run_dir: Path, which: str = "last") -> Path:
    from netc.train.run_folder import RunFolder

    return RunFolder(run_dir).checkpoint(SUFFIX, which)


def save_checkpoint(model: "keras.Model", state: dict[str, Any], path: Path) -> None:
    import h5py

    def write(temp: Path) -> None:
        model.save_weights(temp)
        text = json.dumps(state)
        with h5py.File(temp, "a") as handle:
            handle.attrs[STATE_ATTRIBUTE] = text
            handle.attrs[CHECKSUM_ATTRIBUTE] = content_digest([text, _datasets(handle)])

    atomic_write(path, write, TEMP_SUFFIX)


def _datasets(handle) -> dict[str, Any]:
    """Every dataset of an open HDF5 file, by its path, read as numpy arrays."""
    import h5py

    found: dict[str, Any] = {}
    handle.visititems(lambda name, item: found.__setitem__(name, np.asarray(item[()]))
                      if isinstance(item, h5py.Dataset) else None)
    return found


def read_checkpoint_state(path: Path) -> dict[str, Any]:
    """The run state stored in a checkpoint, its checksum verified and its fields checked."""
    import h5py

    if not path.is_file():
        raise TrainError(f"no Keras checkpoint at {path}")
    try:
        with h5py.File(path, "r") as handle:
            text = handle.attrs[STATE_ATTRIBUTE]
            stored = handle.attrs.get(CHECKSUM_ATTRIBUTE)
            datasets = _datasets(handle)
        state = json.loads(text)
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise TrainError(f"{path}: not a readable netc Keras checkpoint: {err}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise TrainError(f"{path}: not a netc Keras checkpoint (format {FORMAT})")
    verify_digest(stored, [text, datasets], str(path))
    check_fields(state, FIELDS, str(path))
    check_fields(state["recipe"], {"epochs": INT}, f"{path} (its recipe)")
    check_progress(str(path), state["epoch"], state["recipe"]["epochs"])
    return state
