"""Image folders streamed from disk for the torch trainer, so a folder larger than memory trains.

A ``StreamSplit`` answers ``batch(indices)`` as a DeviceSplit does, but reads the files through a
``torch.utils.data.DataLoader`` with worker processes. The trainer keeps choosing the order (its
saved generator draws the permutation, so resuming stays exact); at the start of an epoch it
announces that order (``announce_epoch``) and the loader's workers read ahead along it. Training
images get a random resized crop whose seed is a function of the epoch's order and the position
in it, so a resumed epoch crops as an uninterrupted one did.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from netc.train.data.base import DataSet, is_streamed
from netc.train.torch_batches import (Augmentation, AugmentationDraw, DeviceSplit,
                                      apply_augmentation, in_layout, to_device)


def worker_count() -> int:
    """Reading processes: the cores but one for the training process, at most 8."""
    return max(1, min(8, (os.cpu_count() or 2) - 1))


class _Reads(Dataset):
    """Items are (row, crop seed or -1 for a centre crop) -> (uint8 CHW image, row)."""

    def __init__(self, images):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item):
        row, seed = item
        pixels = self.images.read(row, None if seed < 0 else seed)
        return torch.from_numpy(pixels), row


class StreamSplit:
    """One split of an image folder, read on demand; ``train`` splits get random crops."""

    def __init__(self, images, labels: np.ndarray, data: DataSet, device: torch.device,
                 channels_last: bool = False, train: bool = False, workers: int | None = None):
        self.images, self.train = images, train
        self.labels = torch.from_numpy(np.ascontiguousarray(labels)).to(device)
        self.device, self.channels_last = device, channels_last
        channels = images.shape[1]
        self.scale = float(data.pixel_scale)
        self.mean = torch.tensor(data.mean, device=device).view(1, channels, 1, 1)
        self.std = torch.tensor(data.std, device=device).view(1, channels, 1, 1)
        self.workers = worker_count() if workers is None else workers
        self._ahead = None  # iterator over the announced batches
        self._expected: list[list[int]] = []

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def announce(self, batches: list[list[tuple[int, int]]]) -> None:
        """The (row, crop seed) batches the next ``batch`` calls ask for, in order."""
        self._expected = [[row for row, _ in b] for b in batches]
        loader = DataLoader(_Reads(self.images), batch_sampler=batches,
                            num_workers=self.workers, pin_memory=self.device.type == "cuda",
                            prefetch_factor=4 if self.workers else None)
        self._ahead = iter(loader)

    def _read(self, rows: list[int]) -> torch.Tensor:
        if self._expected and self._expected[0] == rows:
            self._expected.pop(0)
            images, _ = next(self._ahead)
            return images
        if not self.train and rows and rows[0] == 0:  # an evaluation pass starts: read ahead
            size = len(rows)
            self.announce([[(r, -1) for r in range(s, min(s + size, len(self)))]
                           for s in range(0, len(self), size)])
            return self._read(rows)
        self._expected, self._ahead = [], None
        return torch.stack([torch.from_numpy(self.images.read(r)) for r in rows])

    def batch(self, indices: torch.Tensor, augmentation: Augmentation | None = None,
              draw: AugmentationDraw | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        indices = to_device(indices, self.labels.device)
        rows = [int(i) for i in indices.cpu()]
        images = self._read(rows).to(self.device, non_blocking=True).float() * self.scale
        if augmentation is not None and draw is not None:
            images = apply_augmentation(images, draw, augmentation.padding)
        images = (images - self.mean) / self.std
        return in_layout(images, self.channels_last), self.labels[indices]


def make_split(images, labels: np.ndarray, data: DataSet, device: torch.device,
               channels_last: bool = False, train: bool = False):
    """A StreamSplit for an image folder's files, else the in-memory DeviceSplit."""
    if is_streamed(data):
        return StreamSplit(images, labels, data, device, channels_last, train)
    return DeviceSplit(images, labels, data, device, channels_last)


def announce_epoch(split, order: torch.Tensor, batch: int, rows: slice, first_step: int,
                   steps: int, seed: int) -> None:
    """Tell a streamed training split the batches of this epoch from ``first_step`` on, each
    image with its crop seed: (seed, the epoch's first rows, its position) decide it."""
    if not isinstance(split, StreamSplit):
        return
    order = order.cpu()
    epoch_key = np.random.SeedSequence([seed, *order[:16].tolist()]).generate_state(1)[0]
    positions = torch.arange(len(order))
    batches = []
    for step in range(first_step, steps):
        taken = order[step * batch:(step + 1) * batch][rows]
        where = positions[step * batch:(step + 1) * batch][rows]
        batches.append([(int(r), int((int(epoch_key) + int(p)) % 2**31))
                        for r, p in zip(taken, where)])
    split.announce(batches)
