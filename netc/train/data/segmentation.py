"""Segmentation data: images with label masks of the same size, one class index per pixel.

``segfolder:DIR`` reads ``DIR/images/<stem>.png`` with ``DIR/masks/<stem>.png`` (or the same
pair of folders under ``DIR/train`` and ``DIR/test``; without them a fixed fifth is held out for
testing). A mask is a one-channel (``L`` or palette ``P``) PNG whose values are class indices;
``IGNORE_INDEX`` (255) marks pixels no loss or metric counts. Classes are named by
``DIR/classes.txt`` (one name a line) when it exists, else numbered up to the largest index
found. Images are converted to the model's channels and resized bilinearly to its size, masks
by nearest neighbour. Dense labels are (N, H, W) uint8 arrays; ``split_validation`` holds out
whole images at random for them (a stratified split has no meaning per pixel).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from netc.train.data.base import DataSet, make_dataset
from netc.train.data.base import split_validation as split_by_class
from netc.train.errors import TrainError

IGNORE_INDEX = 255
HELD_OUT_FRACTION = 0.2
SPLIT_SEED = 0
_PIL_MODES = {1: "L", 3: "RGB"}
_MASK_MODES = ("L", "P")


def is_dense(data: DataSet) -> bool:
    """Whether ``data`` labels every pixel (labels (N, H, W)) rather than every image."""
    return data.train_y.ndim == 3


def dense_dataset(name: str, classes: tuple[str, ...], train: tuple[np.ndarray, np.ndarray],
                  test: tuple[np.ndarray, np.ndarray], pixel_scale: float) -> DataSet:
    """A DataSet whose labels stay uint8 masks (make_dataset would widen them to int64)."""
    data = make_dataset(name, classes, train[0], np.zeros(len(train[0])), test[0],
                        np.zeros(len(test[0])), pixel_scale)
    return replace(data, train_y=train[1].astype(np.uint8), test_y=test[1].astype(np.uint8))


def split_validation(data: DataSet, fraction: float, seed: int) -> DataSet:
    """The stratified split (base.split_validation) for image labels; for masks a random
    fraction of the images."""
    if not is_dense(data) or fraction <= 0:
        return split_by_class(data, fraction, seed)
    count = len(data.train_y)
    held_count = int(np.ceil(fraction * count))
    if not 0 < held_count < count:
        raise TrainError(f"cannot hold out {fraction} of {count} images as a validation split")
    order = np.random.default_rng(seed).permutation(count)
    keep, held = np.sort(order[held_count:]), np.sort(order[:held_count])
    return replace(data, train_x=data.train_x[keep], train_y=data.train_y[keep],
                   val_x=data.train_x[held], val_y=data.train_y[held])


def _pairs(folder: Path) -> list[tuple[Path, Path]]:
    images, masks = folder / "images", folder / "masks"
    for needed in (images, masks):
        if not needed.is_dir():
            raise TrainError(f"{folder}: no '{needed.name}' folder",
                             hint="lay data out as DIR/images/*.png with DIR/masks/*.png of the "
                                  "same names")
    image_files = {p.stem: p for p in images.iterdir() if p.suffix.lower() == ".png"}
    mask_files = {p.stem: p for p in masks.iterdir() if p.suffix.lower() == ".png"}
    if not image_files:
        raise TrainError(f"{images}: no .png images")
    missing = sorted(set(image_files) - set(mask_files))
    if missing:
        raise TrainError(f"{images / (missing[0] + '.png')}: no mask {masks / missing[0]}.png "
                         f"({len(missing)} image(s) without a mask)")
    extra = sorted(set(mask_files) - set(image_files))
    if extra:
        raise TrainError(f"{mask_files[extra[0]]}: a mask without an image "
                         f"({len(extra)} in all)")
    return [(image_files[stem], mask_files[stem]) for stem in sorted(image_files)]


def _read_pair(image_path: Path, mask_path: Path,
               input_shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    channels, height, width = input_shape
    try:
        with Image.open(image_path) as image, Image.open(mask_path) as mask:
            if mask.mode not in _MASK_MODES:
                raise TrainError(f"{mask_path}: a mask must be a one-channel PNG of class "
                                 f"indices (mode L or P), not mode {mask.mode}")
            if mask.size != image.size:
                raise TrainError(f"{mask_path}: mask is {mask.size[0]}x{mask.size[1]} but its "
                                 f"image is {image.size[0]}x{image.size[1]}")
            pixels = image.convert(_PIL_MODES[channels]).resize((width, height),
                                                               Image.Resampling.BILINEAR)
            labels = mask.resize((width, height), Image.Resampling.NEAREST)
            return (np.asarray(pixels).reshape(height, width, channels).transpose(2, 0, 1),
                    np.asarray(labels, dtype=np.uint8))
    except (OSError, UnidentifiedImageError) as err:
        raise TrainError(f"cannot read {image_path} or {mask_path}: {err}") from None


def _read_split(folder: Path, input_shape: tuple[int, int, int]) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    pairs = [_read_pair(image, mask, input_shape) for image, mask in _pairs(folder)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def _classes(folder: Path, masks: list[np.ndarray]) -> tuple[str, ...]:
    named = folder / "classes.txt"
    if named.is_file():
        classes = tuple(line.strip() for line in named.read_text("utf-8").splitlines()
                        if line.strip())
        if not 0 < len(classes) < IGNORE_INDEX:
            raise TrainError(f"{named}: needs 1 to {IGNORE_INDEX - 1} class names, one a line")
    else:
        values = np.concatenate([np.unique(m) for m in masks])
        values = values[values != IGNORE_INDEX]
        classes = tuple(str(c) for c in range(int(values.max()) + 1 if len(values) else 1))
    for split_masks in masks:
        bad = split_masks[(split_masks >= len(classes)) & (split_masks != IGNORE_INDEX)]
        if len(bad):
            raise TrainError(f"{folder}: a mask holds class index {int(bad.max())}, but there "
                             f"are {len(classes)} classes",
                             hint=f"class indices run from 0 to {len(classes) - 1}; "
                                  f"{IGNORE_INDEX} marks pixels to ignore")
    return classes


def load_segfolder(arg: str | None, input_shape: tuple[int, int, int],
                   num_classes: int) -> DataSet:
    folder = Path(arg or "").expanduser()
    if not folder.is_dir():
        raise TrainError(f"segfolder: {folder} is not a folder")
    if input_shape[0] not in _PIL_MODES:
        raise TrainError(f"segfolder reads 1- or 3-channel images; the model expects "
                         f"{input_shape[0]} channels")
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        train = _read_split(folder / "train", input_shape)
        test = _read_split(folder / "test", input_shape)
    else:
        images, masks = _read_split(folder, input_shape)
        if len(images) < 2:
            raise TrainError(f"{folder}: needs at least 2 images to hold one out for testing")
        order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
        held = max(1, int(round(HELD_OUT_FRACTION * len(images))))
        keep, out = np.sort(order[held:]), np.sort(order[:held])
        train, test = (images[keep], masks[keep]), (images[out], masks[out])
    classes = _classes(folder, [train[1], test[1]])
    return dense_dataset(f"segfolder:{folder}", classes, train, test, pixel_scale=1.0 / 255)
