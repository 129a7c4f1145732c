"""CIFAR ResNets and plain nets (He et al. 2016, section 4.2) against an independent implementation."""
import pytest
import torch

import netc
from conftest import EXAMPLES
from reference.cifar_resnet import CifarResNet

# Parameter counts of the option-A networks; the paper's Table 6 rounds them (0.27M ... 19.4M).
CASES = {
    "resnet20_cifar": (3, True, 269_722),
    "resnet32_cifar": (5, True, 464_154),
    "resnet44_cifar": (7, True, 658_586),
    "resnet56_cifar": (9, True, 853_018),
    "resnet110_cifar": (18, True, 1_727_962),
    "resnet1202_cifar": (200, True, 19_421_274),
    "plain20_cifar": (3, False, 269_722),
    "plain56_cifar": (9, False, 853_018),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cifar_net_matches_reference(name):
    n, shortcut, params = CASES[name]
    graph = netc.load(EXAMPLES / f"{name}.yaml")
    assert graph.trainable == params
    model = netc.build(graph)
    assert sum(p.numel() for p in model.parameters()) == params
    torch.manual_seed(0)
    reference = CifarResNet(n, shortcut)
    for module in reference.modules():  # non-trivial statistics, so BN in eval mode matters
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    model.load_state_dict(reference.state_dict(), strict=True)
    model.eval(), reference.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max().item() < 1e-5


def test_depth_and_shortcuts():
    graph = netc.load(EXAMPLES / "resnet56_cifar.yaml")
    weighted = [n for n in graph.nodes if n.op in ("conv2d", "linear")]
    assert len(weighted) == 6 * 9 + 2
    pads = [n for n in graph.nodes if n.op == "channel_pad"]
    assert [p.name for p in pads] == ["layer2.0.shortcut", "layer3.0.shortcut"]
    plain = netc.load(EXAMPLES / "plain56_cifar.yaml")
    assert not [n for n in plain.nodes if n.op in ("add", "channel_pad")]
