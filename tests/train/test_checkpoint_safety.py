"""Checkpoints as untrusted, fallible files: checksums, field checks, non-finite model state, a
full disk and a locked run folder (torch trainer, and the parts both trainers share)."""

from __future__ import annotations

import dataclasses
import struct
import zipfile

import pytest
import torch
from torch import nn

import netc.train.torch_checkpoint as checkpoint_module
from netc.train import load_recipe, resume, train
from netc.train.atomic import NoSpaceError, atomic_write
from netc.train.errors import TrainError
from netc.train.run_folder import RunLock, read_metrics
from netc.train.torch_checkpoint import atomic_save, load_checkpoint
from netc_train_helpers import TINY
from netc_train_models import TinyCNN, tiny_cnn_source

SYNTHETIC = {"data": "synthetic:64", "epochs": 2, "batch_size": 16}  # 64 - 7 validation images


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished two-epoch run of a tiny CNN on synthetic data."""
    from netc.train.progress import Progress

    out = tmp_path_factory.mktemp("runs") / "run"
    train(tiny_cnn_source(), load_recipe(None, SYNTHETIC), out, progress=Progress(enabled=False))
    return out


def _data_offset(path, member_suffix: str) -> int:
    """Where a zip member's bytes start (torch pads local headers, so read the local one)."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(member_suffix))
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        header = handle.read(30)
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_length + extra_length


def test_a_flipped_byte_in_a_weight_is_caught(finished, tmp_path):
    copy = tmp_path / "last.pt"
    copy.write_bytes((finished / "checkpoints" / "last.pt").read_bytes())
    data = bytearray(copy.read_bytes())
    data[_data_offset(copy, "data/0") + 2] ^= 0x10  # a bit of the first stored tensor
    copy.write_bytes(bytes(data))
    torch.load(copy, weights_only=True)  # torch itself reads it without complaint
    with pytest.raises(TrainError, match="checksum mismatch"):
        load_checkpoint(copy)


def _resaved(finished, tmp_path, change) -> "Path":  # noqa: F821
    """A copy of the run whose last checkpoint was edited and re-saved with a valid checksum,
    as a foreign tool or another netc version could have written it."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    payload = load_checkpoint(run / "checkpoints" / "last.pt")
    payload.pop("checksum")
    change(payload)
    atomic_save(payload, run / "checkpoints" / "last.pt")
    return run


def _set(key, value):
    return lambda payload: payload.__setitem__(key, value)


def _wrong_shape(payload):
    payload["model"]["fc.weight"] = torch.zeros(3, 3)


@pytest.mark.parametrize("change, message", [
    (lambda payload: payload.pop("epoch"), "the checkpoint lacks 'epoch'"),
    (_set("epoch", "2"), "checkpoint field 'epoch' must be an integer, got str"),
    (_set("epoch", 10 ** 9), "says 1000000000 epochs are done, but its recipe trains 2"),
    (_set("epoch", -1), "says -1 epochs are done"),
    (_set("best", 0.5), "checkpoint field 'best' must be dict or NoneType, got float"),
    (_set("model", {"fc.weight": "text"}), "'model' must map names to tensors"),
    (_wrong_shape, "(?s)its 'model' state does not fit this run: .*size mismatch for fc.weight"),
    (_set("step_in_epoch", 99), "at step 99 of an epoch of 3 steps"),
])
def test_a_checkpoint_that_does_not_fit_is_a_clear_error(finished, tmp_path, quiet, change,
                                                         message):
    run = _resaved(finished, tmp_path, change)
    with pytest.raises(TrainError, match=message):
        resume(run, tiny_cnn_source(), {"epochs": 3}, progress=quiet)


class OverflowsLater(nn.Module):
    """TinyCNN plus a batch norm on a side branch whose input grows by 1e30 from the
    ``start``-th training forward on: its running variance overflows to inf while the loss,
    which never sees the branch, stays finite."""

    def __init__(self, start: int):
        super().__init__()
        self.inner, self.side, self.start, self.calls = TinyCNN(), nn.BatchNorm2d(1), start, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            self.side(x.detach() * (1e30 if self.calls >= self.start else 1.0))
        return self.inner(x)


def test_non_finite_batch_norm_statistics_stop_the_run_before_a_save(tmp_path, quiet):
    # synthetic:64 less 7 validation images, 16 a batch: 3 steps an epoch, so the statistics
    # overflow at the last step of epoch 2.
    source = dataclasses.replace(tiny_cnn_source(), build=lambda: OverflowsLater(start=6))
    with pytest.raises(TrainError, match=r"the batch-norm statistic 'side.running_var' became "
                                         r"inf during epoch 2") as err:
        train(source, load_recipe(None, SYNTHETIC), tmp_path / "run", progress=quiet)
    assert "lower lr" in err.value.hint
    saved = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert saved["epoch"] == 1 and torch.isfinite(saved["model"]["side.running_var"]).all()
    assert [row["epoch"] for row in read_metrics(tmp_path / "run")] == [1]


def test_a_mid_epoch_checkpoint_is_not_written_with_non_finite_statistics(tmp_path, quiet):
    source = dataclasses.replace(tiny_cnn_source(), build=lambda: OverflowsLater(start=1))
    recipe = load_recipe(None, {**SYNTHETIC, "checkpoint_every_steps": 2})
    with pytest.raises(TrainError, match="became inf during epoch 1"):
        train(source, recipe, tmp_path / "run", progress=quiet)
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()


def _write_to_a_full_disk(*_args) -> None:
    with open("/dev/full", "wb") as full:  # every write there fails with ENOSPC
        full.write(b"\0" * 65536)
        full.flush()


@pytest.mark.skipif(not __import__("os").path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_names_the_intact_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"previous")
    with pytest.raises(NoSpaceError) as err:
        atomic_write(path, _write_to_a_full_disk)
    assert f"the previous last.pt is intact ({path})" in err.value.message
    assert path.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


@pytest.mark.skipif(not __import__("os").path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_during_training_exits_2_with_the_intact_checkpoint(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from netc.cli import main

    real_save, calls = torch.save, []

    def fills_the_disk_on_the_second_save(payload, handle):
        calls.append(1)
        if len(calls) == 2:
            _write_to_a_full_disk()
        real_save(payload, handle)

    monkeypatch.setattr(checkpoint_module.torch, "save", fills_the_disk_on_the_second_save)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", str(spec), "--data", "synthetic:64",
                                       "--epochs", "2", "--batch-size", "16", "--out", str(out)])
    assert result.exit_code == 2, result.output
    last = out / "checkpoints" / "last.pt"
    assert f"no space left on the device while writing {last}" in result.output
    assert f"the previous last.pt is intact ({last})" in result.output
    assert "Traceback" not in result.output
    assert load_checkpoint(last)["epoch"] == 1




def test_a_second_run_into_a_locked_folder_is_refused(tmp_path):
    from click.testing import CliRunner

    from netc.cli import main

    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    out = tmp_path / "run"
    out.mkdir()
    runner = CliRunner()
    command = ["train", str(spec), "--data", "synthetic:32", "--batch-size", "8", "--epochs", "1",
               "--out", str(out)]
    with RunLock(out):  # as a first run holds it while it trains
        result = runner.invoke(main, command)
        assert result.exit_code == 2, result.output
        assert f"{out} is being written by another run (process " in result.output
        assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing of its own written
    result = runner.invoke(main, command)
    assert result.exit_code == 0, result.output
    with RunLock(out):
        result = runner.invoke(main, ["train", str(spec), "--resume", str(out), "--epochs", "2"])
        assert result.exit_code == 2 and "being written by another run" in result.output
    assert [row["epoch"] for row in read_metrics(out)] == [1]


def test_eval_of_a_damaged_checkpoint_exits_2(tmp_path):
    from click.testing import CliRunner

    from netc.cli import main

    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(spec), "--data", "synthetic:32", "--batch-size",
                                  "8", "--epochs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    last = out / "checkpoints" / "last.pt"
    data = bytearray(last.read_bytes())
    data[_data_offset(last, "data/0") + 1] ^= 0x01
    last.write_bytes(bytes(data))
    result = runner.invoke(main, ["eval", str(last)])
    assert result.exit_code == 2
    assert f"error: {last}: checksum mismatch" in result.output and "Traceback" not in result.output
