"""Weight files saved by keras.applications models load as they are into netc's Keras models of
the same specs (plain `load_weights`, Keras 3 `.weights.h5` and legacy `.h5`), and give the
reference's outputs.

Keras keys a functional model's variables in its weight files by layer class and the order of the
model's layers, not by layer name, so what must agree is the order: netc writes each residual
addition shortcut first, as keras.applications does. (Xception's are out of reach: Keras keeps
each separable convolution as one SeparableConv2D layer, netc as a depthwise and a pointwise one.)
"""
from __future__ import annotations

import numpy as np
import pytest
import yaml

import netc
from conftest import EXAMPLES
from keras_reference import randomize

keras = pytest.importorskip("keras")

REFERENCES = yaml.safe_load((EXAMPLES / "REFERENCES.yaml").read_text())["keras"]
CASES = [("keras/resnet50.yaml", "ResNet50", 32), ("keras/resnet50_v2.yaml", "ResNet50V2", 32),
         *[(spec, ref["application"], ref["size"]) for spec, ref in sorted(REFERENCES.items())
           if spec in ("keras/densenet121.yaml", "keras/mobilenet.yaml",
                       "keras/inception_v3.yaml")]]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def saved(request, tmp_path_factory):
    spec, application, size = request.param
    reference = getattr(keras.applications, application)(weights=None,
                                                         input_shape=(size, size, 3))
    randomize(reference, np.random.default_rng(0))
    folder = tmp_path_factory.mktemp(application)
    reference.save_weights(folder / "reference.weights.h5")
    reference.save(folder / "reference.h5")  # the legacy (Keras 2) HDF5 format
    x = np.random.default_rng(1).normal(size=(2, size, size, 3)).astype("float32")
    graph = netc.load(EXAMPLES / spec, {"size": size})
    return graph, folder, x, reference(x, training=False).numpy()


@pytest.mark.parametrize("file", ["reference.weights.h5", "reference.h5"])
def test_keras_applications_weight_file_loads_as_it_is(saved, file):
    graph, folder, x, expected = saved
    model = netc.build(graph, backend="keras")
    model.load_weights(folder / file)
    got = model(x, training=False).numpy()
    # the same layers in the same order compute the same float32 operations
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
