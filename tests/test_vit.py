"""The Vision Transformer: its token ops (patch tokens, class token, position embedding, token
selection, multi-head self-attention), their rules and errors, and the zoo's ViTs against
torchvision (examples/REFERENCES.yaml, section `transformers`): exact counts, strict state_dict
load, equal outputs at 224, node shapes equal to the reference's, the encoder's blocks as one
class and a loop, and a small ViT on both backends node by node (`netc diff`, `netc check`)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import netc
from conftest import EXAMPLES
from netc.compiler.ops.attention import attention_macs
from netc.backends import get_backend
from netc.cli import main
from netc.crosscheck import numeric_check, param_diff
from netc.report import summary_text
from netc.weights import random_weights
from transformer_helpers import (REFERENCES, load_small, outputs_match_at_224, reference,
                                 refused_where_it_stands, specs)

SPECS = specs("vit_")  # Swin: tests/test_swin.py


def test_every_vit_spec_is_listed():
    assert SPECS == sorted(p.name for p in EXAMPLES.glob("vit_*.yaml"))


@pytest.mark.parametrize("spec", SPECS)
def test_counts_and_node_shapes_match_torchvision(spec):
    """Counted without building: the reference on the meta device, its module outputs by hook."""
    graph, ref = netc.load(EXAMPLES / spec), REFERENCES[spec]
    model = reference(spec, "meta")
    assert graph.trainable == ref["params"] == sum(p.numel() for p in model.parameters())
    shapes = {}
    for name in ("conv_proj", "encoder.layers.encoder_layer_0.mlp.0", "encoder.ln", "heads.head"):
        model.get_submodule(name).register_forward_hook(
            lambda m, i, o, name=name: shapes.__setitem__(name, list(o.shape[1:])))
    model.eval()(torch.empty(1, 3, 224, 224, device="meta"))
    assert {name: graph.node(name).shape for name in shapes} == shapes


@pytest.mark.parametrize("spec", specs("vit_", "build"))
def test_torchvision_weights_load_strictly(spec):
    model = netc.build(netc.load(EXAMPLES / spec))
    assert sum(p.numel() for p in model.parameters()) == REFERENCES[spec]["params"]
    model.load_state_dict(reference(spec).state_dict(), strict=True)


def _class_token(model, generator):
    model.class_token.copy_(torch.randn(model.class_token.shape, generator=generator))


@pytest.mark.parametrize("spec", specs("vit_", "outputs"))
def test_outputs_match_torchvision_at_224(spec):
    outputs_match_at_224(spec, lambda model: model.heads.head, _class_token)


def test_encoder_blocks_are_one_class_and_a_loop():
    source = netc.emit(netc.load(EXAMPLES / "vit_b_16.yaml"))
    assert source.count("class EncoderBlock(nn.Module)") == 1
    assert source.count("nn.MultiheadAttention(") == 1
    assert "EncoderBlock() for i in range(12)" in source
    assert "self.class_token = nn.Parameter(torch.zeros(1, 1, 768))" in source


# -- a small ViT, on both backends -----------------------------------------------------------------

SMALL = """
    netc: 1
    name: small_vit
    params: {size: 16}
    input: {shape: [3, $size, $size]}
    include: [lib/vit.yaml]
    body:
      - vit: {name: "", patch: 4, layers: 3, hidden: 32, heads: 4, mlp_dim: 64, classes: 10,
              dropout: 0.1, attention_dropout: 0.1}
"""


def _small(tmp_path, text=SMALL):
    return load_small(tmp_path, text, "vit.yaml")


def test_small_vit_counts_by_hand(tmp_path):
    graph = _small(tmp_path)
    d, n = 32, 4 * 4 + 1
    block = 2 * (2 * d) + (3 * d * d + 3 * d) + (d * d + d) + (d * 64 + 64) + (64 * d + d)
    expected = (3 * 16 * d + d) + d + n * d + 3 * block + 2 * d + (d * 10 + 10)
    assert graph.trainable == expected
    attention = graph.node("encoder.layers.encoder_layer_0.self_attention")
    assert attention.macs == attention_macs(n, d) == 4 * n * d * d + 2 * n * n * d
    assert graph.node("encoder.layers.encoder_layer_0.mlp.0").macs == n * d * 64
    assert [graph.node(k).shape for k in ("tokens", "class_token", "class_output")] == \
        [[16, d], [n, d], [d]]
    assert "self_attention: 4*N*D^2" in summary_text(graph)


def test_small_vit_agrees_across_backends(tmp_path):
    graph = _small(tmp_path)
    assert param_diff(graph)["ok"]
    report = numeric_check(graph)
    assert report["ok"], report["failed"][:5]


def test_small_vit_trains_on_both_backends(tmp_path):
    """A training step runs each backend's training path: dropout on the attention weights."""
    graph = _small(tmp_path)
    model = netc.build(graph).train()
    x = torch.randn(2, 3, 16, 16)
    model(x).square().mean().backward()
    assert model.class_token.grad is not None and model.encoder.pos_embedding.grad is not None
    keras_model = netc.build(graph, backend="keras")
    out = keras_model(np.random.default_rng(0).standard_normal((2, 16, 16, 3)), training=True)
    assert tuple(out.shape) == (2, 10)


def test_netc_weights_converts_a_vit_to_keras_and_back(tmp_path):
    """The class token, the position embedding and attention's stacked projection go to the
    Keras layers' variables and come back bit for bit; the Keras model then computes torch's."""
    from click.testing import CliRunner

    graph = _small(tmp_path)
    net = netc.build(graph)
    get_backend("torch").import_weights(net, graph, random_weights(graph, seed=3))
    torch.save(net.state_dict(), tmp_path / "vit.pt")
    spec = str(tmp_path / "net.yaml")
    for src, dst in (("vit.pt", "vit.weights.h5"), ("vit.weights.h5", "back.pt")):
        done = CliRunner().invoke(main, ["weights", str(tmp_path / src), str(tmp_path / dst),
                                         "--spec", spec])
        assert done.exit_code == 0, done.output
    back, state = torch.load(tmp_path / "back.pt", weights_only=True), net.state_dict()
    assert set(back) == set(state) and {"class_token", "encoder.pos_embedding"} <= set(back)
    assert all(torch.equal(value, state[key]) for key, value in back.items())
    model = netc.build(graph, backend="keras")
    model.load_weights(tmp_path / "vit.weights.h5")
    x = np.random.default_rng(0).normal(size=(2, 3, 16, 16)).astype("float32")
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(x)).numpy()
    import keras

    got = keras.ops.convert_to_numpy(model(x.transpose(0, 2, 3, 1), training=False))
    assert np.max(np.abs(got - expected)) < 1e-5


@pytest.mark.parametrize("shape, layers, message", [
    ([12], "tokens", "needs a C x H x W input"),
    ([12], "class_token", "needs a sequence of tokens"),
    ([12], "self_attention: {heads: 2}", "needs a sequence of tokens"),
    ([8, 2, 2], "tokens, self_attention: {heads: 5}", "5 heads do not divide 8 features"),
    ([8, 2, 2], "tokens, select_token: {index: 4}", "index 4 is past the last of 4 tokens"),
    ([8, 2, 2], "tokens, conv2d: {out: 3, kernel: 1}", "needs a C x H x W input"),
])
def test_token_ops_refuse_what_does_not_fit(tmp_path, shape, layers, message):
    refused_where_it_stands(tmp_path, shape, layers, message)


def test_flat_torch_source_holds_the_nested_parameter(tmp_path):
    """`netc build --flat` keeps modules in nn.ModuleDicts, which hold a parameter node as an
    attribute: the flat model loads the structured one's weights and computes the same."""
    graph = _small(tmp_path)
    structured, flat = netc.build(graph).eval(), netc.build(graph, flat=True).eval()
    assert "self.encoder.register_parameter('pos_embedding', " in netc.emit(graph, flat=True)
    flat.load_state_dict(structured.state_dict(), strict=True)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(flat(x), structured(x))


def test_a_parameter_node_in_a_container_is_refused_on_torch(tmp_path):
    graph = _small(tmp_path, """
        netc: 1
        input: {shape: [4, 2, 2]}
        body:
          - tokens
          - seq: {name: embed, body: [class_token, pos_embedding]}
          - select_token
    """)
    with pytest.raises(netc.SpecError, match="embed.0: torch holds a parameter node as an "
                                             "attribute") as err:
        netc.build(graph)
    assert err.value.loc.line == 6
