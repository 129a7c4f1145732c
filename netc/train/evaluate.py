"""Evaluate a torch model on a data set: accuracy, loss, confusion matrix and its picture."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from netc.train.batches import DeviceSplit
from netc.train.data import DataSet, load_data, split_validation
from netc.train.errors import TrainError
from netc.train.plots import plot_confusion
from netc.train.recipe import recipe_from_dict
from netc.train.runtime import autocast, load_model, resolve_device

if TYPE_CHECKING:
    from netc.train import ModelSource


@dataclass(frozen=True)
class Evaluation:
    data: str
    split: str
    accuracy: float
    loss: float
    count: int
    classes: tuple[str, ...]
    confusion: np.ndarray  # [true class, predicted class] counts
    checkpoint: str = ""   # the file scored, and what it holds
    epoch: int | None = None
    epochs: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"data": self.data, "split": self.split, "accuracy": self.accuracy,
                "loss": self.loss, "count": self.count, "checkpoint": self.checkpoint,
                "epoch": self.epoch, "epochs": self.epochs, "classes": list(self.classes),
                "confusion": self.confusion.tolist()}


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
        logits = logits.float()
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
    count = int(confusion.sum())
    accuracy = float(np.trace(confusion)) / max(1, count)
    return accuracy, float(totals[0]) / max(1, count), count, confusion


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


def evaluate_checkpoint(checkpoint: str | Path, source: "ModelSource", data: str | None = None,
                        split: str = "test", *, device: str = "auto",
                        batch_size: int | None = None) -> Evaluation:
    """Rebuild the model of a checkpoint and score it; ``data`` defaults to what it trained on.
    ``split`` is train, val or test; train and val are the parts the run's recipe divided its
    training images into (val_fraction, seed), so ``train`` scores what the model trained on."""
    torch_device = resolve_device(device)
    model, payload = load_model(checkpoint, source, torch_device)
    recipe = recipe_from_dict(payload["recipe"], where=str(checkpoint))
    dataset = load_data(data or recipe.data, source.input_shape, source.num_classes)
    if split != "test":
        dataset = split_validation(dataset, recipe.val_fraction, recipe.seed)
    if not dataset.split_exists(split):
        raise TrainError(f"{checkpoint}: its run held out no {split} split (val_fraction "
                         f"{recipe.val_fraction})", hint="score the train or test split")
    result = evaluate(model, dataset, split, device=torch_device,
                      batch_size=batch_size or recipe.eval_batch_size,
                      precision=recipe.precision, channels_last=recipe.channels_last)
    return replace(result, checkpoint=str(checkpoint), epoch=payload["epoch"],
                   epochs=recipe.epochs)


def report_stem(split: str) -> str:
    """Report file names per split: the test report is ``eval``, others sit beside it."""
    return "eval" if split == "test" else f"eval-{split}"


def write_evaluation(evaluation: Evaluation, out_dir: str | Path,
                     stem: str | None = None) -> tuple[Path, Path | None]:
    """``<stem>.json`` (numbers and confusion matrix) and ``<stem>-confusion.png`` (None when
    matplotlib is missing); ``stem`` defaults to the split's (``report_stem``)."""
    stem = stem or report_stem(evaluation.split)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stem}.json"
    png_path = out_dir / f"{stem}-confusion.png"
    json_path.write_text(json.dumps(evaluation.to_dict(), indent=1) + "\n", encoding="utf-8")
    title = (f"{evaluation.data} {evaluation.split}: {100 * evaluation.accuracy:.2f}% "
             f"of {evaluation.count}")
    drawn = plot_confusion(evaluation.confusion, evaluation.classes, png_path, title)
    return json_path, png_path if drawn else None
