"""Keras forward pass and build time, side by side in one run: netc's Keras ResNet-50
(examples/keras/resnet50.yaml) vs keras.applications.ResNet50(weights=None).

Both models get the same weights (copied layer by layer) and the same input; forward passes
alternate between them so drift in machine load hits both alike. Prints medians and ratios
(goal for the forward pass: <= 1.05).

    KERAS_BACKEND=tensorflow python benchmarks/keras_forward.py [--size 224] [--batch 8] [--reps 10]
"""
import argparse
import statistics
import time
from pathlib import Path

import keras
import numpy as np

import netc

SPEC = Path(__file__).resolve().parent.parent / "examples" / "keras" / "resnet50.yaml"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def build_ours(size):
    return netc.build(SPEC, backend="keras", overrides={"size": size})


def build_theirs(size):
    return keras.applications.ResNet50(weights=None, input_shape=(size, size, 3))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--build-reps", type=int, default=3)
    args = ap.parse_args()

    build_ours(args.size), build_theirs(args.size)  # warm imports and caches
    b_ours, b_theirs = [], []
    for _ in range(args.build_reps):
        b_ours.append(timed(lambda: build_ours(args.size)))
        b_theirs.append(timed(lambda: build_theirs(args.size)))
    ours, theirs = build_ours(args.size), build_theirs(args.size)
    mine = {layer.name.replace("-", "_"): layer for layer in ours.layers}
    for layer in theirs.layers:
        if layer.weights:
            mine[layer.name].set_weights(layer.get_weights())

    x = np.random.default_rng(0).normal(size=(args.batch, args.size, args.size, 3)).astype("float32")
    # predict_on_batch runs the compiled inference function, as a serving user would.
    f_ours = lambda: ours.predict_on_batch(x)
    f_theirs = lambda: theirs.predict_on_batch(x)
    assert np.max(np.abs(f_ours() - f_theirs())) < 1e-4  # same weights, same outputs; also warms up
    t_ours, t_theirs = [], []
    for _ in range(args.reps):
        t_ours.append(timed(f_ours))
        t_theirs.append(timed(f_theirs))
    a, b = statistics.median(t_ours), statistics.median(t_theirs)
    ba, bb = statistics.median(b_ours), statistics.median(b_theirs)
    print(f"Keras backend: {keras.backend.backend()}, input {args.batch}x{args.size}x{args.size}x3")
    print(f"forward: netc {a * 1000:.1f} ms   keras.applications {b * 1000:.1f} ms   "
          f"ratio {a / b:.3f} (goal <= 1.05)")
    print(f"build:   netc {ba:.2f} s   keras.applications {bb:.2f} s   ratio {ba / bb:.3f}")


if __name__ == "__main__":
    main()
