from __future__ import annotations

import contextlib
import copy
import json

import pytest
from torch import nn

from netc.train import load_recipe, train
from netc.train.data import load_data
from netc.train.errors import TrainError
from netc.train.progress import Progress
from netc.train.reports import write_evaluation, write_lesion_report
from netc.train.torch_evaluate import evaluate_checkpoint
from netc.train.torch_lesion import lesion_checkpoint, lesion_study
from netc.train.torch_runtime import load_model
from netc_train_models import TinyResNet, small_resnet_source, tiny_lesion


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("lesion") / "run"
    train(small_resnet_source(), load_recipe(None, {"epochs": 3}), run_dir,
          progress=Progress(enabled=False))
    return run_dir


def test_evaluate_a_checkpoint(trained_run, tmp_path):
    evaluation = evaluate_checkpoint(trained_run / "checkpoints" / "last.pt",
                                     small_resnet_source())
    last_row = json.loads((trained_run / "metrics.jsonl").read_text().splitlines()[-1])
    assert evaluation.accuracy == pytest.approx(last_row["test_acc"])
    assert evaluation.loss == pytest.approx(last_row["test_loss"], rel=1e-5)
    assert evaluation.confusion.shape == (10, 10) and evaluation.confusion.sum() == 297
    json_path, png_path = write_evaluation(evaluation, tmp_path)
    assert json.loads(json_path.read_text())["count"] == 297
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lesion_study(trained_run, tmp_path):
    model, _ = load_model(trained_run / "checkpoints" / "last.pt", small_resnet_source())
    blocks, lesion = tiny_lesion(model)
    report = lesion_study(model, load_data("digits", (1, 8, 8), 10), blocks=blocks,
                          lesion=lesion, samples=3, seed=1)
    assert report["blocks"] == ["layers.0", "layers.1"]
    assert [entry["block"] for entry in report["single"]] == report["blocks"]
    assert [entry["deleted"] for entry in report["random"]] == [1, 2]
    assert len(report["random"][0]["accuracies"]) == 2  # both single deletions, no repeats
    assert report["random"][1]["mean"] < report["baseline"]
    assert report["baseline"] > 0.9
    json_path, png_path = write_lesion_report(report, tmp_path)
    assert json.loads(json_path.read_text()) == report
    assert png_path.stat().st_size > 1000


def test_lesion_restores_the_model_and_samples_large_sets():
    model = TinyResNet(blocks=((8, 1),) * 6)
    data = load_data("synthetic:64", (1, 8, 8), 10)
    blocks, lesion = tiny_lesion(model)
    report = lesion_study(model, data, blocks=blocks, lesion=lesion, max_deleted=3, samples=4,
                          seed=0)
    assert [len(entry["accuracies"]) for entry in report["random"]] == [4, 4, 4]
    assert not any(block.lesioned for block in model.layers)
    again = lesion_study(model, data, blocks=blocks, lesion=lesion, max_deleted=3, samples=4,
                         seed=0)
    assert again == report


def test_lesion_through_a_caller_supplied_context_manager():
    """As the CLI may do it: build a separate lesioned model (from a lesioned IR graph)."""
    model = TinyResNet(blocks=((8, 1),) * 4)
    data = load_data("synthetic:64", (1, 8, 8), 10)

    @contextlib.contextmanager
    def rebuilt(names):
        variant = copy.deepcopy(model)
        for name in names:
            variant.get_submodule(name).lesioned = True
        yield variant

    blocks, in_place = tiny_lesion(model)
    report = lesion_study(model, data, max_deleted=2, samples=3, seed=0,
                          blocks=blocks, lesion=rebuilt)
    assert report == lesion_study(model, data, max_deleted=2, samples=3, seed=0,
                                  blocks=blocks, lesion=in_place)


def test_lesion_needs_blocks():
    with pytest.raises(TrainError, match="no deletable residual blocks"):
        lesion_study(nn.Linear(2, 2), load_data("synthetic:8", (1, 8, 8), 10), blocks=[],
                     lesion=contextlib.nullcontext)
    model = TinyResNet(blocks=((8, 1),) * 2)
    blocks, lesion = tiny_lesion(model)
    with pytest.raises(TrainError, match="can delete 1..2"):
        lesion_study(model, load_data("synthetic:8", (1, 8, 8), 10), blocks=blocks,
                     lesion=lesion, max_deleted=3)
    with pytest.raises(TrainError, match="needs the network's IR graph"):
        lesion_checkpoint("unused.pt", small_resnet_source())


def test_load_model_checks_the_weights(trained_run):
    model, payload = load_model(trained_run / "checkpoints" / "best.pt", small_resnet_source())
    assert not model.training and payload["name"] == "small-resnet"
