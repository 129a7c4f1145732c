"""What keras.applications' ConvNeXt needs of the language, each alone on a small net:
Normalization with constant statistics (no parameters; Keras's own layer, torch buffers outside
the state_dict), a depthwise convolution written as Keras's grouped Conv2D (`depthwise_layer:
false`), and `seq: {submodel: ...}`, a chain of layers that Keras writes as one keras.Sequential,
so that weight files of a model built that way load as they are."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

import netc
from netc.backends import get_backend
from netc.backends.base import UnsupportedOp
from netc.compiler.lint import LintError, lint
from netc.crosscheck import node_values, numeric_check
from netc.spec.errors import SpecError

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

MEAN, VARIANCE = [0.5, -1.0, 2.0], [4.0, 0.25, 9.0]

NET = """
    netc: 1
    name: grouped
    input: {shape: [3, 8, 8]}
    blocks:
      down:
        params: {width: int}
        seq:
          name: ""
          submodel: down
          body: [layernorm: {name: norm, eps: 1.0e-6},
                 conv2d: {name: conv, out: $width, kernel: 2, stride: 2}]
    body:
      - normalization: {name: norm, mean: [0.5, -1.0, 2.0], variance: [4.0, 0.25, 9.0]}
      - seq:
          name: ""
          submodel: stem
          body:
            - conv2d: {name: stem_conv, out: 8, kernel: 1}
            - layernorm: {name: stem_norm, eps: 1.0e-6}
      - residual:
          name: block
          body:
            - conv2d: {name: dw, out: 8, groups: 8, kernel: 3, pad: same, depthwise_layer: false}
            - relu
      - down: {name: stage, width: 16}
      - global_avgpool
      - linear: {name: fc, out: 5}
"""


def _load(tmp_path, text):
    path = tmp_path / "net.yaml"
    path.write_text(textwrap.dedent(text))
    return netc.load(str(path))


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    return _load(tmp_path_factory.mktemp("net"), NET)


def _reference():
    """The same network as keras.applications would write it by hand: a Normalization with
    constants, the stem and the downsampling layer as Sequentials, a grouped Conv2D."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Normalization(mean=MEAN, variance=VARIANCE)(inputs)
    x = keras.Sequential([keras.layers.Conv2D(8, 1),
                          keras.layers.LayerNormalization(epsilon=1e-6)])(x)
    y = keras.layers.Conv2D(8, 3, padding="same", groups=8)(x)
    x = keras.layers.Add()([x, keras.layers.ReLU()(y)])
    x = keras.Sequential([keras.layers.LayerNormalization(epsilon=1e-6),
                          keras.layers.Conv2D(16, 2, strides=2)])(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(5)(x))


def test_constant_normalization_holds_no_parameters_and_is_keras_normalization(graph):
    node = graph.node("norm")
    assert node.params == [] and node.attrs["mean"] == MEAN and node.attrs["variance"] == VARIANCE
    model = netc.build(graph, backend="keras")
    layer = model.get_layer("norm")
    assert type(layer) is keras.layers.Normalization and layer.weights == []
    x = np.random.default_rng(0).normal(0, 3, (4, 8, 8, 3)).astype("float32")
    expected = keras.layers.Normalization(mean=MEAN, variance=VARIANCE)(x)
    got = keras.Model(model.input, layer.output)(x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=0, atol=1e-6)
    net = netc.build(graph, backend="torch")
    assert not any(k.startswith("norm.") for k in net.state_dict())
    values = node_values("torch", net, graph, x.transpose(0, 3, 1, 2).copy())
    np.testing.assert_allclose(values["norm"], np.asarray(expected).transpose(0, 3, 1, 2),
                               atol=1e-6)


def test_one_number_is_every_channels(tmp_path):
    g = _load(tmp_path, """
        netc: 1
        input: {shape: [3, 4, 4]}
        body: [normalization: {mean: "${255 / 2}", variance: 4}]
    """)
    assert g.nodes[0].attrs["mean"] == [127.5] * 3 and g.nodes[0].attrs["variance"] == [4.0] * 3


@pytest.mark.parametrize("args, message", [
    ("{mean: [1, 2], variance: [1, 1, 1]}", "'mean' needs one number per channel \\(3\\)"),
    ("{mean: [1, 2, 3], variance: [1, -1, 1]}", "a variance cannot be negative"),
    ("{mean: [1, 2, 3]}", "need both mean and variance; 'variance' is missing"),
    ("{mean: [1, .inf, 3], variance: [1, 1, 1]}", "not a finite number"),
])
def test_bad_statistics_are_located_errors(tmp_path, args, message):
    with pytest.raises(SpecError, match=message) as info:
        _load(tmp_path, f"""
            netc: 1
            input: {{shape: [3, 4, 4]}}
            body: [normalization: {args}]
        """)
    assert info.value.loc is not None and info.value.loc.line == 4


def test_lint_refuses_statistics_of_the_wrong_type_or_length(graph):
    node = graph.node("norm")
    for mean, problem in (("[1, 2, 3]", "expected null or a list"), ([1.0, "x", 2.0], "finite"),
                          ([1.0, 2.0], "'mean' holds 2 values")):
        node.attrs["mean"] = mean
        with pytest.raises(LintError, match=problem):
            lint(graph)
    node.attrs["mean"] = list(MEAN)
    lint(graph)


def test_depthwise_layer_false_is_a_grouped_conv2d_and_torch_is_unchanged(graph, tmp_path):
    model = netc.build(graph, backend="keras")
    dw = model.get_layer("block-dw")
    assert type(dw) is keras.layers.Conv2D and tuple(dw.kernel.shape) == (3, 3, 1, 8)
    default = _load(tmp_path, NET.replace(", depthwise_layer: false", ""))
    assert type(netc.build(default, backend="keras").get_layer("block-dw")) \
        is keras.layers.DepthwiseConv2D
    # torch has one layer for both: the same module tree and the same keys
    torch_of = get_backend("torch").emit
    assert torch_of(graph).split('"""', 2)[2] == torch_of(default).split('"""', 2)[2]


def test_submodels_are_keras_sequentials_and_torch_names_are_unchanged(graph, tmp_path):
    model = netc.build(graph, backend="keras")
    nested = {layer.name: [inner.name for inner in layer.layers] for layer in model.layers
              if isinstance(layer, keras.Sequential)}
    assert nested == {"stem": ["stem_conv", "stem_norm"],
                      "stage-down": ["stage-norm", "stage-conv"]}
    plain = _load(tmp_path, NET.replace("submodel: down", "").replace("submodel: stem", ""))
    assert "submodels" not in plain.meta
    assert netc.build(graph, backend="torch").state_dict().keys() \
        == netc.build(plain, backend="torch").state_dict().keys()
    assert netc.build(graph, backend="keras").count_params() \
        == netc.build(plain, backend="keras").count_params()
    backend = get_backend("keras")
    flat = backend.emit(graph, flat=True)
    assert flat.count("keras.Sequential([") == 2
    x = np.random.default_rng(2).normal(size=(2, 8, 8, 3)).astype("float32")
    structured = netc.build(graph, backend="keras")
    flat_model = backend.load(flat, graph)
    backend.import_weights(flat_model, graph, backend.export_weights(structured, graph))
    np.testing.assert_array_equal(np.asarray(flat_model(x)), np.asarray(structured(x)))


def test_weight_files_of_a_model_with_sequentials_load_as_they_are(graph, tmp_path):
    reference = _reference()
    rng = np.random.default_rng(0)
    reference.set_weights([rng.normal(0, 0.5, w.shape).astype("float32")
                           for w in reference.get_weights()])
    reference.save_weights(tmp_path / "reference.weights.h5")
    reference.save(tmp_path / "reference.h5")
    x = rng.normal(0, 3, (2, 8, 8, 3)).astype("float32")
    expected = np.asarray(reference(x))
    for name in ("reference.weights.h5", "reference.h5"):
        model = netc.build(graph, backend="keras")
        model.load_weights(tmp_path / name)
        np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=0, atol=1e-5)


def test_check_probes_every_node_inside_a_sequential(graph):
    report = numeric_check(graph, batch=2)
    assert report["ok"], report["failed"]
    model = netc.build(graph, backend="keras")
    x = np.random.default_rng(1).normal(size=(1, 3, 8, 8)).astype("float32")
    values = node_values("keras", model, graph, x)
    assert {"stem_conv", "stem_norm", "stage.norm", "stage.conv"} <= set(values)
    stem = keras.Model(model.input, model.get_layer("stem").output)(x.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(values["stem_norm"], np.asarray(stem).transpose(0, 3, 1, 2))


@pytest.mark.parametrize("body, message", [
    # the first layer's value is read again by the add: not a chain
    ("[residual: {body: [conv2d: {out: 3, kernel: 1}]}]", "is not a chain"),
    ("[blk, blk]", "crosses the edge of a block"),
])
def test_a_submodel_that_is_no_chain_of_layers_is_refused(tmp_path, body, message):
    g = _load(tmp_path, f"""
        netc: 1
        input: {{shape: [3, 4, 4]}}
        blocks:
          blk: {{body: [relu, conv2d: {{out: 3, kernel: 1}}]}}
        body:
          - seq: {{name: "", submodel: group, body: {body}}}
          - relu
    """)
    with pytest.raises(UnsupportedOp, match=message):
        get_backend("keras").emit(g)


def test_a_submodel_takes_a_free_name(tmp_path):
    with pytest.raises(SpecError, match="submodel 'act' takes a name already given"):
        _load(tmp_path, """
            netc: 1
            input: {shape: [3, 4, 4]}
            body:
              - relu: {name: act}
              - seq: {name: "", submodel: act, body: [relu]}
        """)


def test_a_submodel_follows_flat_numbering_and_outputs(tmp_path):
    g = _load(tmp_path, """
        netc: 1
        input: {shape: [3, 4, 4]}
        outputs: [features.1]
        body:
          - seq:
              name: features
              numbering: flat
              body:
                - seq: {name: inner, submodel: head, body: [relu, conv2d: {out: 3, kernel: 1}]}
                - seq: {name: tail, submodel: tail_model, body: [relu, relu]}
    """)
    assert g.meta["submodels"] == [{"name": "features.head",
                                    "nodes": ["features.0", "features.1"]}]
    model = netc.build(g, backend="keras")
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Sequential"]


def test_freezing_a_node_inside_a_sequential_holds_its_layer(graph):
    from netc.train.keras_trainer import freeze_layers

    model = netc.build(graph, backend="keras")
    freeze_layers(model, ["stem_conv", "stage.conv"])
    frozen = {v.path for v in model.non_trainable_variables}
    assert any("stem_conv" in p for p in frozen) and any("stage-conv" in p for p in frozen)
    assert not any("stem_norm" in p for p in frozen)
