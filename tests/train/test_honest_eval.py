"""Honest evaluation: a validation split chooses best.pt, the test split never does, and
`netc eval` says what it scored."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from netc.cli import main
from netc.train import load_recipe
from netc.train.run_folder import read_metrics
from netc.train.selection import Best
from netc.train.torch_checkpoint import load_checkpoint

TINY = """netc: 1
name: tiny
input: {shape: [1, 8, 8]}
body:
  - conv2d: {name: conv, out: 8, kernel: 3, pad: 1}
  - relu
  - global_avgpool
  - linear: {name: fc, out: 10}
"""


def test_the_default_recipe_holds_out_a_tenth_for_validation():
    assert load_recipe(None).val_fraction == 0.1
    assert load_recipe(None, {"data": "synthetic"}).val_fraction == 0.1


def test_the_test_split_never_chooses():
    best = Best()
    rows = [{"epoch": 1, "val_acc": 0.8, "val_loss": 0.5, "test_acc": 0.70},
            {"epoch": 2, "val_acc": 0.7, "val_loss": 0.6, "test_acc": 0.99},
            {"epoch": 3, "val_acc": 0.8, "val_loss": 0.4, "test_acc": 0.50},
            {"epoch": 4, "val_acc": 0.8, "val_loss": 0.45, "test_acc": 0.99}]
    assert [best.offer(row) for row in rows] == [True, False, True, False]
    assert best.to_state() == {"val_acc": 0.8, "val_loss": 0.4, "epoch": 3}
    without_validation = Best()
    assert not without_validation.offer({"epoch": 1, "test_acc": 0.9, "test_loss": 0.1})
    assert without_validation.to_state() is None


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval")
    spec = folder / "tiny.yaml"
    spec.write_text(TINY)
    out = folder / "run"
    result = CliRunner().invoke(main, ["train", str(spec), "--epochs", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return spec, out


def test_best_follows_validation_accuracy(trained):
    _, out = trained
    rows = read_metrics(out)
    assert all({"val_loss", "val_acc"} <= set(row) for row in rows)
    chosen = max(rows, key=lambda row: (row["val_acc"], -row["val_loss"], -row["epoch"]))
    assert load_checkpoint(out / "checkpoints" / "best.pt")["epoch"] == chosen["epoch"]


def test_eval_names_checkpoint_and_split_and_keeps_reports_apart(trained):
    _, out = trained
    runner = CliRunner()
    best = load_checkpoint(out / "checkpoints" / "best.pt")["epoch"]
    result = runner.invoke(main, ["eval", str(out)])
    assert result.exit_code == 0, result.output
    assert (f"checkpoint {out / 'checkpoints' / 'best.pt'}: epoch {best} of 3 "
            "(best validation accuracy)") in result.output
    assert "digits test: accuracy" in result.output
    test_report = (out / "eval.json").read_text()
    assert json.loads(test_report)["checkpoint"] == str(out / "checkpoints" / "best.pt")

    for split, count in (("train", 1350), ("val", 150)):
        result = runner.invoke(main, ["eval", str(out), "--split", split])
        assert result.exit_code == 0, result.output
        assert f"digits {split}: accuracy" in result.output
        report = json.loads((out / f"eval-{split}.json").read_text())
        assert (report["split"], report["count"]) == (split, count)
        assert (out / f"eval-{split}-confusion.png").exists()
    assert (out / "eval.json").read_text() == test_report

    result = runner.invoke(main, ["eval", str(out / "checkpoints" / "last.pt")])
    assert result.exit_code == 0, result.output
    assert f"checkpoint {out / 'checkpoints' / 'last.pt'}: epoch 3 of 3\n" in result.output


def test_validation_scores_match_the_training_rows(trained):
    _, out = trained
    result = CliRunner().invoke(main, ["eval", str(out / "checkpoints" / "last.pt"),
                                       "--split", "val"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "eval-val.json").read_text())
    assert report["accuracy"] == pytest.approx(read_metrics(out)[-1]["val_acc"])


def test_without_validation_no_checkpoint_is_chosen(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    (tmp_path / "recipe.yaml").write_text("val_fraction: 0\nepochs: 1\n")
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(spec), "--recipe", str(tmp_path / "recipe.yaml"),
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "val_acc" not in read_metrics(out)[0]
    assert not (out / "checkpoints" / "best.pt").exists()
    result = runner.invoke(main, ["eval", str(out)])
    assert result.exit_code == 0, result.output
    assert f"checkpoint {out / 'checkpoints' / 'last.pt'}: epoch 1 of 1\n" in result.output
    result = runner.invoke(main, ["eval", str(out), "--split", "val"])
    assert result.exit_code == 2
    assert "its run held out no val split (val_fraction 0.0)" in result.output
