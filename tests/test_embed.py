"""`netc embed`: pooled features at named outputs, from a spec or a trained run folder."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import netc
from netc.cli import main
from netc.train import make_recipe, train
from netc.train.data import load_data
from netc.train.torch_batches import DeviceSplit
from netc.train.torch_embed import embed

SPEC = """netc: 1
name: dig
input: {shape: [1, 8, 8]}
body:
  - conv2d: {name: conv1, out: 6, kernel: 3, pad: 1}
  - relu
  - conv2d: {name: conv2, out: 8, kernel: 3, pad: 1, stride: 2}
  - relu
  - global_avgpool
  - linear: {name: fc, out: 10}
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "dig.yaml"
    path.write_text(SPEC)
    return path


def hooked_features(model: torch.nn.Module, images: torch.Tensor, names: list[str]):
    """The whole network's activations at ``names`` (forward hooks; copied, as an in-place
    ReLU overwrites them), averaged over H and W."""
    seen = {}
    modules = dict(model.named_modules())
    hooks = [modules[n].register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o.clone()))
             for n in names]
    with torch.no_grad():
        model.eval()(images)
    for hook in hooks:
        hook.remove()
    return [seen[n].mean(dim=(2, 3)).numpy() for n in names]


def test_features_are_the_whole_networks_activations_pooled(spec, tmp_path):
    graph = netc.load(str(spec))
    torch.manual_seed(3)
    whole = netc.build(graph, "torch")
    out = tmp_path / "f.npz"
    embed(graph, ["conv1", "conv2"], whole.state_dict(), "digits", out)
    got = np.load(out)
    data = load_data("digits", (1, 8, 8), 10)
    for split in ("train", "test"):
        images, labels = data.split(split)
        batch, _ = DeviceSplit(images, labels, data, torch.device("cpu")).batch(
            torch.arange(len(labels)))
        conv1, conv2 = hooked_features(whole, batch, ["conv1", "conv2"])
        np.testing.assert_allclose(got[f"{split}.conv1"], conv1, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[f"{split}.conv2"], conv2, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(got[f"{split}_x"], np.concatenate([conv1, conv2], 1))
        np.testing.assert_array_equal(got[f"{split}_y"], labels)
    assert list(got["outputs"]) == ["conv1", "conv2"] and len(got["classes"]) == 10


def test_cli_reads_a_run_folder_and_its_data(spec, tmp_path):
    from netc.train.progress import Progress

    run = tmp_path / "run"
    train(spec, make_recipe({"data": "digits", "epochs": 1, "batch_size": 64, "device": "cpu"}),
          run, backend="torch", progress=Progress(enabled=False))
    result = CliRunner().invoke(main, ["embed", str(run), "--outputs", "conv2",
                                       "-o", str(tmp_path / "run.npz")])
    assert result.exit_code == 0, result.output
    trained = np.load(tmp_path / "run.npz")
    assert trained["train_x"].shape == (1500, 8) and trained["test_x"].shape == (297, 8)
    result = CliRunner().invoke(main, ["embed", str(spec), "--outputs", "conv2", "--data",
                                       "digits", "-o", str(tmp_path / "fresh.npz")])
    assert result.exit_code == 0, result.output
    assert not np.allclose(np.load(tmp_path / "fresh.npz")["train_x"], trained["train_x"])


@pytest.mark.parametrize("args, message", [
    (["--outputs", "conv9", "--data", "digits"], "output 'conv9' names no layer"),
    (["--outputs", "conv2"], "a spec has no data of its own"),
    (["--outputs", "conv2", "--data", "cifar10:/nonexistent"], "missing CIFAR batch files"),
])
def test_cli_mistakes_are_clear_errors(spec, tmp_path, args, message):
    result = CliRunner().invoke(main, ["embed", str(spec), *args, "-o", str(tmp_path / "x.npz")])
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output
