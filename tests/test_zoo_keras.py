"""The zoo's specs of keras.applications, checked against Keras itself: `count_params()` exact,
the reference's weights (random, batch-norm statistics included) copied in give its outputs, and
the same spec on torch, through canonical weights, gives them too.

The expectations live in the `keras:` section of examples/REFERENCES.yaml. Weights are copied
layer by layer: by name where Keras names a layer (netc's Keras names are IR names with '-' for
'.', and the specs name nodes so that '_' for '.' gives Keras's names); a SeparableConv2D's two
kernels go to the spec's `<name>.depthwise` and `<name>.pointwise` convolutions; the layers Keras
leaves to its auto-namer (conv2d_17, batch_normalization_17: InceptionV3's and
InceptionResNetV2's convolutions, Xception's shortcuts) are matched, class by class, in the order
Keras created them (the number it appends) to netc's remaining layers in IR order.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import yaml

import netc
from netc.backends import get_backend
from netc.backends.keras import ir_name, keras_name
from netc.crosscheck import node_values
from tests.conftest import EXAMPLES
from tests.keras_reference import randomize

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

REFERENCES = yaml.safe_load((EXAMPLES / "REFERENCES.yaml").read_text())["keras"]
SPECS = sorted(REFERENCES)
TOLERANCE = 1e-4


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
        if isinstance(layer, keras.layers.SeparableConv2D):
            depthwise, pointwise = ours[f"{layer.name}_depthwise"], ours[f"{layer.name}_pointwise"]
            depthwise.set_weights([layer.depthwise_kernel.numpy()])
            pointwise.set_weights([layer.pointwise_kernel.numpy()])
            used |= {depthwise.name, pointwise.name}
            pairs.append((layer.name, pointwise))
        elif layer.name in ours:
            ours[layer.name].set_weights(layer.get_weights())
            used.add(ours[layer.name].name)
            pairs.append((layer.name, ours[layer.name]))
        else:
            unnamed.setdefault(type(layer).__name__, []).append(layer)
    remaining = {}
    for node in graph.nodes:
        layer = model.get_layer(keras_name(node.name))
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
    reference = getattr(keras.applications, ref["application"])(
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
        snake = re.sub(r"(?<=[a-z0-9])(?=V\d|ResNet)", "_", app).lower()
        assert spec == f"keras/{snake}.yaml", f"{spec}: name it keras/{snake}.yaml, after {app}"


def test_counts_equal_keras_applications(case, zoo_params):
    spec, graph, model, reference = case
    ref = REFERENCES[spec]
    expected = zoo_params[f"keras.{ref['application']}"]
    assert ref["total"] == expected["total"]
    assert reference.count_params() == expected["total"]
    assert model.count_params() == expected["total"]
    assert graph.trainable == expected["trainable"]


def test_outputs_equal_with_reference_weights(case):
    spec, graph, model, reference = case
    randomize(reference, np.random.default_rng(0))
    pairs = _copy_weights(reference, model, graph)
    assert len(pairs) == sum(1 for layer in reference.layers if layer.weights)
    ours = {layer.name.replace("-", "_"): layer for layer in model.layers}
    # Layers without weights that both models name alike (activations, merges, pools); Keras's
    # "predictions" Dense carries the softmax that netc keeps as its own node, so it is compared
    # through the final output below.
    weighted = {name for name, _ in pairs}
    pairs += [(layer.name, ours[layer.name]) for layer in reference.layers
              if layer.name in ours and layer.name not in weighted
              and not isinstance(layer, keras.layers.InputLayer)]
    pairs = [(name, layer) for name, layer in pairs
             if not (name == "predictions" and isinstance(layer, keras.layers.Dense))]

    size = REFERENCES[spec]["size"]
    x = np.random.default_rng(1).normal(0, 1, (1, size, size, 3)).astype("float32")
    probe_ref = keras.Model(reference.input, [reference.get_layer(n).output for n, _ in pairs]
                            + [reference.output])
    probe_ours = keras.Model(model.input, [layer.output for _, layer in pairs] + [model.output])
    ref_values = [keras.ops.convert_to_numpy(v) for v in probe_ref(x, training=False)]
    our_values = [keras.ops.convert_to_numpy(v) for v in probe_ours(x, training=False)]
    worst = {name: _error(b, a) for (name, _), a, b in zip(pairs, ref_values, our_values)}
    assert max(worst.values()) <= TOLERANCE, max(worst, key=worst.get)
    probs = ref_values[-1]
    assert np.max(np.abs(our_values[-1] - probs)) <= TOLERANCE
    # Softmax outputs are ~1e-3 each, so the logits are compared in log space, where 1e-4 means
    # something: netc's last node before the softmax holds them.
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
        got = values[ir_name(layer.name)]
        got = got.transpose(0, 2, 3, 1) if got.ndim == 4 else got
        assert _error(got, expected) <= TOLERANCE, f"torch {ir_name(layer.name)}"
    assert np.max(np.abs(values[graph.outputs[0]] - probs)) <= TOLERANCE
    assert _error(values[graph.nodes[-1].inputs[0]], logits) <= TOLERANCE


def _values_before_softmax(model, graph, x):
    last = graph.nodes[-1]
    assert last.op == "softmax"
    layer = model.get_layer(keras_name(last.inputs[0]))
    return keras.ops.convert_to_numpy(keras.Model(model.input, layer.output)(x, training=False))
