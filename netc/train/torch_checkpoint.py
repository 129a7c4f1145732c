"""Torch checkpoints: atomic writes, weights-only loads, a checksum, and the random number generators'
states.

torch's own generators (CPU and GPU) are not saved: the trainer reseeds them from the seed, the
rank and the global step wherever a run can resume, so no rank depends on another's saved state.

Everything stored is a tensor or a plain Python value, so ``torch.load(weights_only=True)``
reads it back: no pickled objects, no code run on load. ``checksum`` is a digest of all the other
values (netc.train.integrity); a checkpoint whose values no longer match it is refused.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netc.train.atomic import atomic_write
from netc.train.errors import TrainError
from netc.train.integrity import content_digest, verify_digest
from netc.train.state_checks import DICT, FLOAT, INT, STR, check_fields, check_progress

FORMAT = "netc-checkpoint/2"
CHECKSUM = "checksum"
# Every field a checkpoint must carry, and its kind (netc.train.torch_trainer writes them).
FIELDS = {
    "name": STR, "ir_hash": STR, "spec_text": STR, "recipe": DICT, "model": DICT,
    "optimizer": DICT, "scaler": DICT, "schedule": DICT, "epoch": INT, "step_in_epoch": INT,
    "epoch_order": (torch.Tensor, type(None)), "epoch_sums": (torch.Tensor,),
    "train_seconds": FLOAT, "last_lr": FLOAT, "best": (dict, type(None)), "rng": DICT,
    "ema": (dict, type(None)),
}
# Fields added since the format's first checkpoints, and what their absence means.
LATER_FIELDS = {"ema": None}


def tensor_bytes(tensor: torch.Tensor) -> dict[str, Any]:
    """A tensor as checksummed: its dtype, shape and raw bytes (any dtype, bfloat16 too)."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    return {"dtype": str(tensor.dtype), "shape": list(tensor.shape),
            "bytes": flat.view(torch.uint8).numpy()}


def with_checksum(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, CHECKSUM: content_digest(payload, tensor_bytes)}


def atomic_save(payload: dict[str, Any], path: Path) -> None:
    """Write ``path`` so that a crash at any moment leaves either the old file or the new one.
    Written through a Python file object so that a full disk surfaces as OSError(ENOSPC)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = with_checksum(payload)

    def write(temp: Path) -> None:
        with temp.open("wb") as handle:
            torch.save(stored, handle)

    atomic_write(path, write)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint whose checksum matches and whose fields all have their kinds."""
    path = Path(path)
    if not path.is_file():
        raise TrainError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a damaged or foreign file
        raise TrainError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else None
        raise TrainError(f"{path}: not a netc checkpoint (format {FORMAT})" +
                         (f"; it is {found!r}" if isinstance(found, str) else ""))
    body = {k: v for k, v in payload.items() if k != CHECKSUM}
    verify_digest(payload.get(CHECKSUM), body, str(path), tensor_bytes)
    payload = {**LATER_FIELDS, **payload}
    check_fields(payload, FIELDS, str(path))
    check_fields(payload["recipe"], {"epochs": INT}, f"{path} (its recipe)")
    check_progress(str(path), payload["epoch"], payload["recipe"]["epochs"])
    model = payload["model"]
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()):
        raise TrainError(f"{path}: checkpoint field 'model' must map names to tensors")
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
