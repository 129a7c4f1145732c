"""Transfer learning through training: --init-weights with a new head, --freeze (weights and
batch-norm statistics bit for bit), --unfreeze-at, --lr-groups, on torch and Keras."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import netc
from netc.backends import get_backend
from netc.cli import main
from netc.train import load_recipe, train

SPEC = """netc: 1
name: small
params: {classes: 10}
input: {shape: [1, 8, 8]}
body:
  - conv2d: {name: stem, out: 8, kernel: 3, pad: 1, bias: false}
  - batchnorm: {name: stem_bn}
  - relu
  - conv2d: {name: body, out: 8, kernel: 3, pad: 1, bias: false}
  - batchnorm: {name: body_bn}
  - relu
  - global_avgpool
  - linear: {name: fc, out: $classes}
"""
QUICK = {"epochs": 1, "batch_size": 64, "threads": 1, "augment": False}


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "small.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def pretrained(spec, tmp_path_factory):
    """A 5-class network's weights, batch-norm statistics away from their fresh values."""
    graph = netc.load(spec, {"classes": 5})
    rng = np.random.default_rng(1)
    weights = {f"{n.name}.{p.name}": rng.uniform(0.5, 1.5, p.shape).astype(np.float32)
               for n in graph.nodes for p in n.params}
    path = tmp_path_factory.mktemp("w") / "pre.pth"
    get_backend("torch").write_weights(str(path), graph, weights)
    return path, weights


def _last_weights(run_dir, backend, spec):
    from netc.train.run_folder import RunFolder

    run = RunFolder(run_dir)
    impl = get_backend(backend)
    return impl.checkpoint_weights(str(run.existing_checkpoint("last")), netc.load(spec))


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_a_frozen_stem_keeps_its_transferred_weights_and_statistics(spec, pretrained, tmp_path,
                                                                    backend):
    path, weights = pretrained
    recipe = load_recipe(None, {**QUICK, "init_weights": str(path), "freeze": "stem*"},
                         (1, 8, 8))
    result = train(spec, recipe, tmp_path / "run", backend=backend)
    report = json.loads((result.run_dir / "transfer.json").read_text())
    assert report["loaded"] == 10 and report["total"] == 12
    assert [r["key"] for r in report["reshaped"]] == ["fc.weight", "fc.bias"]

    after = _last_weights(result.run_dir, backend, spec)
    for key in ("stem.weight", "stem_bn.weight", "stem_bn.bias", "stem_bn.running_mean",
                "stem_bn.running_var"):
        assert np.array_equal(after[key], weights[key]), key
    for key in ("body.weight", "body_bn.running_mean", "body_bn.running_var"):
        assert not np.allclose(after[key], weights[key]), key


def test_unfreezing_at_an_epoch_releases_the_nodes(spec, pretrained, tmp_path):
    path, weights = pretrained
    recipe = load_recipe(None, {**QUICK, "epochs": 2, "init_weights": str(path),
                                "freeze": "stem,stem_bn", "unfreeze_epoch": 1}, (1, 8, 8))
    result = train(spec, recipe, tmp_path / "run", backend="torch")
    after = _last_weights(result.run_dir, "torch", spec)
    assert not np.allclose(after["stem.weight"], weights["stem.weight"])
    assert not np.allclose(after["stem_bn.running_mean"], weights["stem_bn.running_mean"])


def test_a_learning_rate_factor_of_zero_holds_a_node_while_its_statistics_move(spec, pretrained,
                                                                               tmp_path):
    path, weights = pretrained
    recipe = load_recipe(None, {**QUICK, "init_weights": str(path), "weight_decay": 0.0,
                                "lr_groups": "body*=0x,fc=2x"}, (1, 8, 8))
    result = train(spec, recipe, tmp_path / "run", backend="torch")
    after = _last_weights(result.run_dir, "torch", spec)
    assert np.array_equal(after["body.weight"], weights["body.weight"])
    assert np.array_equal(after["body_bn.weight"], weights["body_bn.weight"])
    assert not np.allclose(after["body_bn.running_mean"], weights["body_bn.running_mean"])
    assert not np.allclose(after["stem.weight"], weights["stem.weight"])


def test_the_command_line_reports_the_transfer(spec, pretrained, tmp_path):
    path, _ = pretrained
    result = CliRunner().invoke(main, ["train", str(spec), "--init-weights", str(path),
                                       "--freeze", "stem", "--epochs", "1", "--threads", "1",
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "transferred 10 of 12 tensors" in result.output
    assert "fc.weight [5, 8] -> [10, 8]" in result.output


@pytest.mark.parametrize("args, message", [
    (["--freeze", "nothing*"], "'nothing\\*' matches no node"),
    (["--unfreeze-at", "1", "--epochs", "2"], "unfreeze_epoch releases the nodes"),
    (["--lr-groups", "fc=ten"], "is not GLOB=FACTORx"),
    (["--freeze", "stem;rm"], "not a pattern of node names"),
    (["--backend", "keras", "--lr-groups", "fc=2x"], "Keras trainer does not support lr_groups"),
])
def test_bad_transfer_options_are_located_errors(spec, tmp_path, args, message):
    result = CliRunner().invoke(main, ["train", str(spec), "--epochs", "1",
                                       "--out", str(tmp_path / "run"), *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    import re
    assert re.search(message, result.output), result.output


def test_a_shape_change_outside_the_head_is_refused(spec, tmp_path):
    graph = netc.load(spec)
    weights = {f"{n.name}.{p.name}": np.ones(p.shape, np.float32)
               for n in graph.nodes for p in n.params}
    weights["body.weight"] = np.ones((8, 8, 5, 5), np.float32)
    path = tmp_path / "odd.pt"
    torch.save({k: torch.from_numpy(v) for k, v in weights.items()}, path)
    result = CliRunner().invoke(main, ["train", str(spec), "--init-weights", str(path),
                                       "--epochs", "1", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "outside the head differ in shape" in result.output
    assert not (tmp_path / "run" / "checkpoints").exists()
