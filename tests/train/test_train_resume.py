"""A run killed with SIGKILL mid-epoch and resumed ends with the weights of a run never stopped."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import torch

from netc.train.torch_checkpoint import load_checkpoint
from netc_train_helpers import REPO, run_worker, worker_command, worker_env

FACTORY = "slow-resnet"
SETTINGS = ["--set", "epochs=2", "--set", "batch_size=100", "--set", "checkpoint_every_steps=4"]


def wait_for_mid_epoch_checkpoint(process: subprocess.Popen, path, timeout: float = 120):
    deadline, seen = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before a mid-epoch checkpoint of epoch 2"
        stamp = path.stat().st_mtime_ns if path.exists() else None
        if stamp != seen:  # read each new checkpoint once; polling must not starve the run
            seen, saved = stamp, load_checkpoint(path)
            if saved["epoch"] == 1 and saved["step_in_epoch"] > 0:
                return saved
        time.sleep(0.02)
    raise AssertionError("no mid-epoch checkpoint appeared")


def without_timing(rows):
    return [{k: v for k, v in row.items() if k not in ("images_per_s", "time_s")} for row in rows]


def test_sigkill_mid_epoch_then_resume_matches(tmp_path):
    killed_dir, whole_dir = tmp_path / "killed", tmp_path / "whole"
    process, whole = (subprocess.Popen(worker_command(FACTORY, *SETTINGS, "--out", str(out)),
                                       env=worker_env(), cwd=REPO, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True)
                      for out in (killed_dir, whole_dir))
    try:
        saved = wait_for_mid_epoch_checkpoint(process, killed_dir / "checkpoints" / "last.pt")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        resumed = run_worker(FACTORY, "--resume", str(killed_dir))
        assert whole.wait(timeout=180) == 0, whole.stderr.read()
    finally:
        process.kill()
        whole.kill()
    assert process.returncode == -signal.SIGKILL
    assert saved["step_in_epoch"] < 15  # 15 steps per epoch: the kill cut epoch 2 short
    assert "resuming" in resumed.stderr

    final_killed = load_checkpoint(killed_dir / "checkpoints" / "last.pt")
    final_whole = load_checkpoint(whole_dir / "checkpoints" / "last.pt")
    assert final_killed["epoch"] == final_whole["epoch"] == 2
    for key, value in final_whole["model"].items():
        assert torch.equal(value, final_killed["model"][key]), key
    rows = [[json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
            for d in (killed_dir, whole_dir)]
    assert without_timing(rows[0]) == without_timing(rows[1])
