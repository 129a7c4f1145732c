"""What the torchvision conformance test (tests/test_zoo_torchvision.py) cannot see in the modern
CNNs: ConvNeXt starts its layer scales at 1e-6 and its layer norms at the identity, so a block
that computed nothing at all would still match; here they are random, and every block counts.
And names: a layer name may hold the dashes of RegNet's keys (`trunk_output.block1.block1-0`),
on both torch source forms, and only as single dashes inside a part."""
from __future__ import annotations

import pytest

import netc
from conftest import EXAMPLES

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

SIZE = 32  # ConvNeXt reduces by 32: the last stage sees 1x1, the smallest input it takes


def _randomise_scales(model, generator):
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("layer_scale"):
                param.copy_(torch.rand(param.shape, generator=generator) * 0.5 + 0.25)
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)


def test_convnext_matches_torchvision_with_every_block_in_play():
    generator = torch.Generator().manual_seed(0)
    reference = torchvision.models.convnext_tiny(weights=None).eval()
    _randomise_scales(reference, generator)
    x = torch.randn(2, 3, SIZE, SIZE, generator=generator)
    with torch.no_grad():
        scale = reference(x).abs().max()
        reference.classifier[2].weight /= scale
        reference.classifier[2].bias /= scale
        theirs = reference(x)
        blocks_off = torchvision.models.convnext_tiny(weights=None).eval()
        blocks_off.load_state_dict(reference.state_dict())
        for name, param in blocks_off.named_parameters():
            if name.endswith("layer_scale"):
                param.zero_()
        spread = (blocks_off(x) - theirs).abs().max().item()
    assert spread > 0.1, f"the blocks hardly change the output ({spread:.3g})"

    model = netc.build(netc.load(EXAMPLES / "convnext_tiny.yaml", {"size": SIZE})).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    with torch.no_grad():
        ours = model(x)
    diff = (ours - theirs).abs().max().item()
    assert diff <= 1e-5, f"outputs differ by {diff:.3g}"


# -- names: every key the references use can be spelled ---------------------------------------------

def _load(tmp_path, text):
    path = tmp_path / "net.yaml"
    path.write_text(text)
    return netc.load(str(path))


DASHED = """
netc: 1
name: dashed
input: {shape: [3, 8, 8]}
blocks:
  unit:
    params: {out: int}
    residual:
      body: [conv2d: {name: conv, out: $out, kernel: 3, pad: 1}, relu]
body:
  - seq:
      name: trunk_output
      body:
        - seq:
            name: block1
            body: [unit: {name: block1-0, out: 3}, unit: {name: block1-1, out: 3}]
  - dag:
      name: mix-1
      nodes:
        - {name: a, from: input, body: [conv2d: {name: c-1, out: 3, kernel: 1}]}
        - {name: out, from: [a, input], merge: add}
  - global_avgpool
  - linear: {name: fc-out, out: 4}
"""


@pytest.mark.parametrize("flat", [False, True])
def test_layer_names_may_hold_dashes_as_regnet_does(tmp_path, flat):
    graph = _load(tmp_path, DASHED)
    keys = ["trunk_output.block1.block1-0.conv.weight", "trunk_output.block1.block1-1.conv.bias",
            "mix-1.a.c-1.weight", "fc-out.bias"]
    model = netc.build(graph, flat=flat)
    state = model.state_dict()
    assert set(keys) <= set(state)
    model.load_state_dict({k: torch.randn_like(v) for k, v in state.items()}, strict=True)
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 4)


@pytest.mark.parametrize("name", ["-block", "block-", "block--0", "block.-0", "a b"])
def test_a_dash_only_joins_runs_of_letters_and_digits(tmp_path, name):
    with pytest.raises(netc.SpecError, match="single dashes"):
        _load(tmp_path, DASHED.replace("fc-out", name))

