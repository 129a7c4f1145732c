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
