"""A Keras run through `netc eval` and `netc lesion`, its average of weights, early stopping
and logs, on a tiny residual network trained on digits with Keras on TensorFlow."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

import netc
from netc.backends import get_backend
from netc.cli import main
from netc.compiler.lesion import lesion
from netc.train import load_recipe, resume, train
from netc.train.data import load_data
from netc.train.keras_evaluate import load_keras_model
from netc.train.keras_model import ema_variables
from netc.train.progress import Progress
from netc.train.torch_evaluate import evaluate
from netc_train_helpers import TINY, Interrupt, stops_in_epoch

# Keras's HDF5 writer calls np.array on TensorFlow variables, which numpy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

SPEC = """\
netc: 1
name: two_blocks
input: {shape: [1, 8, 8]}
defaults: {conv2d: {bias: false}}
body:
  - conv2d: {name: stem, out: 8, kernel: 3, pad: 1}
  - batchnorm: {name: stem_bn}
  - relu
  - residual:
      name: block1
      body:
        - conv2d: {name: conv, out: 8, kernel: 3, pad: 1}
        - batchnorm: {name: bn}
  - relu
  - residual:
      name: block2
      body:
        - conv2d: {name: conv, out: 8, kernel: 3, pad: 1}
        - batchnorm: {name: bn}
  - relu
  - global_avgpool
  - linear: {name: fc, out: 10}
"""
SETTINGS = {"epochs": 3, "ema": 0.9}
QUIET = Progress(enabled=False)


def _rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "two_blocks.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def keras_run(spec, tmp_path_factory):
    run = tmp_path_factory.mktemp("keras") / "run"
    train(spec, load_recipe(None, SETTINGS), run, backend="keras", progress=QUIET)
    return run


def test_netc_eval_scores_a_keras_checkpoint(keras_run):
    last = _rows(keras_run)[-1]
    for split in ("test", "val"):
        result = CliRunner().invoke(main, ["eval", str(keras_run / "checkpoints" /
                                                       "last.weights.h5"), "--split", split])
        assert result.exit_code == 0, result.output
        report = json.loads((keras_run / ("eval.json" if split == "test"
                                          else f"eval-{split}.json")).read_text())
        assert report["accuracy"] == last[f"{split}_acc"]
        assert report["loss"] == pytest.approx(last[f"{split}_loss"], rel=1e-6)
        assert (report["epoch"], report["epochs"]) == (3, 3)
    assert report["count"] == sum(map(sum, report["confusion"])) == 150
    result = CliRunner().invoke(main, ["eval", str(keras_run / "checkpoints" /
                                                   "last.weights.h5"), "--ema"])
    assert result.exit_code == 0, result.output
    report = json.loads((keras_run / "eval-ema.json").read_text())
    assert report["accuracy"] == last["ema_test_acc"]
    assert report["loss"] == pytest.approx(last["ema_test_loss"], rel=1e-6)
    result = CliRunner().invoke(main, ["eval", str(keras_run)])
    assert "best.weights.h5: epoch" in result.output
    assert "(best validation accuracy)" in result.output


def test_netc_embed_of_a_keras_run_says_its_trainer_writes_none(keras_run, tmp_path):
    result = CliRunner().invoke(main, ["embed", str(keras_run), "--outputs", "fc",
                                       "--out", str(tmp_path / "f.npz")])
    assert result.exit_code == 2 and not isinstance(result.exception, NameError), result.output
    assert "the keras trainer does not write embeddings" in result.output
    assert not (tmp_path / "f.npz").exists()


def test_netc_lesion_of_a_keras_run_matches_torch(keras_run, spec):
    """Each single deletion scores what the torch model of the lesioned graph scores with the
    same trained weights (rounding may flip a near-tie: one image of 297)."""
    result = CliRunner().invoke(main, ["lesion", str(keras_run), "--samples", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads((keras_run / "lesion.json").read_text())
    assert report["blocks"] == ["block1", "block2"]
    assert [row["deleted"] for row in report["random"]] == [1, 2]
    assert (keras_run / "lesion.png").read_bytes()[:4] == b"\x89PNG"

    graph = netc.load(str(spec))
    source = netc.runs.model_source(graph, SPEC, "keras")
    trained, _, _ = load_keras_model(keras_run / "checkpoints" / "best.weights.h5", source)
    weights = get_backend("keras").export_weights(trained, graph)
    digits = load_data("digits", (1, 8, 8), 10)
    torch_backend = get_backend("torch")
    for deleted, expected in [((), report["baseline"])] + [
            ((row["block"],), row["accuracy"]) for row in report["single"]]:
        variant = lesion(graph, list(deleted)) if deleted else graph
        model = torch_backend.load(torch_backend.emit(variant), variant)
        torch_backend.import_weights(model, variant, weights)
        scored = evaluate(model.eval(), digits, "test", device="cpu")
        assert scored.accuracy == pytest.approx(expected, abs=1 / 297), deleted
    assert min(row["accuracy"] for row in report["single"]) < report["baseline"]


def test_keras_logs_csv_and_tensorboard_events(keras_run):
    rows = _rows(keras_run)
    with (keras_run / "metrics.csv").open(newline="") as handle:
        assert [{k: float(v) for k, v in line.items()} for line in csv.DictReader(handle)] == rows
    found: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(keras_run.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                found.setdefault(value.tag, []).append(
                    (event.step, float(tf.make_ndarray(value.tensor))))
    for tag, key in (("accuracy/val", "val_acc"), ("loss/ema_test", "ema_test_loss"),
                     ("lr", "lr")):
        assert [step for step, _ in found[tag]] == [1, 2, 3]
        assert [value for _, value in found[tag]] == pytest.approx(
            [row[key] for row in rows], rel=1e-6)  # event files store float32


def test_an_averaged_keras_run_resumes_where_it_stopped(keras_run, spec, tmp_path):
    """Stopped in epoch 3 and resumed: the checkpointed average goes on as in the run never
    stopped (Keras resumes to rounding, see netc.train.keras_trainer)."""
    run = tmp_path / "cut"
    with pytest.raises(Interrupt):
        train(spec, load_recipe(None, SETTINGS), run, backend="keras",
              progress=stops_in_epoch(3))
    resume(run, progress=QUIET)
    whole, cut = _rows(keras_run), _rows(run)
    assert [row["epoch"] for row in cut] == [1, 2, 3]
    for key in ("ema_val_loss", "ema_test_loss", "train_loss"):
        assert cut[2][key] == pytest.approx(whole[2][key], rel=1e-3), key
    graph = netc.load(str(spec))
    source = netc.runs.model_source(graph, SPEC, "keras")
    averages = [ema_variables(load_keras_model(folder / "checkpoints" / "last.weights.h5",
                                               source)[0]) for folder in (keras_run, run)]
    for mine, theirs in zip(*averages):
        np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs), rtol=1e-3, atol=1e-4)


def test_patience_stops_a_keras_run(tmp_path):
    """A learning rate far below float32's resolution leaves the weights of a network without
    batch norm as they were: epoch 1's validation score is never beaten."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    settings = {"epochs": 8, "patience": 1, "lr": 1e-30, "schedule": "constant"}
    result = train(path, load_recipe(None, settings), tmp_path / "run", backend="keras",
                   progress=QUIET)
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert result.history[0]["val_loss"] == result.history[1]["val_loss"]
    refused = CliRunner().invoke(main, ["eval", str(tmp_path / "run"), "--ema"])
    assert refused.exit_code != 0 and "holds no average of the weights" in refused.output
