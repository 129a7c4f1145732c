"""PNG figures for runs, evaluations and lesion studies.

Drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas, so no GUI backend is chosen
and pyplot's global state is left alone for the caller. matplotlib is optional (``netc[train]``):
without it each ``plot_*`` draws nothing and returns False, and the run, evaluation or lesion
study keeps every other output.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

NO_MATPLOTLIB = "matplotlib is not installed, so no PNG figures are drawn (pip install 'netc[train]')"


def can_plot() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _needs_matplotlib(draw: Callable[..., None]) -> Callable[..., bool]:
    @functools.wraps(draw)
    def draw_if_possible(*args, **kwargs) -> bool:
        if not can_plot():
            return False
        try:
            draw(*args, **kwargs)
        except ImportError:  # installed but broken (a missing compiled part, say)
            return False
        return True
    return draw_if_possible


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


@_needs_matplotlib
def plot_curves(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Loss and accuracy against epoch, one line per split found in the metrics rows."""
    figure = _figure(10, 4)
    loss_axes, acc_axes = figure.subplots(1, 2)
    epochs = [row["epoch"] for row in rows]
    for split in ("train", "val", "test"):
        if rows and f"{split}_loss" in rows[0]:
            loss_axes.plot(epochs, [row[f"{split}_loss"] for row in rows], label=split)
            acc_axes.plot(epochs, [100 * row[f"{split}_acc"] for row in rows], label=split)
    for axes, label in ((loss_axes, "loss"), (acc_axes, "accuracy (%)")):
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path)


@_needs_matplotlib
def plot_confusion(confusion: np.ndarray, classes: Sequence[str], path: Path,
                   title: str = "") -> None:
    """Row-normalised confusion matrix (rows: true class, columns: predicted), counts written in
    the cells when there are few enough classes to read them."""
    count = len(classes)
    size = min(14.0, 2.5 + 0.45 * count)
    figure = _figure(size, size)
    axes = figure.subplots()
    totals = confusion.sum(axis=1, keepdims=True)
    rates = np.divide(confusion, totals, out=np.zeros(confusion.shape), where=totals > 0)
    image = axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    if count <= 30:
        ticks = np.arange(count)
        axes.set_xticks(ticks, labels=classes, rotation=90)
        axes.set_yticks(ticks, labels=classes)
        for (row, col), value in np.ndenumerate(confusion):
            if value:
                axes.text(col, row, str(value), ha="center", va="center", fontsize=7,
                          color="white" if rates[row, col] > 0.5 else "black")
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path)


@_needs_matplotlib
def plot_lesion(report: dict[str, Any], path: Path) -> None:
    """Accuracy against the number of residual blocks deleted (Veit et al. 2016, figure 5),
    beside the accuracy with each single block deleted (their figure 3)."""
    figure = _figure(11, 4)
    random_axes, single_axes = figure.subplots(1, 2)
    counts = [0] + [entry["deleted"] for entry in report["random"]]
    means = [report["baseline"]] + [entry["mean"] for entry in report["random"]]
    lows = [report["baseline"]] + [entry["min"] for entry in report["random"]]
    highs = [report["baseline"]] + [entry["max"] for entry in report["random"]]
    random_axes.plot(counts, [100 * m for m in means], marker="o")
    random_axes.fill_between(counts, [100 * v for v in lows], [100 * v for v in highs], alpha=0.2)
    random_axes.set_xlabel("residual blocks deleted (random)")
    random_axes.set_ylabel("accuracy (%)")
    random_axes.grid(alpha=0.3)
    names = [entry["block"] for entry in report["single"]]
    single_axes.bar(range(len(names)), [100 * e["accuracy"] for e in report["single"]])
    single_axes.axhline(100 * report["baseline"], color="black", linestyle="--",
                        label="none deleted")
    single_axes.set_xticks(range(len(names)), labels=names, rotation=90)
    single_axes.set_ylabel("accuracy (%)")
    single_axes.set_title("one block deleted")
    single_axes.legend()
    figure.tight_layout()
    figure.savefig(path)
