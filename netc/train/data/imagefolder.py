"""A folder of images, one sub-folder per class (torchvision's ImageFolder layout).

Either ``DIR/train/<class>/*`` with ``DIR/val/<class>/*`` (or ``DIR/test``), or ``DIR/<class>/*``
from which a fixed, stratified fifth is held out for testing. The loader lists the files and
decodes nothing: a split is a ``FolderImages``, read image by image when a batch needs it (the
torch trainer streams it through a worker pool, netc.train.torch_stream) or decoded whole into
memory (``FolderImages.decoded``) for the other consumers.

Images of any size are converted to the model's channel count and brought to its height and
width as torchvision's ImageNet recipes do: for evaluation, scaled so the image covers the
target (the shorter side, for a square target) and centre-cropped; for training, a random
resized crop (``RandomResizedCrop``'s defaults: 8-100 % of the area, aspect 3/4 to 4/3).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from netc.train.data.base import DataSet, stratified_split
from netc.train.errors import TrainError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
HELD_OUT_FRACTION = 0.2
SPLIT_SEED = 0
STATS_SAMPLE = 1000  # images the mean and std are measured on (evenly spaced), when not declared
_TEST_FOLDERS = ("val", "test")
_PIL_MODES = {1: "L", 3: "RGB"}
CROP_SCALE = (0.08, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)


def read_image(path: Path, shape: tuple[int, int, int], crop_seed: int | None = None,
               bgr: bool = False) -> np.ndarray:
    """One image as uint8 (C, H, W): centre-cropped, or with ``crop_seed`` a random resized
    crop drawn from that seed (so a resumed run crops as an uninterrupted one)."""
    from PIL import Image, UnidentifiedImageError

    channels, height, width = shape
    try:
        with Image.open(path) as image:
            image = image.convert(_PIL_MODES[channels])
            box = (_centre_box(image.size, width, height) if crop_seed is None
                   else _random_box(image.size, crop_seed))
            image = image.resize((width, height), Image.Resampling.BILINEAR, box=box)
            pixels = np.asarray(image).reshape(height, width, channels).transpose(2, 0, 1)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise TrainError(f"{path}: cannot read image: {err}") from None
    return np.ascontiguousarray(pixels[::-1] if bgr else pixels)


def _centre_box(size: tuple[int, int], width: int, height: int) -> tuple[float, ...]:
    """The centred region of the target's aspect ratio that covers the most of the image."""
    w, h = size
    scale = min(w / width, h / height)
    crop_w, crop_h = width * scale, height * scale
    left, top = (w - crop_w) / 2, (h - crop_h) / 2
    return (left, top, left + crop_w, top + crop_h)


def _random_box(size: tuple[int, int], seed: int) -> tuple[float, ...]:
    """torchvision's RandomResizedCrop.get_params, drawn from a numpy generator of ``seed``."""
    w, h = size
    rng = np.random.default_rng(seed)
    area = w * h
    for _ in range(10):
        target = area * rng.uniform(*CROP_SCALE)
        aspect = np.exp(rng.uniform(np.log(CROP_RATIO[0]), np.log(CROP_RATIO[1])))
        crop_w = round(np.sqrt(target * aspect))
        crop_h = round(np.sqrt(target / aspect))
        if 0 < crop_w <= w and 0 < crop_h <= h:
            left = int(rng.integers(0, w - crop_w + 1))
            top = int(rng.integers(0, h - crop_h + 1))
            return (left, top, left + crop_w, top + crop_h)
    return _centre_box(size, w, h)  # fallback, as torchvision's: the whole image, centred


@dataclass(frozen=True)
class FolderImages:
    """A split's image files, standing in for an (N, C, H, W) uint8 array: indexing with an
    index array gives the subset, ``decoded`` the array itself."""

    paths: tuple[Path, ...]
    image_shape: tuple[int, int, int]
    bgr: bool = False

    dtype = np.dtype(np.uint8)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.paths), *self.image_shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, rows) -> "FolderImages":
        return replace(self, paths=tuple(self.paths[int(i)] for i in np.arange(len(self))[rows]))

    def reversed_channels(self) -> "FolderImages":
        return replace(self, bgr=not self.bgr)

    def read(self, index: int, crop_seed: int | None = None) -> np.ndarray:
        return read_image(self.paths[index], self.image_shape, crop_seed, self.bgr)

    def decoded(self) -> np.ndarray:
        images = np.empty(self.shape, dtype=np.uint8)
        for i in range(len(self)):
            images[i] = self.read(i)
        return images


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


def _flatten(classes: dict[str, list[Path]], names: list[str]) -> tuple[list[Path], np.ndarray]:
    paths, labels = [], []
    for label, name in enumerate(names):
        paths.extend(classes.get(name, []))
        labels.extend([label] * len(classes.get(name, [])))
    return paths, np.asarray(labels, dtype=np.int64)


def _stats(images: FolderImages) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std in [0, 1] units over up to STATS_SAMPLE evenly spaced images."""
    from netc.train.data.base import channel_stats

    picked = np.unique(np.linspace(0, len(images) - 1, min(len(images), STATS_SAMPLE)).round())
    return channel_stats(images[picked.astype(int)].decoded(), 1.0 / 255)


def _split_files(folder: Path) -> tuple[list[str], list[Path], np.ndarray, list[Path], np.ndarray]:
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
        return (names, *_flatten(train_classes, names), *_flatten(test_classes, names))
    classes = _class_folders(folder)
    names = sorted(classes)
    paths, labels = _flatten(classes, names)
    keep, held = stratified_split(labels, HELD_OUT_FRACTION, SPLIT_SEED)
    return (names, [paths[i] for i in keep], labels[keep], [paths[i] for i in held],
            labels[held])


def load_imagefolder(arg: str, input_shape: tuple[int, int, int],
                     num_classes: int) -> DataSet:
    folder = Path(arg).expanduser()
    if not folder.is_dir():
        raise TrainError(f"imagefolder: {folder} is not a folder")
    if input_shape[0] not in _PIL_MODES:
        raise TrainError(f"imagefolder reads 1- or 3-channel images; the model expects "
                         f"{input_shape[0]} channels")
    names, train_paths, train_y, test_paths, test_y = _split_files(folder)
    shape = tuple(int(d) for d in input_shape)
    train_x = FolderImages(tuple(train_paths), shape)
    mean, std = _stats(train_x)
    return DataSet(name=f"imagefolder:{arg}", classes=tuple(names), train_x=train_x,
                   train_y=train_y, test_x=FolderImages(tuple(test_paths), shape), test_y=test_y,
                   pixel_scale=1.0 / 255, mean=mean, std=std)
