"""Torch batches on the device: index tensors that already live there, augment whole batches at once.

Every random draw (epoch order, crop offsets, flips) comes from one explicit CPU generator whose
state goes into checkpoints, and is drawn for the *global* batch before a rank takes its slice,
so a resumed run and a run on N processes see exactly the images a single run sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from netc.train.data import DataSet
from netc.train.errors import TrainError
from netc.train.torch_dense import crop_masks


@dataclass(frozen=True)
class Augmentation:
    padding: int   # random crop of the input size from the image zero-padded on each side
    flip: bool     # random horizontal flip with probability 1/2

    @property
    def active(self) -> bool:
        return self.padding > 0 or self.flip


@dataclass(frozen=True)
class AugmentationDraw:
    offsets: torch.Tensor  # (B, 2) int64: top-left corner of the crop in the padded image
    flips: torch.Tensor    # (B,) bool

    def take(self, rows: slice) -> "AugmentationDraw":
        return AugmentationDraw(self.offsets[rows], self.flips[rows])


def draw_augmentation(augmentation: Augmentation, count: int,
                      generator: torch.Generator) -> AugmentationDraw:
    offsets = torch.randint(0, 2 * augmentation.padding + 1, (count, 2), generator=generator)
    flips = torch.rand(count, generator=generator) < 0.5
    if not augmentation.flip:
        flips = torch.zeros_like(flips)
    return AugmentationDraw(offsets, flips)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a host tensor to ``device`` without making the host wait for the GPU's queue to
    drain (a copy from pageable memory would): through pinned memory, asynchronously."""
    if tensor.device.type == "cpu" and device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def apply_augmentation(images: torch.Tensor, draw: AugmentationDraw, padding: int,
                       fill: float = 0) -> torch.Tensor:
    """Crop each image of the batch padded with ``fill`` at its own offset, then flip where
    drawn."""
    device = images.device
    if padding > 0:
        batch, _, height, width = images.shape
        padded = F.pad(images, (padding, padding, padding, padding), value=fill)
        offsets = to_device(draw.offsets, device)
        rows = offsets[:, 0, None] + torch.arange(height, device=device)
        cols = offsets[:, 1, None] + torch.arange(width, device=device)
        picked = padded[torch.arange(batch, device=device)[:, None, None], :,
                        rows[:, :, None], cols[:, None, :]]
        images = picked.permute(0, 3, 1, 2)
    if bool(draw.flips.any()):  # the draw lives on the CPU: no device sync
        flips = to_device(draw.flips, device)
        images = torch.where(flips[:, None, None, None], images.flip(3), images)
    return images


def in_layout(images: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``images`` with exactly the strides of the recipe's memory format.

    The crop's gather leaves a batch laid out channels-last, and a convolution's weight
    gradient follows its input's layout: a channels-last batch into a contiguous model gives
    gradients whose strides differ from their parameters' (DDP then warns "grad strides do not
    match bucket view strides" and copies every gradient). ``contiguous()`` alone keeps such a
    one-channel batch as it is (a size-1 dimension's stride does not count for contiguity, but
    the convolution reads it), so the strides are compared in full."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    batch, channels, height, width = images.shape
    wanted = ((channels * height * width, 1, width * channels, channels) if channels_last
              else (channels * height * width, height * width, width, 1))
    if images.stride() == wanted:
        return images
    return images.clone(memory_format=layout)


class DeviceSplit:
    """One split of a data set held on the device in its raw dtype (uint8 stays uint8)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, data: DataSet,
                 device: torch.device, channels_last: bool = False):
        self.images = torch.from_numpy(np.ascontiguousarray(images)).to(device)
        self.labels = torch.from_numpy(np.ascontiguousarray(labels)).to(device)
        channels = images.shape[1]
        self.scale = float(data.pixel_scale)
        self.mean = torch.tensor(data.mean, device=device).view(1, channels, 1, 1)
        self.std = torch.tensor(data.std, device=device).view(1, channels, 1, 1)
        self.channels_last = channels_last

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batch(self, indices: torch.Tensor, augmentation: Augmentation | None = None,
              draw: AugmentationDraw | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        indices = to_device(indices, self.images.device)
        images = self.images[indices].float() * self.scale
        labels = self.labels[indices].long()  # dense masks are held as uint8
        if augmentation is not None and draw is not None:
            images = apply_augmentation(images, draw, augmentation.padding)
            if labels.ndim == 3:
                labels = crop_masks(labels, draw, augmentation.padding)
        images = (images - self.mean) / self.std
        return in_layout(images, self.channels_last), labels


def rank_rows(global_batch: int, rank: int, world_size: int) -> slice:
    """The rows of a global batch that one rank trains on."""
    if global_batch % world_size:
        raise TrainError(f"batch_size {global_batch} does not divide evenly over "
                         f"{world_size} processes",
                         hint=f"use a multiple of {world_size}")
    local = global_batch // world_size
    return slice(rank * local, (rank + 1) * local)
