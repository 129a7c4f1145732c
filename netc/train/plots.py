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


def _integer_ticks(axis) -> None:
    """Ticks at whole numbers only, for axes that count (epochs, blocks); one is enough."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


# (metrics split, label, line style): the average weights' scores dashed beside the model's.
_CURVES = (("train", "train", "-"), ("val", "val", "-"), ("test", "test", "-"),
           ("ema_val", "val (EMA)", "--"), ("ema_test", "test (EMA)", "--"))


@_needs_matplotlib
def plot_curves(rows: Sequence[dict[str, Any]], path: Path, name: str = "") -> None:
    curves_figure(rows, name).savefig(path)


def curves_figure(rows: Sequence[dict[str, Any]], name: str = ""):
    """Loss, accuracy and learning rate against epoch, one line per split found in the metrics
    rows, titled with the run's name. Every epoch is a marker, so a one-epoch run shows."""
    figure = _figure(14, 4)
    loss_axes, acc_axes, lr_axes = figure.subplots(1, 3)
    epochs = [row["epoch"] for row in rows]
    colours = {}
    for split, label, style in _CURVES:
        if not rows or f"{split}_loss" not in rows[0]:
            continue
        colour = colours.setdefault(split.removeprefix("ema_"), f"C{len(colours)}")
        line = {"label": label, "linestyle": style, "marker": "o", "markersize": 3,
                "color": colour}
        loss_axes.plot(epochs, [row[f"{split}_loss"] for row in rows], **line)
        acc_axes.plot(epochs, [100 * row[f"{split}_acc"] for row in rows], **line)
    lr_axes.plot(epochs, [row["lr"] for row in rows], marker="o", markersize=3, color="C7")
    panels = ((loss_axes, "loss", True), (acc_axes, "accuracy (%)", True),
              (lr_axes, "learning rate (last step of the epoch)", False))
    for axes, label, legend in panels:
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        _integer_ticks(axes.xaxis)
        if len(set(epochs)) == 1:
            axes.set_xlim(epochs[0] - 1, epochs[0] + 1)
        if legend and axes.lines:
            axes.legend()
    lr_axes.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    figure.suptitle(f"{name}: {len(rows)} epoch{'s' if len(rows) != 1 else ''}" if name
                    else f"{len(rows)} epochs")
    figure.tight_layout()
    return figure


@_needs_matplotlib
def plot_confusion(confusion: np.ndarray, classes: Sequence[str], path: Path,
                   title: str = "") -> None:
    confusion_figure(confusion, classes, title).savefig(path)


def confusion_figure(confusion: np.ndarray, classes: Sequence[str], title: str = ""):
    """Row-normalised confusion matrix (rows: true class, columns: predicted), counts written in
    the cells when there are few enough classes to read them."""
    count = len(classes)
    size = min(14.0, 2.5 + 0.45 * count)
    figure = _figure(size, size)
    axes = figure.subplots()
    totals = confusion.sum(axis=1, keepdims=True)
    rates = np.divide(confusion, totals, out=np.zeros(confusion.shape), where=totals > 0)
    image = axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    bar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    bar.set_label("fraction of the true class's images")
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
    return figure


@_needs_matplotlib
def plot_lesion(report: dict[str, Any], path: Path) -> None:
    lesion_figure(report).savefig(path)


def lesion_figure(report: dict[str, Any]):
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
    _integer_ticks(random_axes.xaxis)
    random_axes.set_ylabel("accuracy (%)")
    random_axes.grid(alpha=0.3)
    names = [entry["block"] for entry in report["single"]]
    single_axes.bar(range(len(names)), [100 * e["accuracy"] for e in report["single"]])
    single_axes.axhline(100 * report["baseline"], color="black", linestyle="--",
                        label="none deleted")
    single_axes.set_xticks(range(len(names)), labels=names, rotation=90)
    single_axes.set_ylabel("accuracy (%)")
    single_axes.set_title("one block deleted")
    single_axes.set_ylim(0, 125)  # room above the baseline for the legend
    single_axes.legend(loc="upper right")
    random_axes.set_title("random sets deleted (mean, min to max)")
    figure.suptitle(f"lesion study, {report['data']} {report['split']}")
    figure.tight_layout()
    return figure
