"""Side-by-side timing for the benchmark scripts: ours against a reference, in one process.

On a shared machine a single wall-clock ratio swings by 20% or more, and OpenMP workers that
spin-wait for work can make one run many times slower than the next. So every script:
- pins its thread counts and makes idle OpenMP workers sleep (`pin_threads`, called before any
  framework is imported),
- interleaves the two sides call by call, alternating which goes first (A B B A ...), over
  several rounds,
- reports process CPU time beside wall time, each as a median with its min-max spread, and the
  ratio of the medians for both. CPU time counts every thread's work, so it is the figure that
  load from other processes disturbs least.
"""
from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field


def pin_threads(threads: int) -> None:
    """Fix the intra-op thread count before torch, TensorFlow or NumPy start their pools."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS"):
        os.environ[var] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle workers sleep, not spin
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)
    if not getattr(pin_threads, "interop_set", False):
        torch.set_num_interop_threads(1)  # may be set once per process
        pin_threads.interop_set = True


@dataclass
class Samples:
    wall: list = field(default_factory=list)
    cpu: list = field(default_factory=list)

    def add(self, fn, per_call: int = 1) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        fn()
        self.wall.append((time.perf_counter() - wall) / per_call)
        self.cpu.append((time.process_time() - cpu) / per_call)


def compare(sides: dict, rounds: int, warmup: int = 1, per_call: int = 1) -> dict[str, Samples]:
    """Time each callable `rounds` times, interleaved and alternating the order of the sides."""
    for fn in sides.values():
        for _ in range(warmup):
            fn()
    samples = {name: Samples() for name in sides}
    names = list(sides)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            samples[name].add(sides[name], per_call)
    return samples


def spread(values: list, scale: float, unit: str) -> str:
    return (f"{statistics.median(values) * scale:.1f} {unit} "
            f"[{min(values) * scale:.1f}-{max(values) * scale:.1f}]")


def ratio_lines(title: str, samples: dict, ours: str, theirs: str, goal: str = "",
                scale: float = 1e3, unit: str = "ms") -> str:
    """Medians with spread for both sides, and ours/theirs for wall and CPU time."""
    a, b = samples[ours], samples[theirs]
    lines = [title]
    for name in (ours, theirs):
        s = samples[name]
        lines.append(f"  {name:22} wall {spread(s.wall, scale, unit):28} "
                     f"cpu {spread(s.cpu, scale, unit)}")
    wall = statistics.median(a.wall) / statistics.median(b.wall)
    cpu = statistics.median(a.cpu) / statistics.median(b.cpu)
    lines.append(f"  ratio {ours}/{theirs}: wall {wall:.3f}  cpu {cpu:.3f}"
                 + (f"  (goal {goal})" if goal else ""))
    return "\n".join(lines)
