"""CIFAR-10 / CIFAR-100 from the python-version batch files (Krizhevsky 2009).

The files are pickles. Unpickling runs code named by the file, so only the expected file names
are opened and the unpickler resolves only what numpy arrays need.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from netc.train.data.base import DataSet, make_dataset
from netc.train.errors import TrainError

CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = ("test_batch",)
CIFAR100_TRAIN = ("train",)
CIFAR100_TEST = ("test",)
_IMAGE_SHAPE = (3, 32, 32)

# The globals a pickle of numpy arrays and scalars refers to (numpy 1.x spells _core as core).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("_codecs", "encode"): ("_codecs", "encode"),
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(*_ALLOWED_GLOBALS[(module, name)])


def _read_batch(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            loaded = _ArrayOnlyUnpickler(handle, encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as err:
        raise TrainError(f"{path}: not a readable CIFAR batch file: {err}") from None
    if not isinstance(loaded, dict):
        raise TrainError(f"{path}: a CIFAR batch is a dict, got {type(loaded).__name__}")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in loaded.items()}


def _batch_folder(folder: Path, expected: tuple[str, ...], subfolder: str) -> Path:
    """The folder itself, or the archive's own sub-folder when DIR is where it was unpacked."""
    for candidate in (folder, folder / subfolder):
        if all((candidate / name).is_file() for name in expected):
            return candidate
    missing = [name for name in expected if not (folder / name).is_file()]
    raise TrainError(f"{folder}: missing CIFAR batch files {', '.join(missing)}",
                     hint=f"point at the unpacked python version (the folder '{subfolder}')")


def _labels(path: Path, raw: object, count: int) -> np.ndarray:
    """A batch's labels as int64, each a whole number in 0..count-1."""
    try:
        labels = np.asarray(raw)
    except ValueError:  # ragged nesting
        raise TrainError(f"{path}: labels must be a flat list of integers") from None
    if labels.ndim != 1:
        raise TrainError(f"{path}: labels must be a flat list of integers, got an array of "
                         f"shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        examples = ", ".join(repr(item) for item in labels[:3].tolist())
        raise TrainError(f"{path}: labels must be integers, got values such as {examples}")
    if len(labels) and (labels.min() < 0 or labels.max() >= count):
        raise TrainError(f"{path}: labels must lie in 0..{count - 1}, got values from "
                         f"{labels.min()} to {labels.max()}")
    return labels.astype(np.int64)


def _read_split(folder: Path, names: tuple[str, ...], label_key: str, count: int):
    images, labels = [], []
    for name in names:
        path = folder / name
        batch = _read_batch(path)
        data = batch.get("data")
        if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise TrainError(f"{path}: 'data' must be an N x 3072 array")
        if data.dtype != np.uint8:
            raise TrainError(f"{path}: 'data' must hold uint8 pixels, got {data.dtype.name}")
        if len(data) == 0:
            raise TrainError(f"{path}: holds no images")
        if label_key not in batch:
            raise TrainError(f"{path}: no '{label_key}' entry")
        images.append(data.reshape(-1, *_IMAGE_SHAPE))
        labels.append(_labels(path, batch[label_key], count))
        if len(labels[-1]) != len(images[-1]):
            raise TrainError(f"{path}: {len(images[-1])} images but {len(labels[-1])} labels")
    return np.concatenate(images), np.concatenate(labels)


def _class_names(folder: Path, meta_file: str, key: str, count: int) -> tuple[str, ...]:
    path = folder / meta_file
    if path.is_file():
        names = _read_batch(path).get(key)
        if isinstance(names, list) and len(names) == count:
            return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return tuple(str(c) for c in range(count))


def _load(kind: str, arg: str, train: tuple[str, ...], test: tuple[str, ...], label_key: str,
          subfolder: str, meta: tuple[str, str], count: int) -> DataSet:
    folder = _batch_folder(Path(arg).expanduser(), train + test, subfolder)
    train_x, train_y = _read_split(folder, train, label_key, count)
    test_x, test_y = _read_split(folder, test, label_key, count)
    classes = _class_names(folder, meta[0], meta[1], count)
    return make_dataset(f"{kind}:{arg}", classes, train_x, train_y, test_x, test_y,
                        pixel_scale=1.0 / 255)


def load_cifar10(arg: str, input_shape: tuple[int, int, int], num_classes: int) -> DataSet:
    return _load("cifar10", arg, CIFAR10_TRAIN, CIFAR10_TEST, "labels", "cifar-10-batches-py",
                 ("batches.meta", "label_names"), 10)


def load_cifar100(arg: str, input_shape: tuple[int, int, int], num_classes: int) -> DataSet:
    return _load("cifar100", arg, CIFAR100_TRAIN, CIFAR100_TEST, "fine_labels",
                 "cifar-100-python", ("meta", "fine_label_names"), 100)
