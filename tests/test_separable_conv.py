"""The separable convolution (netc/compiler/ops/separable_conv.py): its shape, parameter and MAC
rules; torch's SeparableConv2d module against a depthwise and a pointwise convolution written by
hand; Keras's one SeparableConv2D layer against torch node by node (`netc check`); canonical
weights mapped both ways and counted per node (`netc diff`); the refusals; and the residual's
`merge_order`, which keras.applications' Xception needs for its legacy weight files."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import netc
from netc.backends import get_backend
from netc.backends.base import UnsupportedOp
from netc.compiler.ir import Graph
from netc.crosscheck import numeric_check, param_diff
from netc.spec.errors import SpecError
from netc.table import rows
from netc.weights import random_weights

keras = pytest.importorskip("keras")

# Each corner where torch and Keras differ: uneven padding (F.pad / ZeroPadding2D), TensorFlow's
# "same" with a stride and a non-square kernel, dilation, torch's padding with a stride (not
# TensorFlow's "same"), and a bias.
SPEC = """
netc: 1
name: separable
input: {shape: [4, 11, 10]}
body:
  - separable_conv2d: {name: asym, out: 8, kernel: 3, pad: [0, 2, 1, 0], bias: true}
  - separable_conv2d: {name: same_s2, out: 6, kernel: [3, 5], stride: 2, pad: same}
  - separable_conv2d: {name: dilated, out: 12, kernel: 3, dilation: 2, pad: 2}
  - separable_conv2d: {name: torch_pad, out: 12, kernel: 3, stride: 2, pad: 1}
"""
# name -> (input channels, output channels, kernel, output H x W), worked out by hand
LAYERS = {"asym": (4, 8, (3, 3), (11, 9)), "same_s2": (8, 6, (3, 5), (6, 5)),
          "dilated": (6, 12, (3, 3), (6, 5)), "torch_pad": (12, 12, (3, 3), (3, 3))}


def _load(tmp_path, text, name="net.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return netc.load(str(path))


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    return _load(tmp_path_factory.mktemp("separable"), SPEC)


def test_shapes_params_and_macs(graph):
    for node in graph.nodes:
        c, o, (kh, kw), (h, w) = LAYERS[node.name]
        assert node.shape == [o, h, w]
        params = [("depthwise.weight", [c, 1, kh, kw], "weight"),
                  ("pointwise.weight", [o, c, 1, 1], "weight")]
        params += [("pointwise.bias", [o], "bias")] if node.name == "asym" else []
        assert [(p.name, p.shape, p.kind) for p in node.params] == params
    # per output position: C depthwise sums of kH*kW terms, then `out` sums of C terms
    assert [n.macs for n in graph.nodes] == [11 * 9 * 4 * (9 + 8), 6 * 5 * 8 * (15 + 6),
                                             6 * 5 * 6 * (9 + 12), 3 * 3 * 12 * (9 + 12)]
    assert graph.node("same_s2").attrs["padding"] == [1, 1, 2, 2]  # TensorFlow's "same"


def test_table_lists_each_separable_convolution(graph):
    assert [(r.name, r.size, r.layers) for r in rows(graph)] == [
        ("asym", "11x9", ["3x3, 8, separable"]), ("same_s2", "6x5", ["3x5, 6, separable, stride 2"]),
        ("dilated", "6x5", ["3x3, 12, separable"]),
        ("torch_pad", "3x3", ["3x3, 12, separable, stride 2"])]


def _by_hand(x, state):
    """The four layers as depthwise and pointwise F.conv2d calls."""
    def separable(x, name, stride=1, padding=0, dilation=1):
        w = state[f"{name}.depthwise.weight"]
        x = F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation, groups=w.shape[0])
        return F.conv2d(x, state[f"{name}.pointwise.weight"], state.get(f"{name}.pointwise.bias"))

    x = separable(F.pad(x, (1, 0, 0, 2)), "asym")
    x = separable(x, "same_s2", stride=2, padding=(1, 2))
    x = separable(x, "dilated", padding=2, dilation=2)
    return separable(x, "torch_pad", stride=2, padding=1)


@pytest.mark.parametrize("flat", [False, True])
def test_torch_is_a_depthwise_then_a_pointwise_convolution(graph, flat):
    model = netc.build(graph, flat=flat).eval()
    weights = random_weights(graph, seed=3)
    state = {k: torch.from_numpy(v) for k, v in weights.items()}
    model.load_state_dict(state, strict=True)  # keys as PyTorch users write them
    assert list(model.state_dict()) == list(weights)
    assert type(model.get_submodule("asym.depthwise")) is torch.nn.Conv2d
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 4, 11, 10)).astype("float32"))
    with torch.no_grad():
        torch.testing.assert_close(model(x), _by_hand(x, state), rtol=0, atol=1e-6)


def test_keras_emits_one_separable_layer_and_matches_torch_node_by_node(graph):
    source = netc.emit(graph, backend="keras")
    assert source.count("layers.SeparableConv2D(") == 4
    assert "DepthwiseConv2D" not in source
    model = netc.build(graph, backend="keras")
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.SeparableConv2D)]
    assert [(layer.name, layer.depth_multiplier, layer.use_bias) for layer in layers] == [
        ("asym", 1, True), ("same_s2", 1, False), ("dilated", 1, False), ("torch_pad", 1, False)]
    report = numeric_check(graph, ("torch", "keras"), batch=2,
                           models={"keras": model, "torch": netc.build(graph)})
    assert report["ok"], report["failed"]
    assert len(report["nodes"]) == len(graph.nodes)


def test_canonical_weights_map_both_ways_and_count_per_node(graph):
    weights = random_weights(graph, seed=5)
    for name in ("keras", "torch"):
        backend = get_backend(name)
        model = netc.build(graph, backend=name)
        backend.import_weights(model, graph, weights)
        back = backend.export_weights(model, graph)
        assert back.keys() == weights.keys()
        for key in weights:
            np.testing.assert_array_equal(back[key], weights[key], err_msg=f"{name} {key}")
        expected = {n.name: {"weight": n.param_count() - (8 if n.name == "asym" else 0),
                             **({"bias": 8} if n.name == "asym" else {})} for n in graph.nodes}
        assert backend.count(model, graph) == expected
        if name == "keras":  # Keras's own layouts: (H, W, C, 1) and (1, 1, C, out)
            layer = model.get_layer("asym")
            depthwise, pointwise = weights["asym.depthwise.weight"], weights["asym.pointwise.weight"]
            np.testing.assert_array_equal(layer.depthwise_kernel.numpy()[1, 2, 3, 0],
                                          depthwise[3, 0, 1, 2])
            np.testing.assert_array_equal(layer.pointwise_kernel.numpy()[0, 0, 3, 5],
                                          pointwise[5, 3, 0, 0])
    assert param_diff(graph, ("torch", "keras"))["ok"]


def test_keras_refuses_a_strided_dilated_separable_convolution(tmp_path):
    g = _load(tmp_path, """
        netc: 1
        input: {shape: [3, 16, 16]}
        body: [separable_conv2d: {name: sep, out: 4, kernel: 3, stride: 2, dilation: 2}]
    """)
    with pytest.raises(UnsupportedOp, match="SeparableConv2D cannot combine stride"):
        netc.emit(g, backend="keras")
    assert netc.build(g)(torch.zeros(1, 3, 16, 16)).shape == (1, 4, 6, 6)  # torch takes it


def test_conv_initialisation_leaves_the_separable_convolutions_alone(tmp_path):
    """torch's init loop over self.modules() would reach the nn.Conv2d inside SeparableConv2d;
    a conv2d's declared initialiser is then written node by node instead."""
    g = _load(tmp_path, """
        netc: 1
        input: {shape: [3, 8, 8]}
        body:
          - conv2d: {name: conv, out: 4, kernel: 1, init: {kind: constant, value: 0.5}}
          - separable_conv2d: {name: sep, out: 6, kernel: 3, pad: 1}
    """)
    model = netc.build(g)
    assert torch.all(model.conv.weight == 0.5)
    for part in (model.sep.depthwise, model.sep.pointwise):
        assert not torch.any(part.weight == 0.5)  # torch's own default, a uniform spread


def test_a_model_named_like_the_helper_class_keeps_its_own_class(tmp_path):
    g = _load(tmp_path, """
        netc: 1
        name: separable_conv2d
        input: {shape: [4, 9, 9]}
        body: [separable_conv2d: {name: sep, out: 8, kernel: 3, pad: 1}]
    """)
    for flat in (False, True):
        model = netc.build(g, flat=flat)
        assert type(model).__name__ == "SeparableConv2dNet"
        assert type(model.sep).__name__ == "SeparableConv2d"
        assert model(torch.zeros(1, 4, 9, 9)).shape == (1, 8, 9, 9)


RESIDUAL = """
    netc: 1
    input: {{shape: [4, 9, 9]}}
    body:
      - residual:
          name: block
          {order}
          body: [separable_conv2d: {{name: sep, out: 8, kernel: 3, stride: 2, pad: 1}}]
          shortcut: {{body: [conv2d: {{name: conv, out: 8, kernel: 1, stride: 2}}]}}
"""


@pytest.mark.parametrize("order, first", [("", "shortcut"), ("merge_order: shortcut_first", "shortcut"),
                                          ("merge_order: body_first", "body")])
def test_merge_order_sets_the_keras_add_operands(tmp_path, order, first):
    """Keras orders a functional model's layers, and its legacy weight files, by the order an
    add reads its inputs (tests/test_keras_weight_files.py loads Xception's)."""
    g = Graph.from_json(_load(tmp_path, RESIDUAL.format(order=order)).to_json())  # kept in JSON
    model = netc.build(g, backend="keras")
    add = model.get_layer("block-add")
    sources = [t._keras_history[0].name for t in add._inbound_nodes[0].input_tensors]
    assert sources == (["block-shortcut-conv", "block-sep"] if first == "shortcut"
                       else ["block-sep", "block-shortcut-conv"])
    assert numeric_check(g, ("torch", "keras"), models={"keras": model, "torch": netc.build(g)})["ok"]


def test_merge_order_is_refused_for_a_concatenation(tmp_path):
    with pytest.raises(SpecError, match="merge_order orders an add's operands") as info:
        _load(tmp_path, """
            netc: 1
            input: {shape: [4, 9, 9]}
            body:
              - residual:
                  merge: concat
                  merge_order: body_first
                  body: [separable_conv2d: {out: 8, kernel: 3, pad: 1}]
        """)
    assert (info.value.loc.line, info.value.loc.col) == (7, 20)  # its value
