"""Torch run-time choices shared by training, evaluation and lesion studies: the device, mixed
precision, and a model rebuilt from a checkpoint."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, ContextManager

import torch

from netc.train.state_checks import check_ir_hash
from netc.train.torch_checkpoint import load_checkpoint
from netc.train.errors import TrainError

if TYPE_CHECKING:
    from netc.train import ModelSource

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` is the GPU when there is one; a process of a multi-GPU run takes its own GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise TrainError("device 'cuda' asked for, but torch sees no CUDA GPU",
                             hint="use device auto or cpu")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device(name)


def autocast(device: torch.device, precision: str) -> ContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[precision])


def load_model(checkpoint: str | Path, source: "ModelSource",
               device: torch.device | None = None) -> tuple[torch.nn.Module, dict]:
    """A fresh model from ``source`` with the checkpoint's weights, in eval mode, and the
    checkpoint itself (its recipe names the data the model was trained on)."""
    path = Path(checkpoint)
    payload = load_checkpoint(path)
    check_ir_hash(payload, source.ir_hash, str(path))
    model = source.build()
    try:
        model.load_state_dict(payload["model"], strict=True)
    except RuntimeError as err:
        raise TrainError(f"{path}: weights do not fit the model: {err}") from None
    model.to(device or torch.device("cpu")).eval()
    return model, payload
