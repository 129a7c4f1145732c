"""The data a checkpoint is scored on, the same for every trainer: what its run trained on
unless another source is named, divided as its recipe divided it. Imports no framework."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netc.train.data import DataSet, input_normalisation, load_data, split_validation
from netc.train.errors import TrainError
from netc.train.recipe import Recipe

if TYPE_CHECKING:
    from netc.train import ModelSource


def checkpoint_data(where: str, recipe: Recipe, source: "ModelSource", data: str | None,
                    split: str = "test") -> DataSet:
    """``data`` (default: the run's) for scoring one split. train and val are the parts the
    run's recipe divided its training images into (val_fraction, seed), so ``train`` scores
    what the model trained on."""
    dataset = load_data(data or recipe.data, source.input_shape, source.num_classes,
                        normalize=input_normalisation(source))
    if split != "test":
        dataset = split_validation(dataset, recipe.val_fraction, recipe.seed)
    if not dataset.split_exists(split):
        raise TrainError(f"{where}: its run held out no {split} split (val_fraction "
                         f"{recipe.val_fraction})", hint="score the train or test split")
    return dataset
