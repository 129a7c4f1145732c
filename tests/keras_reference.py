"""Random weights for a keras.applications reference model, so that copying them into netc's
model tests every weight (fresh batch-norm statistics are 0 and 1, and would hide a wrong eps or
swapped statistics)."""
import numpy as np


def randomize(model, rng):
    """Kernels scaled by 1/sqrt(fan-in), so activations keep their size through deep nets; batch
    norm scale and variance in [0.5, 1.5]; shifts, means and biases small."""
    for layer in model.layers:
        values = []
        for v in layer.weights:
            shape = tuple(v.shape)
            if "kernel" in v.name:  # kernel, and SeparableConv2D's depthwise_ and pointwise_kernel
                # a depthwise kernel (H, W, C, M) sums over H x W only
                depthwise = v.name == "depthwise_kernel" or type(layer).__name__ == "DepthwiseConv2D"
                fan_in = np.prod(shape[:2] if depthwise else shape[:-1])
                values.append(rng.normal(0, 1 / np.sqrt(fan_in), shape))
            elif v.name in ("gamma", "moving_variance"):
                values.append(rng.uniform(0.5, 1.5, shape))
            else:
                values.append(rng.normal(0, 0.1, shape))
        if values:
            layer.set_weights([a.astype("float32") for a in values])
