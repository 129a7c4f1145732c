"""Score a torch model on a data set: accuracy, loss and the confusion matrix."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from netc.train.checkpoint_data import checkpoint_data
from netc.train.data import DataSet
from netc.train.errors import TrainError, no_average_error
from netc.train.recipe import recipe_from_dict
from netc.train.reports import Evaluation, summarize_confusion
from netc.train.torch_batches import DeviceSplit
from netc.train.torch_dense import flat_pixels
from netc.train.torch_runtime import autocast, load_model, resolve_device

if TYPE_CHECKING:
    from netc.train import ModelSource


@torch.no_grad()
def score(model: torch.nn.Module, split: DeviceSplit, batch_size: int, num_classes: int,
          precision: str = "fp32", indices: torch.Tensor | None = None) -> torch.Tensor:
    """Summed loss and the confusion counts of ``model`` on ``split`` (or the rows ``indices``),
    as one float64 tensor ``[loss_sum, *confusion.flatten()]`` so ranks can sum it in one go."""
    was_training = model.training
    model.eval()
    device = split.labels.device
    if indices is None:
        indices = torch.arange(len(split), device=device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.float64, device=device)
    for start in range(0, len(indices), batch_size):
        images, labels = split.batch(indices[start:start + batch_size])
        with autocast(device, precision):
            logits = model(images)
        logits, labels = flat_pixels(logits.float(), labels)
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").double()
        pairs = labels * num_classes + logits.argmax(dim=1)
        # index_add_, not bincount: on CUDA bincount reads the min and max back to the host
        confusion.index_add_(0, pairs, torch.ones_like(pairs, dtype=torch.float64))
    model.train(was_training)
    return torch.cat([loss_sum.view(1), confusion])


def summarize(totals: torch.Tensor, num_classes: int) -> tuple[float, float, int, np.ndarray]:
    """(accuracy, mean loss, count, confusion) from the tensor ``score`` returns."""
    confusion = totals[1:].cpu().numpy().round().astype(np.int64)
    confusion = confusion.reshape(num_classes, num_classes)
    accuracy, loss, count = summarize_confusion(float(totals[0]), confusion)
    return accuracy, loss, count, confusion


def evaluate(model: torch.nn.Module, data: DataSet, split: str = "test", *,
             device: str | torch.device = "auto", batch_size: int = 1000,
             precision: str = "fp32", channels_last: bool = False) -> Evaluation:
    """Score ``model`` on one split of ``data``."""
    device = resolve_device(device) if isinstance(device, str) else device
    images, labels = data.split(split)
    device_split = DeviceSplit(images, labels, data, device, channels_last)
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    totals = score(model, device_split, batch_size, data.num_classes, precision)
    accuracy, loss, count, confusion = summarize(totals, data.num_classes)
    return Evaluation(data.name, split, accuracy, loss, count, data.classes, confusion)


def _load_average(model: torch.nn.Module, average: dict | None, checkpoint) -> None:
    """Give ``model`` a checkpoint's average of its parameters (its buffers stay)."""
    if average is None:
        raise no_average_error(checkpoint)
    if set(average) != {name for name, _ in model.named_parameters()}:
        raise TrainError(f"{checkpoint}: its 'ema' state names other parameters than the model's")
    try:
        model.load_state_dict({**model.state_dict(), **average}, strict=True)
    except RuntimeError as err:
        raise TrainError(f"{checkpoint}: its 'ema' state does not fit the model: {err}") from None


def evaluate_checkpoint(checkpoint: str | Path, source: "ModelSource", data: str | None = None,
                        split: str = "test", *, device: str = "auto",
                        batch_size: int | None = None, ema: bool = False) -> Evaluation:
    """Rebuild the model of a checkpoint and score it; ``data`` defaults to what it trained on.
    ``split`` is train, val or test; train and val are the parts the run's recipe divided its
    training images into (val_fraction, seed), so ``train`` scores what the model trained on.
    ``ema``: the checkpoint's average of the weights, with the model's buffers."""
    torch_device = resolve_device(device)
    model, payload = load_model(checkpoint, source, torch_device)
    if ema:
        _load_average(model, payload.get("ema"), checkpoint)
    recipe = recipe_from_dict(payload["recipe"], where=str(checkpoint))
    dataset = checkpoint_data(str(checkpoint), recipe, source, data, split)
    result = evaluate(model, dataset, split, device=torch_device,
                      batch_size=batch_size or recipe.eval_batch_size,
                      precision=recipe.precision, channels_last=recipe.channels_last)
    return replace(result, checkpoint=str(checkpoint), epoch=payload["epoch"],
                   epochs=recipe.epochs)
