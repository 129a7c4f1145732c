"""The Swin Transformer: window attention (padding to whole windows, cyclic shift and its mask,
relative position bias) and patch merging, their rules and errors, and the zoo's Swins against
torchvision (examples/REFERENCES.yaml, section `transformers`): exact counts, strict state_dict
load, equal outputs at 224 for Swin-T, and a small Swin with odd map sizes on both backends node
by node (`netc diff`, `netc check`)."""
from __future__ import annotations

import pytest
import torch

import netc
from conftest import EXAMPLES
from netc.crosscheck import numeric_check, param_diff
from netc.report import summary_text
from transformer_helpers import (REFERENCES, load_small, outputs_match_at_224, reference,
                                 refused_where_it_stands, specs)

SPECS = specs("swin_")


def test_every_swin_spec_is_listed():
    assert SPECS == sorted(p.name for p in EXAMPLES.glob("swin_*.yaml"))


@pytest.mark.parametrize("spec", SPECS)
def test_counts_match_torchvision(spec):
    graph = netc.load(EXAMPLES / spec)
    assert graph.trainable == REFERENCES[spec]["params"] == \
        sum(p.numel() for p in reference(spec, "meta").parameters())


@pytest.mark.parametrize("spec", specs("swin_", "build"))
def test_torchvision_weights_load_strictly(spec):
    model = netc.build(netc.load(EXAMPLES / spec))
    model.load_state_dict(reference(spec).state_dict(), strict=True)


@pytest.mark.parametrize("spec", specs("swin_", "outputs"))
def test_outputs_match_torchvision_at_224(spec):
    outputs_match_at_224(spec, lambda model: model.head)


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
    return load_small(tmp_path, text, "swin.yaml")


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


@pytest.mark.parametrize("layers, message", [
    ("window_attention: {heads: 3, window: 2}", "3 heads do not divide 8 channels"),
    ("window_attention: {heads: 2, window: 2, shift: 2}", "shift \\[2, 2\\] must be smaller"),
    ("tokens, window_attention: {heads: 2, window: 2}", "needs a C x H x W input"),
    ("tokens, patch_merge", "needs a C x H x W input"),
])
def test_swin_ops_refuse_what_does_not_fit(tmp_path, layers, message):
    refused_where_it_stands(tmp_path, [8, 4, 4], layers, message)
