"""Small CIFAR data sets in the python-version batch format, written by the tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def write_batch(path, images, labels, label_key=b"labels"):
    with open(path, "wb") as handle:
        pickle.dump({b"data": images.reshape(len(images), -1), label_key: list(labels),
                     b"batch_label": b"test"}, handle, protocol=2)


def write_cifar10(root: Path, per_batch: int = 4) -> Path:
    """``root``/cifar-10-batches-py with five training batches and a test batch of random
    images; returns ``root`` (where the archive would have been unpacked)."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write_batch(folder / name, rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8),
                    rng.integers(0, 10, per_batch))
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, handle)
    return root
