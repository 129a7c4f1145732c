"""Weight files saved by keras.applications models load as they are into netc's Keras models of
the same specs (plain `load_weights`, Keras 3 `.weights.h5` and legacy `.h5`), and give the
reference's outputs.

Keras keys a functional model's variables in its weight files by layer class and the order of the
model's layers, not by layer name, so what must agree is the order: netc writes each residual
addition shortcut first, as keras.applications does, and emits each separable convolution as
one SeparableConv2D layer (Xception), as Keras keeps it.
"""
from __future__ import annotations

import numpy as np
import pytest

import netc
from conftest import EXAMPLES
from keras_reference import REFERENCES, WEIGHTS_FILE, application, randomize
from zoo_coverage import EVERY_SPEC, uncovered

keras = pytest.importorskip("keras")

KERAS_SPECS = sorted(f"keras/{path.name}" for path in (EXAMPLES / "keras").glob("*.yaml"))
# One spec of each block library, and the smallest others that hold every op configuration of
# the Keras zoo (test_cases_hold_every_op_of_the_keras_zoo): a sibling repeats the same layers at
# other widths and depths, so its file is keyed the same way. `make zoo-check` loads every spec's.
COVERING = ["keras/convnext_tiny.yaml", "keras/densenet121.yaml", "keras/efficientnet_b0.yaml",
            "keras/efficientnet_b1.yaml", "keras/efficientnet_v2_b0.yaml",
            "keras/efficientnet_v2_s.yaml", "keras/inception_resnet_v2.yaml",
            "keras/inception_v3.yaml", "keras/mobilenet.yaml", "keras/mobilenet_v2.yaml",
            "keras/mobilenet_v3_large.yaml", "keras/mobilenet_v3_small.yaml",
            "keras/nasnet_mobile.yaml", "keras/regnet_x002.yaml", "keras/regnet_y002.yaml",
            "keras/resnet50.yaml", "keras/resnet50_v2.yaml", "keras/vgg16.yaml",
            "keras/xception.yaml"]
CASES = [(spec, REFERENCES[spec]["application"], REFERENCES[spec].get("size", 32))
         for spec in (KERAS_SPECS if EVERY_SPEC else COVERING)]
# The same layers in the same order compute the same float32 operations; tf-keras computes batch
# norm with TensorFlow's fused kernel, so its outputs agree to float32 rounding through the network,
# as in tests/test_zoo_keras.py. A weight in a wrong layer moves them by O(1).
TOLERANCE = {"keras": 1e-6, "tf_keras": 1e-4}


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def saved(request, tmp_path_factory):
    spec, application_name, size = request.param
    reference, module = application(spec, size)
    randomize(reference, np.random.default_rng(0))
    folder = tmp_path_factory.mktemp(application_name)
    reference.save_weights(folder / WEIGHTS_FILE[module])
    reference.save(folder / "reference.h5")  # the legacy (Keras 2) HDF5 format
    x = np.random.default_rng(1).normal(size=(2, size, size, 3)).astype("float32")
    graph = netc.load(EXAMPLES / spec, {"size": size})
    return graph, folder, module, x, reference(x, training=False).numpy()


@pytest.mark.parametrize("file", ["weights", "model"])  # save_weights's file, save's legacy .h5
def test_keras_applications_weight_file_loads_as_it_is(saved, file):
    graph, folder, module, x, expected = saved
    model = netc.build(graph, backend="keras")
    model.load_weights(folder / (WEIGHTS_FILE[module] if file == "weights" else "reference.h5"))
    got = model(x, training=False).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE[module])


def test_cases_hold_every_op_of_the_keras_zoo():
    assert set(COVERING) <= set(KERAS_SPECS)
    missing = uncovered(sorted(set(KERAS_SPECS) - set(COVERING)), COVERING)
    assert not missing, f"op configurations no weight-file case has: {missing}"
