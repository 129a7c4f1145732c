"""Training throughput, side by side in one run: netc's ResNet-50 vs torchvision's resnet50, and
netc's fast CIFAR net (ResNet-9, DAWNBench style), on synthetic data.

Same settings for both: bf16 autocast (on CUDA), channels_last, torch.compile, SGD + Nesterov
(fused on CUDA, as `netc train` uses it).
Steps alternate between the two models in rounds so machine drift hits both alike. Prints
images/s, the ratio netc / torchvision (goal >= 1.0), and model FLOPs utilisation (MFU):
3 x 2 x MACs per image (forward + backward) x images/s over the device's peak.

The last ResNet-50 row is `netc train` itself (netc.train.train on byte images held on the
device: batch gathering, normalisation, learning-rate schedule, statistics and progress
included), its second epoch's images/s against torchvision's bare step above.

    python benchmarks/train_throughput.py                       # GPU defaults
    python benchmarks/train_throughput.py --tiny                # CPU smoke run (CI)
"""
import argparse
import statistics
import tempfile
from contextlib import nullcontext
from pathlib import Path

from sidebyside import compare, pin_threads

pin_threads(2)  # before torch starts its thread pool; the GPU figures do not depend on it
import torch  # noqa: E402
import torchvision  # noqa: E402

import netc  # noqa: E402
from netc.runs import model_source  # noqa: E402
from netc.train import make_recipe, train  # noqa: E402
from netc.train.progress import Progress  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WEIGHT_DECAY = 5e-4  # on every parameter, in the bare steps and in `netc train` alike
# Dense bf16 tensor-core peaks, most specific name first (an "H100 PCIe" is also an "H100").
PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.0, "H200": 989.0,
               "A100": 312.0}


def make_step(model, batch, size, classes, args, device):
    model = model.to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                          weight_decay=WEIGHT_DECAY, fused=device.type == "cuda")
    loss_fn = torch.nn.CrossEntropyLoss()
    fwd = torch.compile(model, mode=args.compile_mode) if args.compile else model
    x = torch.randn(batch, 3, size, size, device=device).to(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,), device=device)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else nullcontext())

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = loss_fn(fwd(x), y)
        loss.backward()
        opt.step()
    return step


def images_per_second(steps: dict, batch: int, rounds: int, per_round: int, device) -> dict:
    """Median images/s of each step, timed in interleaved rounds of `per_round` steps."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def round_of(step):
        def run():
            for _ in range(per_round):
                step()
            sync()
        return run

    samples = compare({k: round_of(step) for k, step in steps.items()}, rounds, warmup=1)
    return {k: batch * per_round / statistics.median(s.wall) for k, s in samples.items()}


def train_loop_rate(graph, args) -> float:
    """images/s of `netc train`'s second epoch (the first one compiles)."""
    steps = args.rounds * args.per_round
    recipe = make_recipe({
        "data": f"synthetic:{steps * args.batch}", "epochs": 2, "batch_size": args.batch,
        "eval_batch_size": args.batch, "lr": 0.01, "schedule": "constant", "augment": False,
        "weight_decay": WEIGHT_DECAY, "no_decay_on_norm_and_bias": False,
        "precision": "bf16" if args.bf16 else "fp32", "channels_last": True,
        "compile": args.compile, "device": "auto"})
    with tempfile.TemporaryDirectory() as runs:
        result = train(model_source(graph, ""), recipe, f"{runs}/run",
                       progress=Progress(enabled=False))
    return result.history[-1]["images_per_s"]


def peak_flops(device, override):
    if override:
        return override * 1e12
    if device.type == "cuda":
        gpu = torch.cuda.get_device_name(device)
        return next((v * 1e12 for k, v in PEAK_TFLOPS.items() if k in gpu), None)
    return None


def report(name, rate, macs, peak, baseline=None):
    flops = 6 * macs * rate
    mfu = f"MFU {flops / peak:.1%}" if peak else f"{flops / 1e12:.2f} TFLOP/s"
    ratio = f"  ratio {rate / baseline:.3f}" if baseline else ""
    print(f"{name:28} {rate:10.1f} images/s  {mfu}{ratio}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="CPU smoke run: small sizes, no compile")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--cifar-batch", type=int, default=512)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--per-round", type=int, default=10)
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--compile-mode", default="default",
                    help="torch.compile mode for the side-by-side steps, e.g. max-autotune")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    args.compile = not args.tiny
    args.bf16 = device.type == "cuda"
    if args.tiny:
        args.batch, args.cifar_batch, args.size, args.rounds, args.per_round = 2, 4, 64, 2, 2
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    peak = peak_flops(device, args.peak_tflops)
    print(f"device {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, "
          f"torch {torch.__version__}, bf16 {args.bf16}, compile {args.compile} "
          f"({args.compile_mode}), channels_last, peak "
          f"{f'{peak / 1e12:.0f} TFLOP/s' if peak else 'unknown'}")

    torch.manual_seed(0)
    graph = netc.load(EXAMPLES / "resnet50.yaml", {"size": args.size})
    theirs = torchvision.models.resnet50()
    ours = netc.build(graph)
    ours.load_state_dict(theirs.state_dict())
    steps = {"netc": make_step(ours, args.batch, args.size, 1000, args, device),
             "torchvision": make_step(theirs, args.batch, args.size, 1000, args, device)}
    rates = images_per_second(steps, args.batch, args.rounds, args.per_round, device)
    del steps, ours, theirs  # free their memory for the training loop's own model
    print(f"ResNet-50 training, batch {args.batch}, {args.size}x{args.size}:")
    report("  torchvision resnet50", rates["torchvision"], graph.macs, peak)
    report("  netc resnet50", rates["netc"], graph.macs, peak, rates["torchvision"])
    # `netc train` compiles in torch's default mode whatever --compile-mode says.
    loop = "  netc train, whole loop" + ("" if args.compile_mode == "default" else " (default)")
    report(loop, train_loop_rate(graph, args), graph.macs, peak, rates["torchvision"])

    cifar = netc.load(EXAMPLES / "papers" / "resnet9_dawnbench_cifar.yaml")
    step = make_step(netc.build(cifar), args.cifar_batch, 32, 10, args, device)
    rate = images_per_second({"netc": step}, args.cifar_batch, args.rounds, args.per_round, device)
    print(f"Fast CIFAR net (ResNet-9), batch {args.cifar_batch}, 32x32:")
    report("  netc resnet9", rate["netc"], cifar.macs, peak)


if __name__ == "__main__":
    main()
