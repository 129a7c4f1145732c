"""Freezing and learning-rate groups on a live torch model, by IR node name."""
from pathlib import Path

import torch

import netc
from netc import transfer
from netc.train.torch_optim import parameter_groups
from netc.train.torch_transfer import LR_SCALE, Frozen, scale_groups

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _model():
    graph = netc.load(EXAMPLES / "resnet18.yaml", {"num_classes": 10, "size": 32})
    torch.manual_seed(0)
    return graph, netc.build(graph, backend="torch")


def _train_steps(model, optimizer, steps=2):
    model.train()
    for i in range(steps):
        x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(i))
        loss = model(x).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_frozen_nodes_and_their_batch_norm_statistics_stay_bit_for_bit():
    graph, model = _model()
    optimizer = torch.optim.SGD(parameter_groups(model, 1e-4, False), lr=0.1, momentum=0.9)
    names = transfer.select_nodes(graph, ["conv1", "bn1", "layer1"], "--freeze")
    frozen = Frozen(model, names)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _train_steps(model, optimizer)
    after = model.state_dict()
    for key, value in before.items():
        node = key.rsplit(".", 1)[0]
        if node in names:
            assert torch.equal(after[key], value), key  # weights and running statistics
        elif key.endswith(("weight", "running_mean")):
            assert not torch.equal(after[key], value), key
    assert model.bn1.training is False and model.layer2[0].bn1.training is True

    frozen.release()
    _train_steps(model, optimizer, 1)
    assert not torch.equal(model.conv1.weight, before["conv1.weight"])
    assert not torch.equal(model.bn1.running_mean, before["bn1.running_mean"])


def test_learning_rate_groups_scale_the_rate_of_their_nodes():
    graph, model = _model()
    groups = scale_groups(parameter_groups(model, 1e-4, True), model, graph,
                          transfer.parse_lr_groups("layer4.*=0.1x,fc=10x"))
    scale = {id(p): g[LR_SCALE] for g in groups for p in g["params"]}
    assert scale[id(model.layer4[1].conv2.weight)] == 0.1
    assert scale[id(model.layer4[1].bn2.bias)] == 0.1
    assert scale[id(model.fc.weight)] == 10.0 and scale[id(model.conv1.weight)] == 1.0
    assert len(scale) == sum(1 for _ in model.parameters())
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert decay[id(model.layer4[1].bn2.bias)] == 0.0 and decay[id(model.fc.weight)] == 1e-4
