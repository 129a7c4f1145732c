"""`flatten`'s `order`: channels_first (C, H, W, torch's nn.Flatten, the default) or channels_last
(H, W, C, Keras's Flatten, which keras.applications' VGG16 feeds its fc1). The order decides which
row of the next linear layer meets which value, so canonical weights are the same on both
backends and each backend computes the order the spec names."""
from __future__ import annotations

import numpy as np
import pytest

import netc
from netc.backends import get_backend
from netc.crosscheck import node_values
from netc.spec.errors import ShapeError, SpecError

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

SPEC = """
netc: 1
name: flat_order
input: {shape: [3, 6, 5]}
body:
  - conv2d: {name: conv, out: 4, kernel: 3, pad: 1}
  - flatten: {name: flat, order: %s}
  - linear: {name: fc, out: 7}
"""


def _graph(tmp_path, order: str):
    path = tmp_path / f"{order}.yaml"
    path.write_text(SPEC % order)
    return netc.load(str(path))


def _weights(graph):
    rng = np.random.default_rng(0)
    return {name: rng.normal(0, 0.5, shape).astype("float32")
            for name, shape in _canonical_shapes(graph).items()}


def _canonical_shapes(graph):
    net = netc.build(graph, backend="torch")
    return {k: v.shape for k, v in get_backend("torch").export_weights(net, graph).items()}


def _by_hand(weights, x, order: str):
    """The network written out in torch: conv, the flatten the order names, linear."""
    t = {k: torch.from_numpy(v) for k, v in weights.items()}
    conv = torch.nn.functional.conv2d(torch.from_numpy(x), t["conv.weight"], t["conv.bias"],
                                      padding=1)
    if order == "channels_last":
        conv = conv.permute(0, 2, 3, 1)
    return torch.nn.functional.linear(torch.flatten(conv, 1), t["fc.weight"], t["fc.bias"]).numpy()


@pytest.mark.parametrize("order", ["channels_first", "channels_last"])
def test_both_backends_flatten_in_the_order_the_spec_names(tmp_path, order):
    graph = _graph(tmp_path, order)
    assert graph.node("flat").attrs == {"order": order}
    weights = _weights(graph)
    x = np.random.default_rng(1).normal(size=(2, 3, 6, 5)).astype("float32")
    expected = _by_hand(weights, x, order)
    other = _by_hand(weights, x, "channels_last" if order == "channels_first" else "channels_first")
    assert np.max(np.abs(expected - other)) > 0.1  # the two orders are told apart

    torch_backend = get_backend("torch")
    for flat in (False, True):  # structured and flat source
        net = torch_backend.load(torch_backend.emit(graph, flat=flat), graph)
        torch_backend.import_weights(net, graph, weights)
        with torch.no_grad():
            got = net(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    probed = node_values("torch", net, graph, x)  # the emitters as `netc check` replays them
    np.testing.assert_allclose(probed["fc"], expected, rtol=0, atol=1e-5)

    model = netc.build(graph, backend="keras")
    get_backend("keras").import_weights(model, graph, weights)
    got = keras.ops.convert_to_numpy(model(x.transpose(0, 2, 3, 1)))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_keras_emits_its_own_flatten_for_channels_last(tmp_path):
    source = get_backend("keras").emit(_graph(tmp_path, "channels_last"))
    assert "layers.Flatten(name=" in source and "FlattenCHW" not in source
    assert "FlattenCHW" in get_backend("keras").emit(_graph(tmp_path, "channels_first"))


def test_default_order_is_channels_first(tmp_path):
    path = tmp_path / "default.yaml"
    path.write_text(SPEC.replace("flatten: {name: flat, order: %s}", "flatten: {name: flat}"))
    assert netc.load(str(path)).node("flat").attrs == {"order": "channels_first"}


def test_an_unknown_order_is_a_located_error(tmp_path):
    with pytest.raises(SpecError) as info:
        _graph(tmp_path, "hwc")
    assert "channels_first" in str(info.value) and info.value.loc.line == 7


def test_channels_last_needs_a_map(tmp_path):
    path = tmp_path / "vector.yaml"
    path.write_text(SPEC.replace("input: {shape: [3, 6, 5]}", "input: {shape: [12]}")
                    .replace("  - conv2d: {name: conv, out: 4, kernel: 3, pad: 1}\n", "")
                    % "channels_last")
    with pytest.raises(ShapeError, match="channels_last needs a C x H x W input"):
        netc.load(str(path))
