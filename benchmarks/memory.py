"""Eval-mode peak memory, side by side in one run: netc's ResNet-50 vs torchvision's resnet50.

Each measurement runs in a fresh process with one thread and glibc's mmap threshold fixed at 64 KiB,
so every tensor buffer is mapped on allocation and unmapped when freed and the resident set follows
the live tensors. The process builds the model, runs one warm-up forward pass (one-time caches),
resets its peak resident set (Linux `clear_refs`), runs the measured pass under `torch.no_grad()`,
and reports the peak minus the resident set just before it: the memory the forward pass itself
needs, activations and workspace. Models alternate so load on the machine hits both alike; the
median of the repeats is printed with the ratio (goal: <= 1.10).

    python benchmarks/memory.py [--size 224] [--batch 8] [--repeats 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("netc", "torchvision")

CHILD = r"""
import gc, json, sys
import torch
torch.set_num_threads(1)
which, size, batch, spec = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]


def status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


if which == "netc":
    import netc
    model = netc.build(spec)
else:
    import torchvision
    model = torchvision.models.resnet50()
model.eval()
x = torch.randn(batch, 3, size, size)
with torch.no_grad():
    model(x)
    gc.collect()
    base = status("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM, the peak resident set, to the current one
        reset = True
    except OSError:
        reset = False
    model(x)
peak = status("VmHWM")
print(json.dumps({"peak": peak - base, "reset": reset}))
"""


def measure(which: str, size: int, batch: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "MALLOC_MMAP_THRESHOLD_": "65536", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CHILD, which, str(size), str(batch),
                          str(ROOT / "examples" / "resnet50.yaml")],
                         capture_output=True, text=True, env=env, timeout=900, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    peaks = {m: [] for m in MODELS}
    exact = True
    for r in range(args.repeats):
        for which in (MODELS if r % 2 == 0 else MODELS[::-1]):
            result = measure(which, args.size, args.batch)
            peaks[which].append(result["peak"] / 2**20)
            exact &= result["reset"]
    ours, theirs = (statistics.median(peaks[m]) for m in MODELS)
    spread = {m: f"{min(v):.1f}-{max(v):.1f}" for m, v in peaks.items()}
    print(f"eval forward peak memory, resnet50 (cpu, batch {args.batch}, {args.size}px, "
          f"median of {args.repeats}{'' if exact else ', peak not reset: includes building'}):")
    print(f"  netc        {ours:8.1f} MiB  (range {spread['netc']})")
    print(f"  torchvision {theirs:8.1f} MiB  (range {spread['torchvision']})")
    # a tiny pass can fit in memory the warm-up already took: then there is no peak to compare
    ratio = f"{ours / theirs:.3f}" if theirs > 0 else "n/a (the reference's pass took no new memory)"
    print(f"  ratio {ratio} (goal <= 1.10)")


if __name__ == "__main__":
    main()
