"""The Keras backend: every op has an emitter and matches torch node by node (TensorFlow here,
Keras's torch backend in a subprocess); the source imports only keras; names map reversibly."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import netc
from netc.backends import get_backend
from netc.backends.keras import ir_name, keras_name
from netc.backends.keras.ops import EMITTERS
from netc.compiler.ops import REGISTRY
from netc.crosscheck import check_text, numeric_check
from netc.spec.errors import SpecError
from netc.weights import random_weights
from tests.conftest import ROOT
from tests.keras_cases import CASES

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")


def _graph(case):
    return netc.load(f"{case}.yaml", text=CASES[case])


def test_every_registered_op_has_a_keras_emitter():
    missing = sorted(set(REGISTRY) - set(EMITTERS))
    assert not missing, f"ops without a Keras emitter: {missing}"


def test_every_registered_op_is_exercised_by_a_case():
    used = {node.op for case in CASES for node in _graph(case).nodes}
    missing = sorted(set(REGISTRY) - used)
    assert not missing, f"add these ops to tests/keras_cases.py: {missing}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_keras_matches_torch_node_by_node(case):
    report = numeric_check(_graph(case), ("torch", "keras"))
    assert report["ok"], check_text(report)
    assert len(report["nodes"]) == len(_graph(case).nodes)


def test_keras_matches_torch_under_keras_torch_backend():
    script = (
        "import keras, sys\n"
        "assert keras.backend.backend() == 'torch', keras.backend.backend()\n"
        "import netc\n"
        "from netc.crosscheck import numeric_check, check_text\n"
        "from tests.keras_cases import CASES\n"
        "for case, text in sorted(CASES.items()):\n"
        "    report = numeric_check(netc.load(case + '.yaml', text=text))\n"
        "    print(case, report['worst'])\n"
        "    if not report['ok']:\n"
        "        sys.exit(check_text(report))\n")
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    assert len(done.stdout.splitlines()) == len(CASES)


def test_source_imports_only_keras():
    source = netc.emit(_graph("merges"), "keras")
    imports = [line for line in source.splitlines() if re.match(r"\s*(import|from)\s", line)]
    assert imports == ["import keras", "from keras import layers, ops"]
    assert "tf." not in source and "tensorflow" not in source
    assert "def build_model():" in source


def test_layer_names_are_ir_names_reversibly():
    graph = netc.load(ROOT / "examples" / "resnet50.yaml", {"num_classes": 10})
    model = netc.build(graph, backend="keras")
    names = {layer.name for layer in model.layers}
    assert "layer1-0-downsample-0" in names
    for node in graph.nodes:
        assert ir_name(keras_name(node.name)) == node.name
        assert keras_name(node.name) in names


def test_batchnorm_momentum_is_converted_and_epsilon_exact():
    model = netc.build(_graph("convs"), backend="keras")
    bn = model.get_layer("bn")
    assert bn.momentum == pytest.approx(0.97) and bn.epsilon == 0.001


def test_batchnorm_running_mean_update_matches_torch():
    """One training step moves the running mean as torch does (momentum 0.03 in torch's sense)."""
    text = CASES["head"].replace("  - global_avgpool", "  - batchnorm: {name: bn, momentum: 0.03}\n"
                                                       "  - global_avgpool")
    graph = netc.load("bn.yaml", text=text)
    x = np.random.default_rng(0).normal(2.0, 1.0, (4, 3, 9, 9)).astype("float32")
    weights = random_weights(graph)
    net = netc.build(graph, backend="torch").train()
    get_backend("torch").import_weights(net, graph, weights)
    net(torch.from_numpy(x))
    model = netc.build(graph, backend="keras")
    get_backend("keras").import_weights(model, graph, weights)
    model(x.transpose(0, 2, 3, 1), training=True)
    expected = net.bn.running_mean.detach().numpy()
    got = model.get_layer("bn").moving_mean.numpy()
    assert np.abs(expected).max() > 1e-3  # the step moved it
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_drop_path_drops_whole_samples_in_training():
    model = netc.build(_graph("merges"), backend="keras")
    layer = model.get_layer("down-drop_path")
    x = np.ones((64, 4, 4, 16), "float32")
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    per_sample = out.reshape(64, -1)
    assert set(np.unique(per_sample)) <= {0.0, 1.0}  # scale 'test': kept samples unchanged
    assert all(len(set(row)) == 1 for row in per_sample)
    assert 0 < (per_sample[:, 0] == 0).sum() < 64
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x, training=False)), 0.8)


def test_a_flat_feature_input_builds_and_matches_torch():
    """An input of [features] (no spatial axes) is a Keras shape of one, (6,)."""
    graph = netc.load("flat.yaml", text="netc: 1\nname: flat\ninput: {shape: [6]}\n"
                                       "body:\n  - linear: {name: fc, out: 3}\n")
    weights = random_weights(graph)
    model = netc.build(graph, backend="keras")
    assert model.input_shape == (None, 6)
    get_backend("keras").import_weights(model, graph, weights)
    net = netc.build(graph, backend="torch").eval()
    get_backend("torch").import_weights(net, graph, weights)
    x = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")
    got = np.asarray(model(x))
    expected = net(torch.from_numpy(x)).detach().numpy()
    by_hand = x.astype("float64") @ weights["fc.weight"].T.astype("float64") + weights["fc.bias"]
    # 6 products summed per output: float32 rounding stays far below 1e-5 at these magnitudes
    np.testing.assert_allclose(got, by_hand, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(expected, by_hand, rtol=1e-5, atol=1e-5)
    assert numeric_check(graph)["ok"]


@pytest.mark.parametrize("body, message", [
    ("  - conv_transpose2d: {name: up, out: 3, kernel: 3, stride: 2, pad: 1}\n",
     "cannot crop torch's padding"),
    ("  - upsample: {name: up, scale: 2, mode: bilinear, align_corners: true}\n",
     "cannot align corners"),
    ("  - dag: {nodes: [{name: a, body: [maxpool: {kernel: 2}]},\n"
     "                  {name: b, from: [a, input], merge: {resize: {mode: nearest}}}]}\n",
     "only for whole upsampling factors"),
])
def test_dense_corners_keras_cannot_match_are_refused(body, message):
    """Corners where Keras's layers compute something other than torch's are refused by name."""
    graph = netc.load("refused.yaml", text=f"netc: 1\nname: refused\ninput: {{shape: [3, 5, 7]}}\n"
                                           f"body:\n{body}")
    netc.build(graph, backend="torch")
    with pytest.raises(SpecError, match=message):
        netc.build(graph, backend="keras")
