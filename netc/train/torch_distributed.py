"""Multi-process data-parallel training through torchrun.

The launcher side builds a ``torch.distributed.run`` command line that re-runs a worker command
(typically the same ``netc train`` invocation) in N processes per node. The worker side reads
the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK) and joins the process group: gloo
on CPU, NCCL on GPU. Sharding, per-rank batch and rank-0-only output live in the trainer.

With the same global batch, N processes take the steps one process takes, up to rounding in the
gradient all-reduce, except through batch norm (each rank normalises over its own
batch_size / N images; torch's SyncBatchNorm, which would pool them, runs on GPU only) and
through dropout and drop path, whose masks each rank draws from its own stream.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch

from netc.train.errors import TrainError

_ENDPOINT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
_BACKENDS = {"cuda": "nccl", "cpu": "gloo"}


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def inside_torchrun(environ: Mapping[str, str] | None = None) -> bool:
    """True in a process torchrun started (so a CLI must train, not launch again)."""
    environ = os.environ if environ is None else environ
    return "LOCAL_RANK" in environ and "WORLD_SIZE" in environ


def context_from_env(environ: Mapping[str, str] | None = None) -> DistContext:
    environ = os.environ if environ is None else environ
    if not inside_torchrun(environ):
        return DistContext()
    return DistContext(rank=int(environ["RANK"]), world_size=int(environ["WORLD_SIZE"]),
                       local_rank=int(environ["LOCAL_RANK"]))


def join_process_group(context: DistContext, device: torch.device) -> None:
    import torch.distributed as dist

    if context.active and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)  # NCCL binds each process to the GPU current here
        dist.init_process_group(_BACKENDS.get(device.type, "gloo"))


def leave_process_group(context: DistContext, finished: bool = True) -> None:
    """Tear down the process group. A run that finished waits first until every rank is done
    (rank 0 still writes the last checkpoint and the plot): a rank that tears down while
    another still uses the group can abort in gloo's threads. A failed run leaves at once, as
    the other ranks may never arrive."""
    import torch.distributed as dist

    if context.active and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def sum_across_ranks(context: DistContext, values: torch.Tensor) -> torch.Tensor:
    """Element-wise sum of ``values`` over all ranks (the identity in a single process)."""
    if context.active:
        import torch.distributed as dist

        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def broadcast_buffers(context: DistContext, module: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (batch-norm statistics), which DDP syncs only at the
    start of each forward pass, so that evaluation and the saved model agree across ranks."""
    if context.active:
        import torch.distributed as dist

        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def torchrun_argv(worker_command: Sequence[str], nproc_per_node: int, nnodes: int = 1,
                  rdzv_endpoint: str | None = None, rdzv_id: str = "netc") -> list[str]:
    """The command that starts ``worker_command`` in ``nproc_per_node`` processes on this node.

    One node uses a private standalone rendezvous; several meet at ``rdzv_endpoint`` (HOST:PORT,
    the same on every node) through the c10d rendezvous.
    """
    if nproc_per_node < 1:
        raise TrainError(f"--nproc-per-node must be at least 1, got {nproc_per_node}")
    if nnodes < 1:
        raise TrainError(f"--nnodes must be at least 1, got {nnodes}")
    if not worker_command:
        raise TrainError("no worker command to launch")
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node",
            str(nproc_per_node)]
    if nnodes == 1 and rdzv_endpoint is None:
        argv.append("--standalone")
    else:
        if rdzv_endpoint is None:
            raise TrainError(f"--nnodes {nnodes} needs --rdzv-endpoint HOST:PORT",
                             hint="the address of one node, reachable from all of them")
        if not _ENDPOINT.match(rdzv_endpoint):
            raise TrainError(f"--rdzv-endpoint must be HOST:PORT, got '{rdzv_endpoint}'")
        argv += ["--nnodes", str(nnodes), "--rdzv-backend", "c10d",
                 "--rdzv-endpoint", rdzv_endpoint, "--rdzv-id", rdzv_id]
    # The worker command is complete (it names its own interpreter), so torchrun must not
    # prepend one.
    return argv + ["--no-python", *worker_command]


# Set for the processes `launch` starts: the launching process reports on the run (a Ctrl-C's
# resume command), so they stay quiet.
LAUNCHED_ENV = "NETC_LAUNCHED"


def speaks_for_the_run() -> bool:
    """Whether this process reports on the run: a plain process, or rank 0 of a torchrun that
    netc did not start itself."""
    if not inside_torchrun():
        return True
    return os.environ.get("RANK", "0") == "0" and not os.environ.get(LAUNCHED_ENV)


def launch(worker_command: Sequence[str], nproc_per_node: int, nnodes: int = 1,
           rdzv_endpoint: str | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run ``worker_command`` under torchrun and return its exit status."""
    argv = torchrun_argv(worker_command, nproc_per_node, nnodes, rdzv_endpoint)
    environment = dict(os.environ if env is None else env)
    environment[LAUNCHED_ENV] = "1"
    # N processes on one machine would each start one thread per core and fight for them.
    environment.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1)
                                                      // max(1, nproc_per_node))))
    return subprocess.run(argv, env=environment, check=False).returncode
