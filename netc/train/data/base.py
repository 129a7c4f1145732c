"""The in-memory data set every loader returns, and helpers shared by the loaders."""

from __future__ import annotations

import math

from dataclasses import dataclass, replace

import numpy as np

from netc.train.errors import TrainError

_STATS_CHUNK = 4096
# decoded bytes a consumer that needs arrays (Keras, eval, lesion) may hold of a streamed set
IN_MEMORY_LIMIT = 4 * 2**30


@dataclass(frozen=True)
class DataSet:
    """Images as raw arrays (N, C, H, W), uint8 or float32; ``raw * pixel_scale`` lies in [0, 1].

    ``mean`` and ``std`` are per channel, in [0, 1] units, measured on the training split unless
    the network declares its own (``declared_normalisation``); the trainer normalises with them
    after augmentation. ``val_*`` is empty unless a validation
    fraction was carved out of the training split.
    """

    name: str
    classes: tuple[str, ...]
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    pixel_scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    val_x: np.ndarray | None = None
    val_y: np.ndarray | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.train_x.shape[1:])

    def split_exists(self, which: str) -> bool:
        return which in ("train", "test") or (which == "val" and self.val_x is not None)

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        arrays = {"train": (self.train_x, self.train_y), "test": (self.test_x, self.test_y),
                  "val": (self.val_x, self.val_y)}
        if which not in arrays or arrays[which][0] is None:
            raise TrainError(f"data set {self.name} has no '{which}' split")
        return arrays[which]


def channel_stats(images: np.ndarray, pixel_scale: float) -> tuple[tuple[float, ...],
                                                                 tuple[float, ...]]:
    """Per-channel mean and std in [0, 1] units, in chunks so uint8 sets never go float64 whole."""
    channels = images.shape[1]
    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    for start in range(0, len(images), _STATS_CHUNK):
        chunk = images[start:start + _STATS_CHUNK].astype(np.float64) * pixel_scale
        total += chunk.sum(axis=(0, 2, 3))
        total_sq += np.square(chunk).sum(axis=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0.0))
    # A constant channel (blank synthetic data, a border-only set) must not divide by zero.
    std = np.where(std < 1e-6, 1.0, std)
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def make_dataset(name: str, classes: tuple[str, ...], train_x: np.ndarray, train_y: np.ndarray,
                 test_x: np.ndarray, test_y: np.ndarray, pixel_scale: float) -> DataSet:
    mean, std = channel_stats(train_x, pixel_scale)
    return DataSet(name=name, classes=classes, train_x=train_x,
                   train_y=np.asarray(train_y, dtype=np.int64), test_x=test_x,
                   test_y=np.asarray(test_y, dtype=np.int64), pixel_scale=pixel_scale,
                   mean=mean, std=std)


def input_normalisation(source) -> dict | None:
    """The normalisation a ModelSource's network declares for its input, or None."""
    return None if source.graph is None else source.graph.meta.get("normalize")


def declared_normalisation(data: DataSet, normalize: dict | None) -> DataSet:
    """``data`` normalised as the network's input declares (meta["normalize"], see
    netc.spec.preprocess) instead of by its own statistics: the declared mean and std, and for
    BGR order the images' channels reversed, so every trainer reads them unchanged."""
    if normalize is None:
        return data
    channels = data.image_shape[0]
    if len(normalize["mean"]) != channels:
        raise TrainError(f"the network's input normalisation has {len(normalize['mean'])} "
                         f"channel(s) but data set {data.name} has {channels}")
    changes = {"mean": tuple(float(m) for m in normalize["mean"]),
               "std": tuple(float(s) for s in normalize["std"])}
    if normalize["order"] == "bgr":
        for key in ("train_x", "test_x", "val_x"):
            images = getattr(data, key)
            if isinstance(images, np.ndarray):
                changes[key] = np.ascontiguousarray(images[:, ::-1])
            elif images is not None:  # files read on demand (imagefolder) reverse as they are read
                changes[key] = images.reversed_channels()
    return replace(data, **changes)


def is_streamed(data: DataSet) -> bool:
    """Whether ``data`` holds files read on demand (imagefolder) rather than arrays."""
    return not isinstance(data.train_x, np.ndarray)


def in_memory(data: DataSet, limit: int | None = None) -> DataSet:
    """``data`` with every split decoded into arrays; a set above ``limit`` bytes (default
    IN_MEMORY_LIMIT) is refused."""
    if not is_streamed(data):
        return data
    limit = IN_MEMORY_LIMIT if limit is None else limit
    splits = ("train_x", "test_x", "val_x")
    size = sum(getattr(data, key).nbytes for key in splits if getattr(data, key) is not None)
    if size > limit:
        raise TrainError(f"data set {data.name} takes {size / 2**30:.1f} GiB decoded at the "
                         f"model's size; this path holds data in memory up to "
                         f"{limit / 2**30:.1f} GiB",
                         hint="train with the default backend, whose trainer streams image "
                              "folders from disk through a worker pool")
    return replace(data, **{key: getattr(data, key).decoded() for key in splits
                            if getattr(data, key) is not None})


def stratified_split(labels: np.ndarray, holdout: int | float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out), stratified by label; ``holdout`` is a count or a fraction."""
    try:
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise TrainError(f"holding out {holdout} of {len(labels)} images (a validation or test "
                         "split) uses scikit-learn, which is not installed",
                         hint="pip install 'netc[train]'") from None

    indices = np.arange(len(labels))
    counts = np.bincount(labels)
    classes = int((counts > 0).sum())
    held = holdout if isinstance(holdout, int) else math.ceil(holdout * len(labels))
    # Stratifying needs two images of each class and room for every class on both sides; a
    # small data set is split at random instead.
    can_stratify = counts[counts > 0].min() >= 2 and classes <= min(held, len(labels) - held)
    stratify = labels if can_stratify else None
    try:
        keep, held = train_test_split(indices, test_size=holdout, random_state=seed,
                                      stratify=stratify)
    except ValueError as err:
        raise TrainError(f"cannot hold out {holdout} of {len(labels)} images: {err}") from None
    return np.sort(keep), np.sort(held)


def split_validation(data: DataSet, fraction: float, seed: int) -> DataSet:
    """Carve a validation split out of the training split (the test split stays untouched)."""
    if fraction <= 0:
        return data
    keep, held = stratified_split(data.train_y, fraction, seed)
    return replace(data, train_x=data.train_x[keep], train_y=data.train_y[keep],
                   val_x=data.train_x[held], val_y=data.train_y[held])
