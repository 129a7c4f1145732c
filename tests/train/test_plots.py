"""What the figures show: run curves titled with the run, a learning-rate panel and a marker
per epoch; whole-number ticks where counts are whole; a labelled colour bar."""

from __future__ import annotations

import numpy as np

from netc.train.plots import confusion_figure, curves_figure, lesion_figure

ROW = {"epoch": 1, "train_loss": 2.0, "train_acc": 0.3, "val_loss": 1.9, "val_acc": 0.35,
       "test_loss": 1.8, "test_acc": 0.4, "ema_val_loss": 1.95, "ema_val_acc": 0.33,
       "lr": 0.05, "images_per_s": 1000.0, "time_s": 1.0}


def _whole(values) -> bool:
    return all(float(v).is_integer() for v in values)


def test_a_one_epoch_run_draws_every_curve_with_markers():
    figure = curves_figure([ROW], "tiny, run r1")
    loss, accuracy, lr = figure.axes
    assert figure._suptitle.get_text() == "tiny, run r1: 1 epoch"
    assert [line.get_label() for line in loss.lines] == ["train", "val", "test", "val (EMA)"]
    assert all(line.get_marker() == "o" for axes in figure.axes for line in axes.lines)
    assert lr.get_ylabel().startswith("learning rate")
    assert list(lr.lines[0].get_ydata()) == [0.05]
    for axes in figure.axes:
        ticks = [t for t in axes.get_xticks() if axes.get_xlim()[0] <= t <= axes.get_xlim()[1]]
        assert ticks and _whole(ticks), ticks
    assert list(accuracy.lines[0].get_ydata()) == [30.0]


def test_many_epochs_keep_whole_number_ticks():
    rows = [{**ROW, "epoch": epoch} for epoch in range(1, 8)]
    figure = curves_figure(rows, "net")
    assert _whole(figure.axes[0].get_xticks())


def test_lesion_ticks_count_whole_blocks():
    report = {"data": "digits", "split": "test", "baseline": 0.9, "blocks": ["a", "b", "c"],
              "single": [{"block": name, "accuracy": 0.5} for name in "abc"],
              "random": [{"deleted": k, "mean": 0.5, "min": 0.4, "max": 0.6} for k in (1, 2, 3)]}
    random_axes = lesion_figure(report).axes[0]
    assert _whole(random_axes.get_xticks())


def test_the_confusion_colour_bar_says_what_it_measures():
    figure = confusion_figure(np.array([[3, 1], [0, 4]]), ["cat", "dog"], "pets")
    bar_axes = figure.axes[1]
    assert bar_axes.get_ylabel() == "fraction of the true class's images"
