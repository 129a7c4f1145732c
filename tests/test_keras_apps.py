"""keras.applications conformance: netc's specs of Keras's ResNet50 and ResNet50V2 count what
Keras counts, and with the reference model's weights copied in (layer by layer, by name) give its
outputs, on the Keras backend and, through canonical weights, on the torch backend.

Size: the references accept any input of at least 32x32 with weights=None, include_top=True, so
both models are compared whole (head and softmax included) at 64x64 to keep the test fast; the
specs take `--set size=64`.
"""
import numpy as np
import pytest

import netc
from netc.backends import get_backend
from netc.backends.keras import ir_name
from netc.crosscheck import node_values
from tests.conftest import EXAMPLES

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

SIZE = 64
CASES = [("resnet50.yaml", "ResNet50"), ("resnet50_v2.yaml", "ResNet50V2")]


def _randomize(model, rng):
    """Random weights in the reference, batch-norm statistics included (fresh ones are 0 and 1)."""
    for layer in model.layers:
        values = []
        for v in layer.weights:
            shape = tuple(v.shape)
            if v.name == "kernel":
                values.append(rng.normal(0, 1 / np.sqrt(np.prod(shape[:-1])), shape))
            elif v.name in ("gamma", "moving_variance"):
                values.append(rng.uniform(0.5, 1.5, shape))
            else:
                values.append(rng.normal(0, 0.1, shape))
        if values:
            layer.set_weights([a.astype("float32") for a in values])


def _by_reference_name(model):
    """netc's Keras layer names are IR names with '.' as '-'; the specs name nodes so that
    '_' for '.' gives Keras's names."""
    return {layer.name.replace("-", "_"): layer for layer in model.layers}


@pytest.fixture(scope="module", params=CASES, ids=[c[1] for c in CASES])
def pair(request):
    spec, ref_name = request.param
    graph = netc.load(EXAMPLES / "keras" / spec, {"size": SIZE})
    model = netc.build(graph, backend="keras")
    reference = getattr(keras.applications, ref_name)(weights=None, input_shape=(SIZE, SIZE, 3))
    return ref_name, graph, model, reference


def test_counts_equal_keras_applications(pair, zoo_params):
    ref_name, graph, model, reference = pair
    expected = zoo_params[f"keras.{ref_name}"]
    assert model.count_params() == expected["total"]
    assert reference.count_params() == expected["total"]
    assert graph.trainable == expected["trainable"]


def test_outputs_equal_with_reference_weights(pair):
    ref_name, graph, model, reference = pair
    _randomize(reference, np.random.default_rng(0))
    ours = _by_reference_name(model)
    copied = 0
    for layer in reference.layers:
        if layer.weights:
            ours[layer.name].set_weights(layer.get_weights())
            copied += 1
    assert copied == sum(1 for layer in model.layers if layer.weights)

    x = np.random.default_rng(1).normal(0, 1, (1, SIZE, SIZE, 3)).astype("float32")
    # Every layer both models name alike, compared in one pass; Keras's "predictions" is
    # Dense + softmax, netc's is the Dense alone, so it is compared as the final output below.
    common = [layer.name for layer in reference.layers
              if layer.name in ours and layer.name not in ("predictions", "input_layer")]
    assert len(common) > 150
    probe_ref = keras.Model(reference.input, [reference.get_layer(n).output for n in common]
                            + [reference.output])
    probe_ours = keras.Model(model.input, [ours[n].output for n in common]
                             + [model.get_layer("predictions").output, model.output])
    ref_values = [keras.ops.convert_to_numpy(v) for v in probe_ref(x, training=False)]
    our_values = [keras.ops.convert_to_numpy(v) for v in probe_ours(x, training=False)]
    for name, a, b in zip(common, ref_values, our_values):
        assert np.max(np.abs(a - b)) <= 1e-4, name
    probs, logits = ref_values[-1], our_values[-2]
    np.testing.assert_allclose(our_values[-1], probs, atol=1e-6)
    # Softmax outputs are ~1e-3 each, so compare in log space, where 1e-4 means something.
    top = logits.max(axis=-1, keepdims=True)
    log_softmax = logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
    assert np.max(np.abs(np.log(probs) - log_softmax)) <= 1e-4

    # The same spec on torch, through canonical weights, gives the same values node by node.
    canonical = get_backend("keras").export_weights(model, graph)
    net = netc.build(graph, backend="torch")
    get_backend("torch").import_weights(net, graph, canonical)
    values = node_values("torch", net, graph, x.transpose(0, 3, 1, 2).copy())
    for name in common:
        ir = ir_name(ours[name].name)
        theirs = values[ir].transpose(0, 2, 3, 1) if values[ir].ndim == 4 else values[ir]
        assert np.max(np.abs(theirs - ref_values[common.index(name)])) <= 1e-4, ir
    assert np.max(np.abs(values["predictions"] - logits)) <= 1e-4
    assert np.max(np.abs(values["softmax"] - probs)) <= 1e-6
