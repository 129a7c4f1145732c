"""Emitted Keras source has one function per block (and structural variant) in the style of
keras.applications, loops for stage tables, and the same layers, names and outputs as the flat
form."""
from __future__ import annotations

import re

import numpy as np
import pytest

import netc
from conftest import EXAMPLES

keras = pytest.importorskip("keras")


def _emit(spec, **kw):
    return netc.emit(EXAMPLES / spec, "keras", **kw)


def _documented_blocks(source: str) -> list[str]:
    return re.findall(r"\n    \"\"\"The spec's block `([A-Za-z0-9_]+)`.\"\"\"", source)


@pytest.mark.parametrize("spec,functions", [("keras/resnet50.yaml", 2),
                                            ("keras/resnet152.yaml", 2),
                                            ("resnet1202_cifar.yaml", 2)])
def test_source_grows_with_blocks_not_depth(spec, functions):
    source = _emit(spec)
    assert len(source.splitlines()) < 200
    assert len(_documented_blocks(source)) == functions
    assert source.count("\ndef ") == functions + 1  # the blocks' functions and build_model
    assert " in range(" in source


def test_depth_adds_no_lines():
    assert abs(len(_emit("keras/resnet152.yaml").splitlines())
               - len(_emit("keras/resnet50.yaml").splitlines())) <= 5


def test_one_function_per_block_called_by_name():
    graph = netc.load(EXAMPLES / "keras/resnet50.yaml")
    source = _emit("keras/resnet50.yaml")
    blocks = {entry["block"] for entry in graph.meta["blocks"]}
    assert set(_documented_blocks(source)) == blocks == {"keras_bottleneck_v1"}
    assert "def keras_bottleneck_v1(x, filters=256, *, name):" in source
    # the first blocks of stride 1 (conv2) and 2 (conv3-5) are one function with a stride argument
    assert "def keras_bottleneck_v1_0(x, filters, stride=2, *, name):" in source
    assert "x = keras_bottleneck_v1_0(x, filters=64, stride=1, name='conv2-block1')" in source
    assert "strides=(stride, stride)" in source and "strides=(1, 1)" not in source
    assert "layers.Conv2D(filters * 4, (1, 1), use_bias=True, name=name + '-3_conv')(y)" in source
    assert "    for i in range(2, 7):\n        x = keras_bottleneck_v1(x, name='conv4-block' + str(i))" \
        in source


def test_flat_form_is_kept_and_unrolled():
    flat = _emit("keras/resnet50.yaml", flat=True)
    assert flat.count("\ndef ") == 1 and " in range(" not in flat
    assert "conv2_block1 = layers.Conv2D(64, (1, 1), use_bias=True, name='conv2-block1-1_conv')(x)" \
        in flat


CASES = [("keras/resnet50.yaml", 64), ("keras/resnet50_v2.yaml", 64), ("keras/densenet121.yaml", 64),
         ("keras/inception_v3.yaml", 75), ("keras/xception.yaml", 71), ("keras/mobilenet.yaml", 64),
         ("resnet20_cifar.yaml", 32), ("googlenet.yaml", 64), ("mobilenet_v2.yaml", 64),
         ("papers/highway_conv_cifar.yaml", 32),
         ("papers/stochastic_depth_resnet110_cifar.yaml", 32)]


@pytest.mark.parametrize("spec,size", CASES, ids=[c[0] for c in CASES])
def test_functions_compute_what_the_flat_form_computes(spec, size):
    graph = netc.load(EXAMPLES / spec, {"size": size} if size != 32 else None)  # CIFAR: fixed
    flat, ours = netc.build(graph, "keras", flat=True), netc.build(graph, "keras")
    names = [layer.name for layer in flat.layers]
    assert sorted(names) == sorted(layer.name for layer in ours.layers)
    rng = np.random.default_rng(0)
    for layer in flat.layers:
        weights = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in layer.get_weights()]
        layer.set_weights(weights)
        ours.get_layer(layer.name).set_weights(weights)
    x = rng.normal(size=(2, size, size, 3)).astype("float32")
    np.testing.assert_allclose(ours(x, training=False).numpy(), flat(x, training=False).numpy(),
                               rtol=1e-6, atol=1e-6)
