"""Random images of the model's input shape with random labels: a smoke test for any model, and
the data of throughput benchmarks. Pixels are bytes, as in real image data, so the device-side
conversion and normalisation cost what they cost on a real data set."""

from __future__ import annotations

import numpy as np

from netc.train.data.base import DataSet, make_dataset
from netc.train.errors import TrainError

DEFAULT_SIZE = 256
_SEED = 0


def load_synthetic(arg: str | None, input_shape: tuple[int, int, int],
                   num_classes: int) -> DataSet:
    size = DEFAULT_SIZE
    if arg is not None:
        if not arg.isdigit() or int(arg) < 2:
            raise TrainError(f"synthetic:N needs a whole number of images N >= 2, got '{arg}'")
        size = int(arg)
    rng = np.random.default_rng(_SEED)
    test_size = max(1, size // 4)
    images = rng.integers(0, 256, (size + test_size, *input_shape), dtype=np.uint8)
    labels = rng.integers(0, num_classes, size + test_size)
    classes = tuple(str(c) for c in range(num_classes))
    return make_dataset("synthetic", classes, images[:size], labels[:size], images[size:],
                        labels[size:], pixel_scale=1.0 / 255)
