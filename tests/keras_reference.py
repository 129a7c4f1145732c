"""keras.applications reference models: the one each Keras zoo spec names (REFERENCES.yaml), the
weight file its package writes, and random weights, so that copying them into netc's model tests
every weight (fresh batch-norm statistics are 0 and 1, and would hide a wrong eps or swapped
statistics)."""
import importlib

import numpy as np
import yaml

from conftest import EXAMPLES

_LISTED = yaml.safe_load((EXAMPLES / "REFERENCES.yaml").read_text())
REFERENCES = {**_LISTED["keras_apps"], **_LISTED["keras"]}  # "keras/<stem>.yaml" -> its entry
# What the reference package's save_weights writes: Keras 3 its own .weights.h5; tf-keras (the
# Keras 2 line, the only one with RegNet) cannot write that format and writes legacy HDF5.
WEIGHTS_FILE = {"keras": "reference.weights.h5", "tf_keras": "reference_weights.h5"}


def application(spec: str, size: int):
    """(the reference model of `spec`, built with weights=None for size x size inputs, the name
    of its package)."""
    entry = REFERENCES[spec]
    module = entry.get("module", "keras")
    model = getattr(importlib.import_module(module).applications, entry["application"])(
        weights=None, input_shape=(size, size, 3))
    return model, module


def randomize(model, rng):
    """Kernels scaled by 1/sqrt(fan-in), so activations keep their size through deep nets; batch
    norm scale and variance in [0.5, 1.5]; shifts, means and biases small."""
    for layer in model.layers:
        values = []
        for v in layer.weights:
            shape = tuple(v.shape)
            name = v.name.split("/")[-1].split(":")[0]  # tf-keras (Keras 2): "<layer>/gamma:0"
            if "kernel" in name:  # kernel, and SeparableConv2D's depthwise_ and pointwise_kernel
                # a depthwise kernel (H, W, C, M) sums over H x W only
                depthwise = name == "depthwise_kernel" or type(layer).__name__ == "DepthwiseConv2D"
                fan_in = np.prod(shape[:2] if depthwise else shape[:-1])
                values.append(rng.normal(0, 1 / np.sqrt(fan_in), shape))
            elif name in ("gamma", "moving_variance", "variance"):  # variance: Normalization's
                values.append(rng.uniform(0.5, 1.5, shape))
            elif name == "count":  # Normalization's sample count, a whole number
                values.append(np.full(shape, 1000, dtype=np.int32))
            else:
                values.append(rng.normal(0, 0.1, shape))
        if values:
            layer.set_weights([a if a.dtype == np.int32 else a.astype("float32") for a in values])
        if hasattr(layer, "finalize_state"):
            # Keras's Normalization computes with copies of its statistics made here
            layer.finalize_state()
