"""The ops of the modern CNNs (layer norm, the pointwise linear, hard sigmoid, channel split and
shuffle, layer scale, torchvision's stochastic depth, Keras's Rescaling and Normalization): their
shape, parameter and MAC rules; torch's output against torch's and torchvision's own modules;
Keras's against Keras's own layers and, node by node, against torch (`netc check`)."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
import torchvision

import netc
from netc.backends.base import UnsupportedOp
from netc.compiler.lint import LintError, lint
from netc.crosscheck import numeric_check, param_diff
from netc.spec.errors import did_you_mean

ALL_OPS = """
    netc: 1
    name: modern_ops
    input: {shape: [4, 6, 6]}
    body:
      - rescaling: {scale: 0.5, offset: 0.1}
      - normalization
      - conv2d: {out: 8, kernel: 3, pad: 1}
      - layernorm: {eps: 1.0e-6}
      - channel_linear: {out: 16}
      - hardsigmoid
      - layer_scale: {name: gamma, init: 0.5}
      - residual:
          body:
            - stochastic_depth: {p: 0.2}
      - dag:
          name: unit
          nodes:
            - {name: left, body: [channel_split: {index: 0}]}
            - {name: right, from: input, body: [channel_split: {index: 1}, hardswish]}
            - {name: join, from: [left, right], merge: concat, body: [channel_shuffle: {groups: 2}]}
      - global_avgpool
      - layernorm: {name: head_norm}
      - linear: {out: 5}
"""


def _load(tmp_path, text, overrides=None):
    path = tmp_path / "net.yaml"
    path.write_text(textwrap.dedent(text))
    return netc.load(str(path), overrides)


def _one_op(tmp_path, layer: str, shape=(8, 6, 6)):
    return _load(tmp_path, f"""
        netc: 1
        input: {{shape: {list(shape)}}}
        body: [{layer}]
    """)


def _run(graph, x, weights=None):
    model = netc.build(graph).eval()
    if weights:  # the layer is the spec's first, named 0
        model.load_state_dict({f"0.{k}": v for k, v in weights.items()}, strict=True)
    with torch.no_grad():
        return model, model(x)


# -- rules --------------------------------------------------------------------------------------

def test_shapes_params_and_macs(tmp_path):
    g = _load(tmp_path, ALL_OPS)
    by = {n.name: n for n in g.nodes}
    assert [(p.name, p.shape, p.kind) for p in by["1"].params] == [
        ("running_mean", [4], "norm-statistic"), ("running_var", [4], "norm-statistic"),
        ("count", [], "norm-statistic")]
    assert by["1"].param_count() == 9  # Keras's Normalization: mean, variance and one count
    assert [(p.name, p.shape, p.kind) for p in by["3"].params] == [
        ("weight", [8], "norm-affine"), ("bias", [8], "norm-affine")]
    assert by["3"].macs == 2 * 8 * 6 * 6
    assert by["4"].shape == [16, 6, 6] and by["4"].macs == 6 * 6 * 8 * 16
    assert [(p.name, p.shape) for p in by["4"].params] == [("weight", [16, 8]), ("bias", [16])]
    assert [(p.name, p.shape, p.kind) for p in by["gamma"].params] == [("", [16, 1, 1], "weight")]
    assert by["7.0"].attrs == {"p": 0.2, "mode": "row"}
    assert by["unit.left.0"].attrs == {"start": 0, "stop": 8}
    assert by["unit.right.0"].attrs == {"start": 8, "stop": 16}
    assert by["unit.right.0"].shape == [8, 6, 6] and by["unit.join.0"].shape == [16, 6, 6]
    assert by["head_norm"].shape == [16] and by["head_norm"].macs == 32
    lint(g)


@pytest.mark.parametrize("layer, message", [
    ("channel_split: {parts: 3, index: 0}", "3 parts must divide the 8 input channels"),
    ("channel_split: {index: 2}", "index 2 names no part of 2"),
    ("channel_shuffle: {groups: 3}", "3 groups must divide the 8 channels"),
    ("stochastic_depth: {p: 0.5, mode: column}", "column"),
    ("layer_scale: {init: .inf}", "init"),
])
def test_bad_arguments_are_located_errors(tmp_path, layer, message):
    with pytest.raises(netc.SpecError, match=message) as err:
        _one_op(tmp_path, layer)
    assert err.value.loc is not None and err.value.loc.line == 4  # the body line


def test_ops_refuse_inputs_they_cannot_take(tmp_path):
    for layer in ("layer_scale", "channel_shuffle: {groups: 2}", "channel_split: {index: 0}"):
        with pytest.raises(netc.SpecError, match="C x H x W"):
            _one_op(tmp_path, layer, shape=(8,))


def test_lint_rederives_the_new_ops(tmp_path):
    g = _load(tmp_path, ALL_OPS)
    g.node("gamma").attrs["channels"] = 12  # a hand-edited graph whose scale no longer fits
    with pytest.raises(LintError, match="gamma"):
        lint(g)
    g = _load(tmp_path, ALL_OPS)
    g.node("unit.left.0").attrs["stop"] = 40
    with pytest.raises(LintError, match="unit.left.0"):
        lint(g)


def test_unknown_op_hints_only_close_spellings(tmp_path):
    assert did_you_mean("hardsigmoid", ["sigmoid", "relu"]) is None
    assert did_you_mean("swish", ["silu", "hardswish"]) is None
    for other in ("elu", "selu", "celu", "glu", "prelu", "rrelu", "softmin"):  # not relu, softmax
        assert did_you_mean(other, ["relu", "silu", "gelu", "softmax"]) is None, other
    assert did_you_mean("rleu", ["relu", "silu", "gelu", "softmax"]) == "did you mean 'relu'?"
    assert did_you_mean("hard_sigmoid", ["sigmoid", "hardsigmoid"]) == "did you mean 'hardsigmoid'?"
    with pytest.raises(netc.SpecError, match="unknown op or block 'layer_norm'") as err:
        _one_op(tmp_path, "layer_norm")
    assert err.value.hint == "did you mean 'layernorm'?"
    with pytest.raises(netc.SpecError, match="unknown op or block 'hsigmoid'") as err:
        _one_op(tmp_path, "hsigmoid")
    assert "'sigmoid'" not in (err.value.hint or "")


# -- torch against torch's and torchvision's own modules -------------------------------------------

def test_torch_matches_torch_and_torchvision(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6)
    _, y = _run(_one_op(tmp_path, "hardsigmoid"), x * 4)
    assert torch.equal(y, torch.nn.Hardsigmoid()(x * 4))

    ref = torchvision.models.convnext.LayerNorm2d(8, eps=1e-6)
    torch.nn.init.normal_(ref.weight)
    torch.nn.init.normal_(ref.bias)
    _, y = _run(_one_op(tmp_path, "layernorm: {eps: 1.0e-6}"), x, ref.state_dict())
    assert torch.allclose(y, ref(x), atol=1e-6, rtol=0)

    ref = torch.nn.LayerNorm(8, eps=1e-3, bias=False)
    torch.nn.init.normal_(ref.weight)
    flat = torch.randn(2, 8)
    _, y = _run(_one_op(tmp_path, "layernorm: {eps: 0.001, center: false}", (8,)), flat,
                ref.state_dict())
    assert torch.allclose(y, ref(flat), atol=1e-6, rtol=0)

    ref = torch.nn.Linear(8, 12)
    _, y = _run(_one_op(tmp_path, "channel_linear: {out: 12}"), x, ref.state_dict())
    assert torch.allclose(y, ref(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), atol=1e-6, rtol=0)

    _, y = _run(_one_op(tmp_path, "channel_split: {parts: 4, index: 2}"), x)
    assert torch.equal(y, x.chunk(4, dim=1)[2])
    _, y = _run(_one_op(tmp_path, "channel_shuffle: {groups: 4}"), x)
    assert torch.equal(y, torchvision.models.shufflenetv2.channel_shuffle(x, 4))

    scale = torch.randn(8, 1, 1)
    graph = _one_op(tmp_path, "layer_scale: {name: gamma, init: 0.25}")
    fresh = netc.build(graph).state_dict()
    assert list(fresh) == ["gamma"] and torch.equal(fresh["gamma"], torch.full((8, 1, 1), 0.25))
    model = netc.build(graph).eval()
    model.load_state_dict({"gamma": scale}, strict=True)  # the node is the parameter
    with torch.no_grad():
        assert torch.equal(model(x), scale * x)


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_draws_as_torchvision(tmp_path, mode):
    model = netc.build(_one_op(tmp_path, f"stochastic_depth: {{p: 0.5, mode: {mode}}}"))
    x = torch.randn(64, 8, 2, 2)
    assert torch.equal(model.eval()(x), x)
    model.train()
    torch.manual_seed(3)
    ours = model(x)
    torch.manual_seed(3)
    theirs = torchvision.ops.stochastic_depth(x, 0.5, mode, training=True)
    assert torch.equal(ours, theirs)
    kept = ours.flatten(1).ne(0).all(1)
    assert 0 < kept.sum() < 64 if mode == "row" else kept.all() or not kept.any()


def test_layernorm_shift_without_scale_is_refused_on_torch(tmp_path):
    with pytest.raises(UnsupportedOp, match="no shift without a scale"):
        netc.build(_one_op(tmp_path, "layernorm: {scale: false}"))


# -- Keras ----------------------------------------------------------------------------------------

def test_every_op_agrees_across_backends_node_by_node(tmp_path):
    g = _load(tmp_path, ALL_OPS)
    assert param_diff(g)["ok"], param_diff(g)["problems"]
    report = numeric_check(g, batch=2)
    assert report["ok"], report["failed"]
    assert {"normalization", "layernorm", "channel_linear", "layer_scale", "channel_shuffle",
            "channel_split", "hardsigmoid", "rescaling"} <= {n.op for n in g.nodes}


def test_keras_matches_keras_layers_and_drops_as_stochastic_depth(tmp_path):
    import keras

    g = _load(tmp_path, """
        netc: 1
        input: {shape: [3, 4, 4]}
        body:
          - rescaling: {scale: 0.25, offset: -1.0}
          - normalization
          - hardsigmoid
          - stochastic_depth: {p: 0.5}
    """)
    model = netc.build(g, backend="keras")
    mean, variance = np.array([0.5, -1.0, 2.0]), np.array([4.0, 0.25, 1e-20])
    model.get_layer("1").set_weights([mean, variance, np.array(7.0)])
    x = np.random.default_rng(0).normal(0, 8, (64, 4, 4, 3)).astype("float32")
    reference = keras.Sequential([
        keras.layers.Rescaling(0.25, offset=-1.0),
        keras.layers.Normalization(mean=mean, variance=variance),
        keras.layers.Activation("hard_sigmoid")])
    ours = np.asarray(model(x, training=False))
    assert np.allclose(ours, np.asarray(reference(x)), atol=1e-6)
    dropped = np.asarray(model(x, training=True))
    kept = np.abs(dropped).reshape(64, -1).max(1) > 0
    assert 0 < kept.sum() < 64
    assert np.allclose(dropped[kept], ours[kept] / 0.5, atol=1e-6)


def test_keras_batch_stochastic_depth_drops_the_whole_batch_or_none(tmp_path):
    """torchvision's mode "batch": one draw for the batch, so each training call returns the
    whole batch zeroed or the whole batch scaled by 1 / (1 - p); over 40 calls both happen (all
    alike has chance 2^-39)."""
    g = _load(tmp_path, """
        netc: 1
        input: {shape: [3, 4, 4]}
        body:
          - stochastic_depth: {p: 0.5, mode: batch}
    """)
    model = netc.build(g, backend="keras")
    x = np.random.default_rng(0).normal(1, 1, (8, 4, 4, 3)).astype("float32")
    outcomes = set()
    for _ in range(40):
        y = np.asarray(model(x, training=True))
        if np.all(y == 0):
            outcomes.add("dropped")
        else:
            assert np.allclose(y, x / 0.5, atol=1e-6), "a batch-mode draw kept only some rows"
            outcomes.add("kept")
    assert outcomes == {"dropped", "kept"}
    assert np.array_equal(np.asarray(model(x, training=False)), x)
