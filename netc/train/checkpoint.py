"""Checkpoints: atomic writes, weights-only loads, and the random number generators' states.

torch's own generators (CPU and GPU) are not saved: the trainer reseeds them from the seed, the
rank and the global step wherever a run can resume, so no rank depends on another's saved state.

Everything stored is a tensor or a plain Python value, so ``torch.load(weights_only=True)``
reads it back: no pickled objects, no code run on load.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netc.train.atomic import atomic_write
from netc.train.errors import TrainError

FORMAT = "netc-checkpoint/1"


def atomic_save(payload: dict[str, Any], path: Path) -> None:
    """Write ``path`` so that a crash at any moment leaves either the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda temp: torch.save(payload, temp))


def atomic_copy(source: Path, target: Path) -> None:
    """Copy a finished checkpoint under another name with the same all-or-nothing guarantee."""
    atomic_write(target, lambda temp: shutil.copyfile(source, temp))


def load_checkpoint(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise TrainError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a damaged or foreign file
        raise TrainError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TrainError(f"{path}: not a netc checkpoint (format {FORMAT})")
    return payload


def capture_rng(data_generator: torch.Generator) -> dict[str, Any]:
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    return {
        "numpy": {"kind": np_kind, "keys": torch.from_numpy(np_keys.astype(np.int64)),
                  "pos": int(np_pos), "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss": py_gauss},
        "data": data_generator.get_state(),
    }


def restore_rng(states: dict[str, Any], data_generator: torch.Generator) -> None:
    numpy_state = states["numpy"]
    np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32),
                         numpy_state["pos"], numpy_state["has_gauss"], numpy_state["gauss"]))
    python_state = states["python"]
    random.setstate((python_state["version"], tuple(python_state["state"].tolist()),
                     python_state["gauss"]))
    data_generator.set_state(states["data"])
