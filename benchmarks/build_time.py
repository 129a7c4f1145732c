"""Build time, side by side in one run: netc.build(resnet152.yaml) vs torchvision.models.resnet152().

Also spec -> IR alone for resnet1202_cifar.yaml (goal: under 0.5 s). Interleaved repetitions on
one pinned thread (see sidebyside.py); goal for the build: ratio <= 1.25.

    python benchmarks/build_time.py [REPS]
"""
import sys
from pathlib import Path

from sidebyside import compare, pin_threads, ratio_lines, spread

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def main(reps: int = 5) -> None:
    pin_threads(1)
    import torchvision

    import netc

    spec = EXAMPLES / "resnet152.yaml"
    samples = compare({"netc": lambda: netc.build(spec),
                       "torchvision": lambda: torchvision.models.resnet152()}, rounds=reps)
    print(ratio_lines("build resnet152:", samples, "netc", "torchvision", "<= 1.25", 1, "s"))
    cifar = EXAMPLES / "resnet1202_cifar.yaml"
    load = compare({"load": lambda: netc.load(cifar)}, rounds=reps)["load"]
    print(f"spec -> IR resnet1202_cifar: wall {spread(load.wall, 1, 's')}  "
          f"cpu {spread(load.cpu, 1, 's')} (goal < 0.5 s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
