"""A folder of images, one sub-folder per class (torchvision's ImageFolder layout).

Either ``DIR/train/<class>/*`` with ``DIR/val/<class>/*`` (or ``DIR/test``), or ``DIR/<class>/*``
from which a fixed, stratified fifth is held out for testing. Images are converted to the
model's channel count and resized to its height and width.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from netc.train.data.base import DataSet, make_dataset, stratified_split
from netc.train.errors import TrainError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
HELD_OUT_FRACTION = 0.2
SPLIT_SEED = 0
_TEST_FOLDERS = ("val", "test")
_PIL_MODES = {1: "L", 3: "RGB"}


def _class_folders(folder: Path) -> dict[str, list[Path]]:
    classes = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            classes[sub.name] = files
    if not classes:
        raise TrainError(f"{folder}: no class folders with images "
                         f"({', '.join(sorted(IMAGE_SUFFIXES))})",
                         hint="lay images out as DIR/<class>/*.png or DIR/train/<class>/*.png")
    return classes


def _read_images(paths: list[Path], input_shape: tuple[int, int, int]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    channels, height, width = input_shape
    if channels not in _PIL_MODES:
        raise TrainError(f"imagefolder reads 1- or 3-channel images; the model expects "
                         f"{channels} channels")
    images = np.empty((len(paths), height, width, channels), dtype=np.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                image = image.convert(_PIL_MODES[channels])
                image = image.resize((width, height), Image.Resampling.BILINEAR)
                images[i] = np.asarray(image).reshape(height, width, channels)
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as err:
            raise TrainError(f"{path}: cannot read image: {err}") from None
    return images.transpose(0, 3, 1, 2).copy()


def _flatten(classes: dict[str, list[Path]], names: list[str]) -> tuple[list[Path], np.ndarray]:
    paths, labels = [], []
    for label, name in enumerate(names):
        paths.extend(classes.get(name, []))
        labels.extend([label] * len(classes.get(name, [])))
    return paths, np.asarray(labels, dtype=np.int64)


def load_imagefolder(arg: str, input_shape: tuple[int, int, int],
                     num_classes: int) -> DataSet:
    folder = Path(arg).expanduser()
    if not folder.is_dir():
        raise TrainError(f"imagefolder: {folder} is not a folder")
    test_folder = next((folder / n for n in _TEST_FOLDERS if (folder / n).is_dir()), None)
    if (folder / "train").is_dir() and test_folder is None:
        raise TrainError(f"{folder}: has a 'train' folder but no 'val' or 'test' folder beside it")
    if test_folder is not None and (folder / "train").is_dir():
        train_classes = _class_folders(folder / "train")
        test_classes = _class_folders(test_folder)
        unknown = sorted(set(test_classes) - set(train_classes))
        if unknown:
            raise TrainError(f"{test_folder}: classes {', '.join(unknown)} are not in "
                             f"{folder / 'train'}")
        names = sorted(train_classes)
        train_paths, train_y = _flatten(train_classes, names)
        test_paths, test_y = _flatten(test_classes, names)
    else:
        classes = _class_folders(folder)
        names = sorted(classes)
        paths, labels = _flatten(classes, names)
        keep, held = stratified_split(labels, HELD_OUT_FRACTION, SPLIT_SEED)
        train_paths, train_y = [paths[i] for i in keep], labels[keep]
        test_paths, test_y = [paths[i] for i in held], labels[held]
    return make_dataset(f"imagefolder:{arg}", tuple(names), _read_images(train_paths, input_shape),
                        train_y, _read_images(test_paths, input_shape), test_y,
                        pixel_scale=1.0 / 255)
