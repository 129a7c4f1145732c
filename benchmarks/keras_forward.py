"""Keras forward pass and build time, side by side in one run: netc's Keras ResNet-50
(examples/keras/resnet50.yaml) vs keras.applications.ResNet50(weights=None).

Both models get the same weights (copied layer by layer) and the same input; forward passes are
interleaved with pinned threads (see sidebyside.py), wall and CPU time reported with their spread
(goal for the forward pass: ratio <= 1.05).

    KERAS_BACKEND=tensorflow python benchmarks/keras_forward.py [--size 224] [--batch 8] [--reps 10]
"""
import argparse
from pathlib import Path

from sidebyside import compare, pin_threads, ratio_lines

SPEC = Path(__file__).resolve().parent.parent / "examples" / "keras" / "resnet50.yaml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--build-reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    pin_threads(args.threads)
    import keras
    import numpy as np

    import netc

    builders = {"netc": lambda: netc.build(SPEC, backend="keras", overrides={"size": args.size}),
                "keras.applications": lambda: keras.applications.ResNet50(
                    weights=None, input_shape=(args.size, args.size, 3))}
    built = compare(builders, rounds=args.build_reps)
    ours, theirs = builders["netc"](), builders["keras.applications"]()
    mine = {layer.name.replace("-", "_"): layer for layer in ours.layers}
    for layer in theirs.layers:
        if layer.weights:
            mine[layer.name].set_weights(layer.get_weights())

    x = np.random.default_rng(0).normal(size=(args.batch, args.size, args.size, 3)).astype("float32")
    # predict_on_batch runs the compiled inference function, as a serving user would.
    forward = {"netc": lambda: ours.predict_on_batch(x),
               "keras.applications": lambda: theirs.predict_on_batch(x)}
    # same weights, same outputs; this also warms both up
    assert np.max(np.abs(forward["netc"]() - forward["keras.applications"]())) < 1e-4
    samples = compare(forward, rounds=args.reps)
    print(f"Keras backend: {keras.backend.backend()}, input {args.batch}x{args.size}x{args.size}x3, "
          f"{args.threads} threads")
    print(ratio_lines("forward:", samples, "netc", "keras.applications", "<= 1.05"))
    print(ratio_lines("build:", built, "netc", "keras.applications", "", 1, "s"))


if __name__ == "__main__":
    main()
