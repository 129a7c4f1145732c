"""Training-step time, side by side in one run: netc's ResNet-50 vs torchvision's resnet50.

Both models start from the same weights and see the same input; steps are interleaved (see
sidebyside.py) with pinned threads, and wall and CPU time are reported with their spread.
Goal: ratio <= 1.03.

    python benchmarks/runtime.py [--size 224] [--batch 8] [--steps 10] [--threads 2] [--device cpu]
"""
import argparse
from pathlib import Path

from sidebyside import compare, pin_threads, ratio_lines

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def step_fn(model, x, y, device):
    import torch

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
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    pin_threads(args.threads)
    import torch
    import torchvision

    import netc

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(0)
    theirs = torchvision.models.resnet50().to(device)
    ours = netc.build(EXAMPLES / "resnet50.yaml").to(device)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    y = torch.randint(0, 1000, (args.batch,), device=device)
    samples = compare({"netc": step_fn(ours, x, y, device),
                       "torchvision": step_fn(theirs, x, y, device)}, rounds=args.steps)
    print(ratio_lines(f"train step resnet50 ({device.type}, batch {args.batch}, {args.size}px, "
                      f"{args.threads} threads):", samples, "netc", "torchvision", "<= 1.03"))


if __name__ == "__main__":
    main()
