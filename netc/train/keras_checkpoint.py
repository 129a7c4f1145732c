"""Keras checkpoints: one HDF5 file holding the weights, the optimizer and the run state.

``Model.save_weights`` writes the model's and the optimizer's variables (the optimizer's step
counter included, which is the whole learning-rate schedule state); the run state (epoch, best
score, recipe, seeds, IR hash) is added to the same file as a JSON attribute before the file is
renamed into place, so weights and state never disagree and a kill leaves the old file or the new.
Framework-neutral apart from Keras itself: no torch import, unlike netc.train.checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from netc.train import atomic, rundir
from netc.train.errors import TrainError

if TYPE_CHECKING:
    import keras

    from netc.train import ModelSource

FORMAT = "netc-keras-checkpoint/1"
STATE_ATTRIBUTE = "netc_state"
# Keras insists on the ``.weights.h5`` ending, so a temp file's mark sits before it.
_TEMP_SUFFIX = ".tmp.weights.h5"


def checkpoint_path(run_dir: Path, which: str = "last") -> Path:
    return Path(run_dir) / rundir.CHECKPOINT_FOLDER / f"{which}.weights.h5"


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    atomic.atomic_write(path, write, _TEMP_SUFFIX)


def save_checkpoint(model: "keras.Model", state: dict[str, Any], path: Path) -> None:
    import h5py

    def write(temp: Path) -> None:
        model.save_weights(temp)
        with h5py.File(temp, "a") as handle:
            handle.attrs[STATE_ATTRIBUTE] = json.dumps(state)

    _atomic_write(path, write)


def copy_checkpoint(source: Path, target: Path) -> None:
    _atomic_write(target, lambda temp: shutil.copyfile(source, temp))


def remove_stale_temps(folder: Path) -> None:
    atomic.remove_stale_temps(folder, _TEMP_SUFFIX)


def read_checkpoint_state(path: Path, source: "ModelSource | None" = None) -> dict[str, Any]:
    """The run state stored in a checkpoint; with ``source``, refuse one of another network."""
    import h5py

    if not path.is_file():
        raise TrainError(f"no Keras checkpoint at {path}")
    try:
        with h5py.File(path, "r") as handle:
            state = json.loads(handle.attrs[STATE_ATTRIBUTE])
    except (OSError, KeyError, ValueError) as err:
        raise TrainError(f"{path}: not a readable netc Keras checkpoint: {err}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise TrainError(f"{path}: not a netc Keras checkpoint (format {FORMAT})")
    if source is not None and state.get("ir_hash") != source.ir_hash:
        raise TrainError(f"{path} was trained from a different network (IR hash "
                         f"{state.get('ir_hash')}), this spec hashes to {source.ir_hash}",
                         hint="use the spec the run was trained from (its spec.yaml)")
    return state
