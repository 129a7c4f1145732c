"""Data sources: parsed from a string, loaded once into arrays, checked against the model.

A data source string is ``KIND`` or ``KIND:ARG`` (``digits``, ``cifar10:~/data/cifar``,
``imagefolder:DIR``, ``synthetic:2048``). Loaders return numpy arrays so that every trainer
shares them; moving to a device and augmenting is the trainer's job.
"""

from __future__ import annotations

import difflib
from typing import Callable

from netc.train.data.base import (DataSet, declared_normalisation, in_memory,
                                  input_normalisation)
from netc.train.data.cifar import load_cifar10, load_cifar100
from netc.train.data.digits import load_digits
from netc.train.data.imagefolder import load_imagefolder
from netc.train.data.segmentation import load_segfolder, split_validation
from netc.train.data.shapes import load_shapes
from netc.train.data.synthetic import load_synthetic
from netc.train.errors import TrainError

__all__ = ["DataSet", "load_data", "input_normalisation", "check_fits", "split_validation",
           "DATA_SOURCES"]

Loader = Callable[[str | None, tuple[int, int, int], int], DataSet]

# kind -> (loader, what ARG is, or None when the kind takes no argument)
DATA_SOURCES: dict[str, tuple[Loader, str | None]] = {
    "digits": (load_digits, None),
    "cifar10": (load_cifar10, "DIR"),
    "cifar100": (load_cifar100, "DIR"),
    "imagefolder": (load_imagefolder, "DIR"),
    "synthetic": (load_synthetic, "N"),
    "segfolder": (load_segfolder, "DIR"),
    "shapes": (load_shapes, "N"),
}

# Kinds whose loader produces images at the model's size; the others have a fixed native size.
_RESIZED_TO_MODEL = {"imagefolder", "synthetic", "segfolder", "shapes"}


def load_data(source: str, input_shape: tuple[int, int, int], num_classes: int,
              normalize: dict | None = None, stream: bool = False,
              any_classes: bool = False) -> DataSet:
    """Load the data set named by ``source`` for a model taking ``input_shape`` (C, H, W),
    normalised as ``normalize`` (the graph's meta["normalize"]) declares, if given. With
    ``stream`` an image folder stays files read on demand; else it is decoded into arrays.
    ``any_classes``: the classes need not match the model's outputs (a feature extractor's)."""
    kind, sep, arg = source.partition(":")
    if kind not in DATA_SOURCES:
        close = difflib.get_close_matches(kind, DATA_SOURCES, n=1)
        raise TrainError(f"unknown data source '{kind}'",
                         hint=f"did you mean '{close[0]}'?" if close else
                         "known sources: " + ", ".join(f"{k}:{a}" if a else k
                                                       for k, (_, a) in DATA_SOURCES.items()))
    loader, arg_name = DATA_SOURCES[kind]
    if arg_name == "DIR" and not arg:
        raise TrainError(f"data source '{kind}' needs a folder", hint=f"write {kind}:DIR")
    if arg_name is None and sep:
        raise TrainError(f"data source '{kind}' takes no argument, got '{source}'")
    data = loader(arg or None, tuple(input_shape), num_classes)
    check_fits(data, input_shape, data.num_classes if any_classes else num_classes)
    data = declared_normalisation(data, normalize)
    return data if stream else in_memory(data)


def check_fits(data: DataSet, input_shape: tuple[int, int, int], num_classes: int) -> None:
    """Refuse, before any training, a data set whose images or classes do not fit the model."""
    shape = tuple(input_shape)
    kind = data.name.split(":", 1)[0]
    if data.num_classes != num_classes:
        raise TrainError(f"data set {kind} has {data.num_classes} classes but the model's output "
                         f"has {num_classes} units",
                         hint=f"give the spec's last layer {data.num_classes} outputs")
    if data.image_shape != shape:
        have = "x".join(map(str, data.image_shape))
        want = "x".join(map(str, shape))
        hint = ("only imagefolder data is resized; change the spec's input shape"
                if kind not in _RESIZED_TO_MODEL else None)
        raise TrainError(f"data set {kind} has {have} images but the model expects {want}",
                         hint=hint)
