"""Training-step time, side by side in one run: netc's ResNet-50 vs torchvision's resnet50.

Both models start from the same weights and see the same input; steps alternate between them so
drift in machine load hits both alike. Prints medians and the ratio (goal: <= 1.03).

    python benchmarks/runtime.py [--size 224] [--batch 8] [--steps 10] [--device cpu]
"""
import argparse
import statistics
import time
from pathlib import Path

import torch
import torchvision

import netc

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def step_fn(model, x, y, device):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    return step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    theirs = torchvision.models.resnet50().to(device)
    ours = netc.build(EXAMPLES / "resnet50.yaml").to(device)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    y = torch.randint(0, 1000, (args.batch,), device=device)
    steps = {"netc": step_fn(ours, x, y, device), "torchvision": step_fn(theirs, x, y, device)}
    times = {k: [] for k in steps}
    for fn in steps.values():  # warm-up
        fn()
    for _ in range(args.steps):
        for name, fn in steps.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    a, b = (statistics.median(times[k]) for k in ("netc", "torchvision"))
    print(f"train step resnet50 ({args.device}, batch {args.batch}, {args.size}px): "
          f"netc {a * 1e3:.1f} ms   torchvision {b * 1e3:.1f} ms   ratio {a / b:.3f} (goal <= 1.03)")


if __name__ == "__main__":
    main()
