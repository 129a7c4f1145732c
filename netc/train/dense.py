"""Per-pixel classification, the parts every trainer shares: which models and data are dense,
mean IoU from a pixel confusion matrix, and the picture of predictions beside labels. Imports
no framework."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from netc.train.data import DataSet
from netc.train.data.segmentation import IGNORE_INDEX, is_dense
from netc.train.errors import TrainError

if TYPE_CHECKING:
    from netc.train import ModelSource

__all__ = ["IGNORE_INDEX", "is_dense", "dense_source", "check_dense_fit", "mean_iou",
           "plot_predictions"]

_SHOWN = 8  # images in the predictions picture


def dense_source(source: "ModelSource") -> bool:
    """Whether the model maps an image to a K x H x W map of class scores."""
    return source.graph is not None and len(source.graph.node(source.graph.outputs[0]).shape) == 3


def check_dense_fit(data: DataSet, source: "ModelSource") -> None:
    """Refuse per-image labels for a per-pixel model and masks for a classifier."""
    if is_dense(data) and not dense_source(source):
        raise TrainError(f"data set {data.name} labels every pixel, but '{source.name}' gives "
                         "one score per class for a whole image",
                         hint="train a network whose output is K x H x W "
                              "(examples/unet_small.yaml)")
    if dense_source(source) and not is_dense(data):
        raise TrainError(f"'{source.name}' gives a class map per pixel, but data set "
                         f"{data.name} labels whole images",
                         hint="use segmentation data: shapes, or segfolder:DIR")


def mean_iou(confusion: np.ndarray) -> float:
    """Mean over classes of intersection / union, from ``[true, predicted]`` pixel counts;
    classes neither present nor predicted count for nothing."""
    confusion = np.asarray(confusion, dtype=np.float64)
    hits = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - hits
    seen = union > 0
    return float((hits[seen] / union[seen]).mean()) if seen.any() else 0.0


def plot_predictions(images: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                     num_classes: int, path: Path, title: str) -> bool:
    """A PNG of up to 8 images, each with its label mask and the predicted mask beside it
    (ignored pixels black); False when matplotlib is missing. ``images`` are (N, C, H, W) in
    [0, 1]."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    count = min(_SHOWN, len(images))
    figure, axes = plt.subplots(3, count, figsize=(1.6 * count, 5.2), squeeze=False)
    colours = plt.get_cmap("tab20" if num_classes > 10 else "tab10")
    for i in range(count):
        image = np.clip(images[i].transpose(1, 2, 0), 0, 1)
        rows = (image.squeeze(-1) if image.shape[-1] == 1 else image,
                _colour(labels[i], num_classes, colours), _colour(predictions[i], num_classes,
                                                                   colours))
        for row, (axis, picture) in enumerate(zip(axes[:, i], rows)):
            axis.imshow(picture, cmap="gray" if picture.ndim == 2 else None,
                        interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if i == 0:
                axis.set_ylabel(("image", "label", "predicted")[row])
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def _colour(mask: np.ndarray, num_classes: int, colours) -> np.ndarray:
    rgb = np.asarray(colours(np.arange(num_classes) % colours.N))[:, :3]
    picture = np.zeros((*mask.shape, 3))
    known = mask != IGNORE_INDEX
    picture[known] = rgb[np.minimum(mask[known], num_classes - 1)]
    return picture
