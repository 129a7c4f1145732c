"""Build time, side by side in one run: netc.build(resnet152.yaml) vs torchvision.models.resnet152().

Also spec -> IR alone for resnet1202_cifar.yaml (goal: under 0.5 s).
Prints medians of interleaved repetitions and their ratio (goal for the build: <= 1.25).
"""
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision

import netc

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(reps: int = 5) -> None:
    torch.set_num_threads(1)
    spec = EXAMPLES / "resnet152.yaml"
    netc.build(spec), torchvision.models.resnet152()  # warm imports and caches
    ours, theirs = [], []
    for _ in range(reps):
        ours.append(timed(lambda: netc.build(spec)))
        theirs.append(timed(lambda: torchvision.models.resnet152()))
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"build resnet152: netc {a:.3f} s   torchvision {b:.3f} s   ratio {a / b:.3f} (goal <= 1.25)")
    cifar = EXAMPLES / "resnet1202_cifar.yaml"
    load = [timed(lambda: netc.load(cifar)) for _ in range(reps)]
    print(f"spec -> IR resnet1202_cifar: {statistics.median(load):.3f} s (goal < 0.5 s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
