"""Transfer learning core: weights matched by IR name and shape, the head may change, node globs."""
import numpy as np
import pytest
import torch
import torchvision

import netc
from conftest import EXAMPLES
from netc import transfer
from netc.backends import get_backend


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "rn18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def small(num_classes=10):
    return netc.load(EXAMPLES / "resnet18.yaml", {"num_classes": num_classes, "size": 32})


def test_a_new_head_takes_everything_else(resnet18_file):
    graph = small()
    weights, report = transfer.match(graph, transfer.read(resnet18_file, graph), "rn18.pth")
    assert report.total == 102 and len(report.loaded) == 100
    assert [(k, a, b) for k, a, b in report.reshaped] == [
        ("fc.weight", [1000, 512], [10, 512]), ("fc.bias", [1000], [10])]
    assert report.missing == [] and report.unused == []
    text = report.text()
    assert text.startswith("transferred 100 of 102 tensors")
    assert "fc.weight [1000, 512] -> [10, 512]" in text

    backend = get_backend("torch")
    model = backend.load(backend.emit(graph), graph)
    fresh_fc = model.fc.weight.detach().clone()
    transfer.overlay(backend, model, graph, weights)
    state = torchvision.models.resnet18(weights=None).state_dict()  # a different draw
    saved = torch.load(resnet18_file, weights_only=True)
    assert torch.equal(model.layer3[1].conv2.weight, saved["layer3.1.conv2.weight"])
    assert torch.equal(model.bn1.running_var, saved["bn1.running_var"])
    assert not torch.equal(model.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    assert torch.equal(model.fc.weight, fresh_fc)


def test_the_same_head_loads_every_tensor_and_gives_the_reference_outputs(resnet18_file):
    graph = small(1000)
    weights, report = transfer.match(graph, transfer.read(resnet18_file, graph), "rn18.pth")
    assert len(report.loaded) == report.total and not report.reshaped
    backend = get_backend("torch")
    model = backend.load(backend.emit(graph), graph).eval()
    transfer.overlay(backend, model, graph, weights)
    reference = torchvision.models.resnet18(weights=None).eval()
    reference.load_state_dict(torch.load(resnet18_file, weights_only=True))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_a_shape_change_beyond_the_head_is_refused_unless_allowed(resnet18_file):
    graph = netc.load(EXAMPLES / "resnet34.yaml", {"num_classes": 10, "size": 32})
    found = transfer.read(resnet18_file, graph)
    found["layer1.0.conv1.weight"] = np.zeros((64, 64, 5, 5), np.float32)
    with pytest.raises(netc.SpecError, match="outside the head differ in shape.*layer1.0.conv1"):
        transfer.match(graph, found, "f")
    _, report = transfer.match(graph, found, "f", beyond_head=True)
    assert ("layer1.0.conv1.weight", [64, 64, 5, 5], [64, 64, 3, 3]) in report.reshaped
    assert "layer3.5.conv1.weight" in report.missing  # resnet34 is deeper than the file


def test_a_file_of_another_architecture_is_refused(tmp_path):
    graph = small()
    with pytest.raises(netc.SpecError, match="none of the spec.s 102 parameters"):
        transfer.match(graph, {"features.0.weight": np.zeros((3,), np.float32)}, "f")
    with pytest.raises(netc.SpecError, match="is not a file"):
        transfer.read(tmp_path / "nope.pth", graph)


def test_non_finite_and_non_float_tensors_are_refused(resnet18_file):
    graph = small()
    found = transfer.read(resnet18_file, graph)
    found["conv1.weight"] = found["conv1.weight"].copy()
    found["conv1.weight"][0, 0, 0, 0] = np.nan
    with pytest.raises(netc.SpecError, match="'conv1.weight' holds NaN"):
        transfer.match(graph, found, "f")
    found["conv1.weight"] = np.zeros((64, 3, 7, 7), np.int64)
    with pytest.raises(netc.SpecError, match="not a float tensor"):
        transfer.match(graph, found, "f")


def test_the_head_is_the_parametrised_node_nearest_the_output():
    assert transfer.head_nodes(small()) == {"fc"}


def test_globs_select_nodes_and_their_scopes():
    graph = small()
    chosen = transfer.select_nodes(graph, transfer.parse_globs("conv1, bn1,layer1", "--freeze"),
                                   "--freeze")
    assert chosen[:2] == ["conv1", "bn1"]
    assert "layer1.1.bn2" in chosen and not any(c.startswith("layer2") for c in chosen)
    assert transfer.select_nodes(graph, ["layer4.*.conv?"], "x") == [
        "layer4.0.conv1", "layer4.0.conv2", "layer4.1.conv1", "layer4.1.conv2"]
    with pytest.raises(netc.SpecError, match="'layer9' matches no node"):
        transfer.select_nodes(graph, ["layer9"], "--freeze")
    for bad in ["", "a b", "x;import os", ",", "layer\x00", "*" * 201]:
        with pytest.raises(netc.SpecError):
            transfer.parse_globs(bad, "--freeze")


def test_learning_rate_groups():
    assert transfer.parse_lr_groups("layer4.*=0.1x, fc=10x") == [("layer4.*", 0.1), ("fc", 10.0)]
    for bad in ["layer4=0.1", "layer4=x", "=2x", "fc=1e9x", "fc=-1x", "fc=nanx", ""]:
        with pytest.raises(netc.SpecError):
            transfer.parse_lr_groups(bad)
