"""Per-pixel classification on torch: pixels as rows for the loss and the confusion counts,
masks cropped and flipped with their images, and the predictions picture of a split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from netc.train.dense import IGNORE_INDEX, plot_predictions


def flat_pixels(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K, H, W) scores and (N, H, W) labels as (pixels, K) and (pixels,), ignored pixels
    dropped; (N, K) scores and (N,) labels as they are."""
    if logits.ndim == 2:
        return logits, labels
    logits = logits.permute(0, 2, 3, 1).reshape(-1, logits.shape[1])
    labels = labels.reshape(-1)
    keep = labels != IGNORE_INDEX
    return logits[keep], labels[keep]


def crop_masks(masks: torch.Tensor, draw, padding: int) -> torch.Tensor:
    """Masks (N, H, W) cropped and flipped as their images were (torch_batches'
    apply_augmentation), the padding marked ignored."""
    from netc.train.torch_batches import apply_augmentation  # torch_batches imports this module

    return apply_augmentation(masks[:, None], draw, padding, fill=IGNORE_INDEX)[:, 0]


@torch.no_grad()
def write_predictions(model: torch.nn.Module, split, num_classes: int, path: Path,
                      title: str) -> None:
    """Draw the first images of ``split`` (a DeviceSplit) with their labels and ``model``'s
    predictions into ``path``."""
    was_training = model.training
    model.eval()
    indices = torch.arange(min(8, len(split)), device=split.labels.device)
    images, labels = split.batch(indices)
    predictions = model(images).argmax(dim=1)
    model.train(was_training)
    shown = (images * split.std + split.mean).float().cpu().numpy()
    plot_predictions(shown, labels.cpu().numpy(), predictions.cpu().numpy().astype(np.int64),
                     num_classes, path, title)
