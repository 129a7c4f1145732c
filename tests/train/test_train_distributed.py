from __future__ import annotations

import json
import sys

import pytest
import torch

from netc.train import load_recipe, train
from netc.train.torch_distributed import (context_from_env, inside_torchrun, launch,
                                          torchrun_argv)
from netc.train.errors import TrainError
from netc_train_helpers import worker_command, worker_env
from netc_train_models import tiny_cnn_source

SETTINGS = {"epochs": 2, "batch_size": 64, "crop_padding": 1, "checkpoint_every_steps": 10}


def test_torchrun_argv():
    worker = [sys.executable, "-m", "netc.cli", "train", "net.yaml"]
    argv = torchrun_argv(worker, 4)
    assert argv[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert argv[3:7] == ["--nproc-per-node", "4", "--standalone", "--no-python"]
    assert argv[7:] == worker
    multi = torchrun_argv(worker, 8, nnodes=2, rdzv_endpoint="node0:29400")
    assert multi[5:13] == ["--nnodes", "2", "--rdzv-backend", "c10d", "--rdzv-endpoint",
                           "node0:29400", "--rdzv-id", "netc"]
    with pytest.raises(TrainError, match="needs --rdzv-endpoint"):
        torchrun_argv(worker, 8, nnodes=2)
    with pytest.raises(TrainError, match="HOST:PORT"):
        torchrun_argv(worker, 8, nnodes=2, rdzv_endpoint="node0")
    with pytest.raises(TrainError, match="at least 1"):
        torchrun_argv(worker, 0)


def test_context_from_env():
    assert not inside_torchrun({}) and context_from_env({}).world_size == 1
    context = context_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (context.rank, context.world_size, context.local_rank, context.is_main) == \
        (3, 4, 1, False)


def test_two_gloo_processes_match_one(tmp_path, quiet, capfd):
    """tiny-cnn has one input channel and trains on random crops, the batches whose layout
    made every rank's DDP warn that gradient strides did not match its buckets."""
    assignments = [arg for key, value in SETTINGS.items() for arg in ("--set", f"{key}={value}")]
    command = worker_command("tiny-cnn", *assignments,
                             "--out", str(tmp_path / "ddp"),
                             "--save-final", str(tmp_path / "final-{rank}.pt"))
    assert launch(command, nproc_per_node=2, env=worker_env()) == 0
    output = "".join(capfd.readouterr())
    assert "epoch 2/2" in output  # the ranks' output is what was read here
    assert "Grad strides do not match bucket view strides" not in output
    assert "Warning" not in output

    ranks = [torch.load(tmp_path / f"final-{rank}.pt", weights_only=True) for rank in (0, 1)]
    for key, value in ranks[0].items():
        assert torch.equal(value, ranks[1][key]), key
    assert not (tmp_path / "final-0.pt").samefile(tmp_path / "final-1.pt")

    single = train(tiny_cnn_source(), load_recipe(None, SETTINGS), tmp_path / "one",
                   progress=quiet)
    for key, value in single.model.state_dict().items():
        torch.testing.assert_close(ranks[0][key], value, rtol=1e-4, atol=1e-5)
    ddp_rows = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl")
                .read_text().splitlines()]
    assert len(ddp_rows) == len(single.history) == 2
    for ddp_row, row in zip(ddp_rows, single.history):
        for key in ("train_loss", "test_loss"):
            assert ddp_row[key] == pytest.approx(row[key], rel=1e-5), key
        assert ddp_row["train_acc"] == pytest.approx(row["train_acc"], abs=1e-3)
