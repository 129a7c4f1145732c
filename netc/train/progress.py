"""What a run shows while it trains: an in-place bar on a terminal, one line per epoch otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

_BAR_WIDTH = 24
_REDRAW_SECONDS = 0.1


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def describe_time(seconds: float) -> str:
    """A duration as people read it: ``42.0 s`` under a minute, else ``h:mm:ss`` or ``m:ss``."""
    return f"{seconds:.1f} s" if seconds < 60 else _clock(seconds)


def describe_epoch(row: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}",
             f"train loss {row['train_loss']:.4f} acc {100 * row['train_acc']:.2f}%"]
    for split in ("val", "test", "ema_val", "ema_test"):
        if f"{split}_loss" in row:
            parts.append(f"{split.replace('_', ' ')} loss {row[f'{split}_loss']:.4f} "
                         f"acc {100 * row[f'{split}_acc']:.2f}%")
            if f"{split}_miou" in row:
                parts.append(f"mIoU {100 * row[f'{split}_miou']:.2f}%")
    parts.append(f"lr {row['lr']:.4g}")
    parts.append(f"{row['images_per_s']:.0f} img/s")
    parts.append(f"{row['time_s']:.1f}s")
    return "  ".join(parts)


class Progress:
    """Reports steps and epochs; ``live`` (a terminal) redraws one line in place."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None,
                 enabled: bool = True):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.enabled = enabled
        self._last_draw = 0.0

    def step(self, epoch: int, epochs: int, step: int, steps: int, images_per_s: float,
             eta_s: float, loss: float) -> None:
        if not (self.enabled and self.live):
            return
        now = time.monotonic()
        if now - self._last_draw < _REDRAW_SECONDS and step < steps:
            return
        self._last_draw = now
        filled = round(_BAR_WIDTH * step / steps)
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        self.stream.write(f"\repoch {epoch}/{epochs} [{bar}] {step}/{steps}  loss {loss:.4f}  "
                          f"{images_per_s:.0f} img/s  ETA {_clock(eta_s)} ")
        self.stream.flush()

    def epoch(self, row: dict[str, Any], epochs: int) -> None:
        if not self.enabled:
            return
        prefix = "\r\x1b[2K" if self.live else ""
        self.stream.write(prefix + describe_epoch(row, epochs) + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if self.enabled:
            self.stream.write(text + "\n")
            self.stream.flush()
