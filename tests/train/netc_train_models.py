"""Small hand-written models standing in for compiled specs in the training tests.

``tiny_lesion(model)`` gives a ``TinyResNet``'s residual blocks and a context manager that makes
those blocks pass only their shortcut, as a lesion study takes them. ``SOURCES`` are the model
sources ``train_source.py`` trains in a subprocess.
"""

from __future__ import annotations

import contextlib
import hashlib
import time

import torch
from torch import nn

from netc.train import ModelSource


class Residual(nn.Module):
    def __init__(self, channels_in: int, channels: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels_in, channels, 3, stride, 1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels))
        self.shortcut = nn.Identity()
        if stride != 1 or channels_in != channels:
            self.shortcut = nn.Sequential(nn.Conv2d(channels_in, channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(channels))
        self.lesioned = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.shortcut(x)
        return torch.relu(skip if self.lesioned else skip + self.body(x))


class TinyResNet(nn.Module):
    def __init__(self, in_channels: int = 1, stem: int = 32,
                 blocks: tuple[tuple[int, int], ...] = ((32, 1), (32, 1), (32, 2)),
                 num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(stem), nn.ReLU(inplace=True))
        layers, width = [], stem
        for channels, stride in blocks:
            layers.append(Residual(width, channels, stride))
            width = channels
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


def tiny_lesion(model: TinyResNet):
    """(the deletable residual blocks, ``lesion(names)``) of a TinyResNet."""

    @contextlib.contextmanager
    def lesion(names: set[str]):
        blocks = [model.get_submodule(name) for name in names]
        for block in blocks:
            block.lesioned = True
        try:
            yield model
        finally:
            for block in blocks:
                block.lesioned = False

    return [f"layers.{i}" for i in range(len(model.layers))], lesion


class TinyCNN(nn.Module):
    """No batch norm: a data-parallel run matches a single-process one to rounding."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(2))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


class SlowResNet(TinyResNet):
    """Sleeps in each training forward so a test can kill it mid-epoch at leisure."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            time.sleep(0.03)
        return super().forward(x)


def _source(build, name: str, input_shape=(1, 8, 8), num_classes: int = 10) -> ModelSource:
    spec_text = f"name: {name}\n"
    return ModelSource(build=build, input_shape=input_shape, num_classes=num_classes,
                       spec_text=spec_text, name=name, backend="torch",
                       ir_hash=hashlib.sha256(spec_text.encode()).hexdigest()[:16])


def tiny_resnet_source() -> ModelSource:
    return _source(TinyResNet, "tiny-resnet")


def small_resnet_source() -> ModelSource:
    return _source(lambda: TinyResNet(stem=16, blocks=((16, 1), (16, 1))), "small-resnet")


def slow_resnet_source() -> ModelSource:
    return _source(lambda: SlowResNet(stem=8, blocks=((8, 1), (8, 2))), "slow-resnet")


def tiny_cnn_source() -> ModelSource:
    return _source(TinyCNN, "tiny-cnn")


SOURCES = {"tiny-cnn": tiny_cnn_source, "slow-resnet": slow_resnet_source}
