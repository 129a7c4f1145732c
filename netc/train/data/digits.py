"""scikit-learn's digits: 1,797 8x8 grayscale images of handwritten digits, 10 classes."""

from __future__ import annotations

import numpy as np

from netc.train.data.base import DataSet, make_dataset, stratified_split
from netc.train.errors import TrainError

TEST_SIZE = 297
# Fixed, not the recipe's seed: every run is scored on the same 297 test images.
SPLIT_SEED = 0
_MAX_VALUE = 16  # pixel values are counts 0..16 (UCI optdigits, 4x4 blocks of a 32x32 bitmap)


def load_digits(arg: str | None, input_shape: tuple[int, int, int], num_classes: int) -> DataSet:
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise TrainError("data source 'digits' is scikit-learn's bundled data set, and "
                         "scikit-learn is not installed",
                         hint="pip install 'netc[train]', or name another data source") from None

    bunch = sklearn_digits()
    images = bunch.images.astype(np.uint8)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    train, test = stratified_split(labels, TEST_SIZE, SPLIT_SEED)
    classes = tuple(str(c) for c in range(10))
    return make_dataset("digits", classes, images[train], labels[train], images[test],
                        labels[test], pixel_scale=1.0 / _MAX_VALUE)
