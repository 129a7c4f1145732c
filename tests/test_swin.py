"""The Swin Transformer: window attention (padding to whole windows, cyclic shift and its mask,
relative position bias) and patch merging, their rules and errors, and the zoo's Swins against
torchvision (examples/REFERENCES.yaml, section `transformers`): exact counts, strict state_dict
load, equal outputs at 224 for Swin-T, and a small Swin with odd map sizes on both backends node
by node (`netc diff`, `netc check`)."""
from __future__ import annotations

import shutil
import textwrap

import pytest
import torch
import torchvision
import yaml

import netc
from conftest import EXAMPLES
from netc.crosscheck import numeric_check, param_diff
from netc.report import summary_text

REFERENCES = yaml.safe_load((EXAMPLES / "REFERENCES.yaml").read_text())["transformers"]
SPECS = sorted(s for s in REFERENCES if s.startswith("swin_"))
TOLERANCE = 1e-5


def _reference(spec, device="cpu"):
    with torch.device(device):
        return getattr(torchvision.models, REFERENCES[spec]["builder"])(weights=None)


def test_every_swin_spec_is_listed():
    assert SPECS == sorted(p.name for p in EXAMPLES.glob("swin_*.yaml"))


@pytest.mark.parametrize("spec", SPECS)
def test_counts_match_torchvision(spec):
    graph = netc.load(EXAMPLES / spec)
    reference = _reference(spec, "meta")
    assert graph.trainable == REFERENCES[spec]["params"] == \
        sum(p.numel() for p in reference.parameters())


@pytest.mark.parametrize("spec", [s for s in SPECS if REFERENCES[s]["build"]])
def test_torchvision_weights_load_strictly(spec):
    model = netc.build(netc.load(EXAMPLES / spec))
    model.load_state_dict(_reference(spec).state_dict(), strict=True)


@pytest.mark.parametrize("spec", [s for s in SPECS if REFERENCES[s]["outputs"]])
def test_outputs_match_torchvision_at_224(spec):
    """torchvision's layer norms start as the identity and its head near zero: both are drawn
    anew, the head scaled so the outputs are about 1, as tests/test_zoo_torchvision.py does."""
    torch.manual_seed(0)
    model, reference = netc.build(netc.load(EXAMPLES / spec)), _reference(spec)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
        scale = reference.eval()(torch.randn(2, 3, 224, 224, generator=generator)).abs().max()
        reference.head.weight /= scale
        reference.head.bias /= scale
    model.load_state_dict(reference.state_dict(), strict=True)
    model.eval()
    x, other = (torch.randn(1, 3, 224, 224, generator=generator) for _ in range(2))
    with torch.no_grad():
        ours, theirs = model(x), reference(x)
        spread = (theirs - reference(other)).abs().max().item()
    assert spread > 0.1, f"the reference's output hardly depends on its input ({spread:.3g})"
    assert (ours - theirs).abs().max().item() <= TOLERANCE


# -- a small Swin with odd map sizes, on both backends ---------------------------------------------

SMALL = """
    netc: 1
    name: small_swin
    input: {shape: [3, 36, 36]}
    include: [lib/swin.yaml]
    body:
      - swin: {name: "", dim: 32, depth3: 2, rate: 0.1, window: 2, classes: 10}
"""


def _load(tmp_path, text):
    (tmp_path / "lib").mkdir(exist_ok=True)
    shutil.copy(EXAMPLES / "lib" / "swin.yaml", tmp_path / "lib" / "swin.yaml")
    path = tmp_path / "net.yaml"
    path.write_text(textwrap.dedent(text))
    return netc.load(str(path))


def test_small_swin_shapes_and_macs(tmp_path):
    """36 / 4 = 9: the first stage pads 9x9 to 10x10 windows of 2x2 and shifts by 1; merging pads
    9 to 10; the third stage's 3x3 map pads to 4x4; the last, 2x2, is one window, unshifted."""
    graph = _load(tmp_path, SMALL)
    assert [graph.node(f"features.{k}.merge").shape for k in (2, 4, 6)] == \
        [[128, 5, 5], [256, 3, 3], [512, 2, 2]]
    attention = graph.node("features.1.1.attn")
    assert attention.attrs["shift"] == [1, 1] and attention.attrs["window"] == [2, 2]
    windows, n, c = 25, 4, 32
    assert attention.macs == 4 * windows * n * c * c + 2 * windows * n * n * c
    table = [p.shape for p in attention.params if p.name == "relative_position_bias_table"]
    assert table == [[9, 1]]
    assert "window_attention: per window of n positions" in summary_text(graph)


def test_small_swin_agrees_across_backends(tmp_path):
    graph = _load(tmp_path, SMALL)
    assert param_diff(graph)["ok"]
    report = numeric_check(graph)
    assert report["ok"], report["failed"][:5]


def test_small_swin_trains_on_both_backends(tmp_path):
    """A training step runs each backend's training path (dropout, stochastic depth)."""
    import numpy as np

    graph = _load(tmp_path, SMALL)
    model = netc.build(graph).train()
    model(torch.randn(2, 3, 36, 36)).square().mean().backward()
    table = model.features[1][0].attn.relative_position_bias_table
    assert table.grad is not None and table.grad.abs().sum() > 0
    keras_model = netc.build(graph, backend="keras")
    out = keras_model(np.random.default_rng(0).standard_normal((2, 36, 36, 3)), training=True)
    assert tuple(out.shape) == (2, 10)


@pytest.mark.parametrize("layer, message", [
    ("window_attention: {heads: 3, window: 2}", "3 heads do not divide 8 channels"),
    ("window_attention: {heads: 2, window: 2, shift: 2}", "shift \\[2, 2\\] must be smaller"),
])
def test_window_attention_refuses_what_does_not_fit(tmp_path, layer, message):
    with pytest.raises(netc.SpecError, match=message) as err:
        _load(tmp_path, f"""
            netc: 1
            input: {{shape: [8, 4, 4]}}
            body: [{layer}]
        """)
    assert err.value.loc.line == 4


@pytest.mark.parametrize("layer", ["window_attention: {heads: 2, window: 2}", "patch_merge"])
def test_swin_ops_refuse_a_token_sequence(tmp_path, layer):
    with pytest.raises(netc.SpecError, match="needs a C x H x W input"):
        _load(tmp_path, f"""
            netc: 1
            input: {{shape: [8, 4, 4]}}
            body: [tokens, {layer}]
        """)
