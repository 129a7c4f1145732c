"""The torch trainer's average of weights (--ema), early stopping (--patience) and the logs
other tools read (metrics.csv, TensorBoard events, the closing summary line)."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch
from torch import nn

from netc.train import load_recipe, resume, train
from netc.train.errors import TrainError
from netc.train.progress import Progress
from netc.train.torch_checkpoint import load_checkpoint
from netc.train.torch_ema import WeightAverage
from netc.train.torch_evaluate import evaluate_checkpoint
from netc.train.torch_trainer import TorchSession
from netc_train_models import small_resnet_source, tiny_cnn_source


def _progress() -> tuple[Progress, io.StringIO]:
    stream = io.StringIO()
    return Progress(stream=stream, live=False), stream


def test_the_average_follows_the_keras_rule():
    """average = decay * average + (1 - decay) * weights; the first step takes the weights.
    Powers of two keep every value exact."""
    model = nn.Linear(1, 1, bias=False)
    average = WeightAverage(model, decay=0.75)
    for step, value in enumerate([8.0, 4.0, 0.0]):
        with torch.no_grad():
            model.weight.fill_(value)
        average.update(model, first=step == 0)
    # 8; 0.75 * 8 + 0.25 * 4 = 7; 0.75 * 7 + 0.25 * 0 = 5.25
    assert average.model.weight.item() == 5.25
    assert model.weight.item() == 0.0
    with pytest.raises(ValueError, match="names"):
        average.load_state_dict({"bias": torch.zeros(1)})


def test_an_averaged_run_resumes_bit_for_bit(tmp_path, monkeypatch):
    """Interrupted mid-epoch after a checkpoint and resumed: the weights, their average and
    every metrics row (the average's scores too) are those of a run never stopped."""
    quiet = Progress(enabled=False)
    recipe = load_recipe(None, {"epochs": 2, "checkpoint_every_steps": 7, "ema": 0.9})
    source = small_resnet_source()
    whole = train(source, recipe, tmp_path / "whole", progress=quiet)

    real_save, saves = TorchSession._save, []

    def save_then_stop(self):
        real_save(self)
        saves.append(self.global_step)
        if len(saves) == 4:  # step 7 of epoch 2
            raise KeyboardInterrupt

    monkeypatch.setattr(TorchSession, "_save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train(source, recipe, tmp_path / "cut", progress=quiet)
    monkeypatch.setattr(TorchSession, "_save", real_save)
    assert load_checkpoint(tmp_path / "cut/checkpoints/last.pt")["step_in_epoch"] == 7
    resume(tmp_path / "cut", source, progress=quiet)

    final = [load_checkpoint(tmp_path / run / "checkpoints/last.pt") for run in ("whole", "cut")]
    assert final[0]["ema"].keys() == dict(whole.model.named_parameters()).keys()
    for part in ("model", "ema"):
        for key, value in final[0][part].items():
            assert torch.equal(value, final[1][part][key]), (part, key)
    assert any(not torch.equal(value, final[0]["model"][key])
               for key, value in final[0]["ema"].items())
    rows = [[json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text()
             .splitlines()] for run in ("whole", "cut")]
    timing = ("images_per_s", "time_s")
    assert [{k: v for k, v in row.items() if k not in timing} for row in rows[0]] == \
        [{k: v for k, v in row.items() if k not in timing} for row in rows[1]]
    assert {"ema_val_acc", "ema_val_loss", "ema_test_acc", "ema_test_loss"} <= set(rows[0][0])

    scored = evaluate_checkpoint(tmp_path / "whole/checkpoints/last.pt", source, ema=True)
    assert scored.accuracy == rows[0][-1]["ema_test_acc"]
    assert scored.loss == pytest.approx(rows[0][-1]["ema_test_loss"], rel=1e-6)


def test_an_average_that_barely_decays_scores_as_the_model(tmp_path):
    """With decay 1e-6 the average is the last step's weights to float32 rounding, so its
    scores are the model's: the average is the one the trainer updates and scores."""
    result = train(tiny_cnn_source(), load_recipe(None, {"epochs": 1, "ema": 1e-6}),
                   tmp_path / "run", progress=Progress(enabled=False))
    row = result.history[-1]
    assert row["ema_test_acc"] == pytest.approx(row["test_acc"], abs=1 / 297)
    assert row["ema_val_loss"] == pytest.approx(row["val_loss"], rel=1e-4)


def test_patience_stops_a_run_that_no_longer_improves(tmp_path):
    """A learning rate far below float32's resolution leaves the weights as they were, so
    the validation score of epoch 1 is never beaten: patience 2 ends the run after epoch 3,
    and a resume says so and trains nothing."""
    progress, said = _progress()
    settings = {"epochs": 10, "patience": 2, "lr": 1e-30, "schedule": "constant"}
    result = train(tiny_cnn_source(), load_recipe(None, settings), tmp_path / "run",
                   progress=progress)
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert len({row["val_loss"] for row in result.history}) == 1
    assert "early stop after epoch 3 of 10" in said.getvalue()
    assert "3 of 10 epochs (stopped early)" in said.getvalue()
    saved = load_checkpoint(tmp_path / "run/checkpoints/last.pt")
    assert (saved["epoch"], saved["best"]["epoch"]) == (3, 1)

    progress, said = _progress()
    again = resume(tmp_path / "run", tiny_cnn_source(), progress=progress)
    assert [row["epoch"] for row in again.history] == [1, 2, 3]
    assert "stopped early after epoch 3" in said.getvalue()
    with pytest.raises(TrainError, match="holds no average of the weights"):
        evaluate_checkpoint(tmp_path / "run/checkpoints/last.pt", tiny_cnn_source(), ema=True)


def test_patience_needs_a_validation_split():
    with pytest.raises(TrainError, match="val_fraction 0 holds out no validation split"):
        load_recipe(None, {"patience": 3, "val_fraction": 0})
    with pytest.raises(TrainError, match="'ema' must lie in"):
        load_recipe(None, {"ema": 1.0})


def test_csv_events_and_summary_hold_the_metrics(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    progress, said = _progress()
    run = tmp_path / "run"
    result = train(tiny_cnn_source(), load_recipe(None, {"epochs": 2}), run, progress=progress)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    with (run / "metrics.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [{k: float(v) for k, v in line.items()} for line in table] == rows

    events = EventAccumulator(str(run))
    events.Reload()
    assert {"loss/train", "loss/val", "loss/test", "accuracy/train", "accuracy/val",
            "accuracy/test", "lr", "images_per_s", "time_s"} <= set(events.Tags()["scalars"])
    for tag, key in (("accuracy/val", "val_acc"), ("loss/test", "test_loss"), ("lr", "lr")):
        points = events.Scalars(tag)
        assert [p.step for p in points] == [1, 2]
        # event files store float32
        assert [p.value for p in points] == pytest.approx([row[key] for row in rows], rel=1e-6)

    best = max(rows, key=lambda row: (row["val_acc"], -row["val_loss"]))
    assert said.getvalue().splitlines()[-1] == (
        f"best validation accuracy {100 * best['val_acc']:.2f}% at epoch {best['epoch']}; "
        f"2 of 2 epochs in {sum(row['time_s'] for row in rows):.1f} s; run folder: {run}")
    assert result.best_accuracy == best["val_acc"]
