"""``shapes``: a generated segmentation set. scikit-learn's 8x8 digits, enlarged and placed at
random on a blank canvas of the model's size; each digit's inked pixels (value 4 of 16 and
up, the only ones drawn) are labelled with class digit + 1 in its mask, the background with 0
(11 classes). ``shapes:N`` makes N training
canvases (default 1,000) and a fifth as many test canvases. Test canvases are drawn from digits
no training canvas uses, and everything comes from fixed seeds, so every run is scored on the
same canvases.
"""

from __future__ import annotations

import numpy as np

from netc.train.data.base import DataSet, stratified_split
from netc.train.data.segmentation import dense_dataset
from netc.train.errors import TrainError

DEFAULT_SIZE = 1000
MAX_DIGITS = 2    # digits per canvas: 1 or 2; a later one covers an earlier one
_INK = 4          # a digit's pixel belongs to it from this value (of 16) up
_MAX_VALUE = 16
_SEED = 0
_SPLIT_SEED = 0
_DIGIT_TEST_SIZE = 297
_CLASSES = ("background",) + tuple(str(d) for d in range(10))


def _canvases(digits: np.ndarray, labels: np.ndarray, count: int, shape: tuple[int, int, int],
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    channels, height, width = shape
    scale = max(1, min(height, width) // 16)
    side = 8 * scale
    images = np.zeros((count, height, width), dtype=np.uint8)
    masks = np.zeros((count, height, width), dtype=np.uint8)
    for i in range(count):
        for _ in range(rng.integers(1, MAX_DIGITS + 1)):
            pick = rng.integers(len(digits))
            glyph = np.kron(digits[pick], np.ones((scale, scale), dtype=np.uint8))
            top = rng.integers(0, height - side + 1)
            left = rng.integers(0, width - side + 1)
            ink = glyph >= _INK
            window = (slice(top, top + side), slice(left, left + side))
            images[i][window] = np.where(ink, glyph, images[i][window])
            masks[i][window] = np.where(ink, labels[pick] + 1, masks[i][window])
    return np.repeat(images[:, None], channels, axis=1), masks


def load_shapes(arg: str | None, input_shape: tuple[int, int, int], num_classes: int) -> DataSet:
    size = DEFAULT_SIZE
    if arg is not None:
        if not arg.isdigit() or int(arg) < 2:
            raise TrainError(f"shapes:N needs a whole number of canvases N >= 2, got '{arg}'")
        size = int(arg)
    _, height, width = input_shape
    if min(height, width) < 8:
        raise TrainError(f"shapes draws 8x8 digits; the model's input is {height}x{width}",
                         hint="give the spec an input of at least 8x8 pixels")
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise TrainError("data source 'shapes' draws scikit-learn's digits, and scikit-learn "
                         "is not installed", hint="pip install 'netc[train]'") from None
    bunch = load_digits()
    digits, labels = bunch.images.astype(np.uint8), bunch.target.astype(np.uint8)
    train_ids, test_ids = stratified_split(bunch.target, _DIGIT_TEST_SIZE, _SPLIT_SEED)
    rng = np.random.default_rng(_SEED)
    train = _canvases(digits[train_ids], labels[train_ids], size, input_shape, rng)
    test = _canvases(digits[test_ids], labels[test_ids], max(1, size // 5), input_shape, rng)
    return dense_dataset("shapes", _CLASSES, train, test, pixel_scale=1.0 / _MAX_VALUE)
