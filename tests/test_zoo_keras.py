"""The zoo's specs of keras.applications, checked against Keras itself: `count_params()` exact,
the reference's weights (random, batch-norm statistics included) copied in give its outputs, and
the same spec on torch, through canonical weights, gives them too.

The expectations live in the `keras:` section of examples/REFERENCES.yaml. Weights are copied
layer by layer: by name where Keras names a layer (netc's Keras names are IR names with '-' for
'.', and the specs name nodes so that '_' for '.' gives Keras's names; Xception's SeparableConv2D
is one separable_conv2d node, so one layer of the same class); the layers Keras leaves to its
auto-namer (conv2d_17, batch_normalization_17: InceptionV3's and InceptionResNetV2's
convolutions, Xception's shortcuts) are matched, class by class, in the order Keras created them
(the number it appends) to netc's remaining layers in IR order.
"""
from __future__ import annotations

import importlib
import re

import numpy as np
import pytest
import yaml

import netc
from netc.backends import get_backend
from netc.backends.keras import ir_name, keras_name
from netc.backends.keras.submodels import layers_by_name
from netc.crosscheck import node_values
from tests.conftest import EXAMPLES
from tests.keras_reference import randomize

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

REFERENCES = yaml.safe_load((EXAMPLES / "REFERENCES.yaml").read_text())["keras"]
SPECS = sorted(REFERENCES)
TOLERANCE = 1e-4
# The package an entry's `module` names, whose applications build its reference: Keras 3 unless
# it lacks the network (RegNet is only in tf-keras, the Keras 2 line).
PACKAGES = ("keras", "tf_keras")


def _package(spec):
    name = REFERENCES[spec].get("module", "keras")
    assert name in PACKAGES, f"{spec}: module {name!r} is none of {PACKAGES}"
    return importlib.import_module(name)


def _error(got, expected) -> float:
    """Max abs difference in units of TOLERANCE's scale: absolute where values are O(1), relative
    where they are larger. The residual stream of the deep ResNets grows with depth (ResNet152's
    reaches ~200 with these random weights) and float32 rounding grows with it: 2.6e-4 there is a
    relative 1.6e-6, the same agreement as 1e-6 at O(1)."""
    return float(np.max(np.abs(got - expected)) / max(1.0, float(np.max(np.abs(expected)))))


def _creation_index(layer) -> int:
    """Keras's auto-namer appends a process-wide count per class: conv2d, conv2d_1, conv2d_2, ..."""
    match = re.search(r"_(\d+)$", layer.name)
    return int(match.group(1)) if match else 0


def _copy_weights(reference, model, graph) -> list[tuple[str, object]]:
    """Copy every weighted reference layer into `model`; return (reference layer name, netc layer)
    for each, to compare their outputs."""
    ours = {layer.name.replace("-", "_"): layer for layer in model.layers}
    pairs, used, unnamed = [], set(), {}
    for layer in reference.layers:
        if not layer.weights:
            continue
        if layer.name in ours:
            ours[layer.name].set_weights(layer.get_weights())
            used.add(ours[layer.name].name)
            # a keras.Sequential (ConvNeXt's stem): netc's holds the same layers
            used.update(inner.name for inner in getattr(ours[layer.name], "layers", []))
            pairs.append((layer.name, ours[layer.name]))
        else:
            unnamed.setdefault(type(layer).__name__, []).append(layer)
    remaining = {}
    every = layers_by_name(model)  # those inside a keras.Sequential too
    for node in graph.nodes:
        layer = every[keras_name(node.name)]
        if layer.weights and layer.name not in used:
            remaining.setdefault(type(layer).__name__, []).append(layer)
    assert sorted(remaining) == sorted(unnamed), "unmatched layers of different classes"
    for cls, theirs in unnamed.items():
        assert len(theirs) == len(remaining[cls]), cls
        for ref_layer, layer in zip(sorted(theirs, key=_creation_index), remaining[cls]):
            layer.set_weights(ref_layer.get_weights())  # refuses a shape that differs
            pairs.append((ref_layer.name, layer))
    return pairs


@pytest.fixture(scope="module", params=SPECS)
def case(request):
    """Each spec's graph, netc Keras model and reference, built once for the module's tests."""
    spec = request.param
    ref = REFERENCES[spec]
    size = ref["size"]
    graph = netc.load(EXAMPLES / spec, {"size": size})
    model = netc.build(graph, backend="keras")
    reference = getattr(_package(spec).applications, ref["application"])(
        weights=None, input_shape=(size, size, 3))
    return spec, graph, model, reference


def test_every_keras_spec_is_listed():
    listed = set(SPECS)
    on_disk = {f"keras/{p.name}" for p in (EXAMPLES / "keras").glob("*.yaml")}
    # ResNet50 and ResNet50V2 have their own, layer-by-layer test (tests/test_keras_apps.py).
    assert on_disk - listed == {"keras/resnet50.yaml", "keras/resnet50_v2.yaml"}
    for spec in SPECS:
        app = REFERENCES[spec]["application"]
        # Keras's own module names: resnet_v2, inception_resnet_v2, mobilenet, densenet
        snake = re.sub(r"(?<=[a-z0-9])(?=V\d|ResNet|[BXY]\d|Small|Large|Tiny|Mobile)|(?<=V\d)(?=[A-Z])",
                       "_", app).lower()
        assert spec == f"keras/{snake}.yaml", f"{spec}: name it keras/{snake}.yaml, after {app}"


def test_counts_equal_keras_applications(case, zoo_params):
    spec, graph, model, reference = case
    ref = REFERENCES[spec]
    # zoo-params.json holds the applications of the first zoo; the others' totals are read from
    # Keras itself here (the reference's count_params() must equal the listed total)
    trainable = sum(int(np.prod(w.shape)) for w in reference.trainable_weights)
    expected = zoo_params.get(f"keras.{ref['application']}",
                              {"total": ref["total"], "trainable": trainable})
    assert ref["total"] == expected["total"]
    if "total_at_size" in ref:
        # VGG's flattened map makes its count depend on the input size: zoo-params.json (and
        # `total`) counted it at Keras's default 224x224, the spec at 224 must have that count
        # (IR only); the models at the test's `size` have Keras's own count there.
        at_224 = netc.load(EXAMPLES / spec, {"size": 224})
        assert (at_224.count(), at_224.trainable) == (expected["total"], expected["trainable"])
        expected = {"total": ref["total_at_size"], "trainable": trainable}
    assert reference.count_params() == expected["total"]
    assert model.count_params() == expected["total"]
    assert graph.trainable == expected["trainable"]


def test_outputs_equal_with_reference_weights(case):
    spec, graph, model, reference = case
    randomize(reference, np.random.default_rng(0))
    pairs = _copy_weights(reference, model, graph)
    assert len(pairs) == sum(1 for layer in reference.layers if layer.weights)
    pairs = [(name, _activated(graph, model, reference.get_layer(name), layer))
             for name, layer in pairs]
    ours = {layer.name.replace("-", "_"): layer for layer in model.layers}
    # Layers without weights that both models name alike (activations, merges, pools).
    weighted = {name for name, _ in pairs}
    pairs += [(layer.name, ours[layer.name]) for layer in reference.layers
              if layer.name in ours and layer.name not in weighted
              and type(layer).__name__ != "InputLayer"]

    size = REFERENCES[spec]["size"]
    x = np.random.default_rng(1).normal(0, 1, (1, size, size, 3)).astype("float32")
    probe_ref = _package(spec).Model(reference.input, [reference.get_layer(n).output for n, _ in pairs]
                            + [reference.output])
    probe_ours = keras.Model(model.input, [layer.output for _, layer in pairs] + [model.output])
    ref_values = [keras.ops.convert_to_numpy(v) for v in probe_ref(x, training=False)]
    our_values = [keras.ops.convert_to_numpy(v) for v in probe_ours(x, training=False)]
    worst = {name: _error(b, a) for (name, _), a, b in zip(pairs, ref_values, our_values)}
    assert max(worst.values()) <= TOLERANCE, max(worst, key=worst.get)
    probs = ref_values[-1]
    assert np.max(np.abs(our_values[-1] - probs)) <= TOLERANCE
    # Keras's RegNet ends in its Dense (its classifier_activation is never applied): its output,
    # the logits, is compared here and on torch below.
    ends_in_softmax = graph.nodes[-1].op == "softmax"
    if ends_in_softmax:
        # Softmax outputs are ~1e-3 each, so the logits are compared in log space, where 1e-4
        # means something: netc's last node before the softmax holds them.
        logits = _values_before_softmax(model, graph, x)
        top = logits.max(axis=-1, keepdims=True)
        log_softmax = logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
        # where Keras's softmax has not underflowed to 0 (ResNet152's logits span ~100)
        kept = probs > np.finfo(np.float32).tiny
        assert kept.any() and np.max(np.abs(np.log(probs[kept]) - log_softmax[kept])) <= TOLERANCE

    # The same spec on torch, through canonical weights, gives the same values node by node.
    canonical = get_backend("keras").export_weights(model, graph)
    net = netc.build(graph, backend="torch")
    get_backend("torch").import_weights(net, graph, canonical)
    values = node_values("torch", net, graph, x.transpose(0, 3, 1, 2).copy())
    for (name, layer), expected in zip(pairs, ref_values):
        if isinstance(layer, keras.Sequential):  # its value is its last layer's node's
            layer = layer.layers[-1]
        got = values[ir_name(layer.name)]
        got = got.transpose(0, 2, 3, 1) if got.ndim == 4 else got
        assert _error(got, expected) <= TOLERANCE, f"torch {ir_name(layer.name)}"
    assert np.max(np.abs(values[graph.outputs[0]] - probs)) <= TOLERANCE
    if ends_in_softmax:
        assert _error(values[graph.nodes[-1].inputs[0]], logits) <= TOLERANCE


def _activated(graph, model, reference_layer, layer):
    """The netc layer whose value is `reference_layer`'s output: Keras folds an activation into a
    Conv2D or Dense (VGG's activation="relu", the "predictions" softmax, EfficientNet's se_reduce
    swish), which netc keeps as the node that follows the weighted one."""
    activation = getattr(getattr(reference_layer, "activation", None), "__name__", "linear")
    if activation == "linear":
        return layer
    weighted = ir_name(layer.name)
    (node,) = [n for n in graph.nodes if weighted in n.inputs]
    assert node.op == activation, f"{weighted}: Keras applies {activation}, netc {node.op}"
    return model.get_layer(keras_name(node.name))


def _values_before_softmax(model, graph, x):
    last = graph.nodes[-1]
    assert last.op == "softmax"
    layer = model.get_layer(keras_name(last.inputs[0]))
    return keras.ops.convert_to_numpy(keras.Model(model.input, layer.output)(x, training=False))
