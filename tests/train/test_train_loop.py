from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch import nn

import netc.train.torch_checkpoint as checkpoint_module
import netc.train.torch_trainer as trainer_module
from netc.train import load_recipe, resume, train
from netc.train.errors import TrainError
from netc.train.recipe import recipe_from_dict
from netc.train.run_folder import RunFolder
from netc.train.torch_checkpoint import atomic_save, load_checkpoint
from netc.train.torch_distributed import DistContext
from netc.train.torch_optim import load_optimizer_state
from netc.train.torch_trainer import TorchSession as _Trainer
from netc_train_models import TinyCNN, small_resnet_source, tiny_cnn_source

RUN_FILES = ("spec.yaml", "recipe.yaml", "metrics.jsonl", "curves.png", "checkpoints/last.pt",
             "checkpoints/best.pt")


def test_digits_training_writes_a_run_folder(tmp_path, quiet):
    recipe = load_recipe(None, {"epochs": 5})
    result = train(small_resnet_source(), recipe, tmp_path / "run", progress=quiet)
    assert result.run_dir == tmp_path / "run"
    for name in RUN_FILES:
        assert (result.run_dir / name).is_file(), name
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text()
            .splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4, 5]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr",
            "images_per_s", "time_s"} <= set(rows[0])
    assert rows[-1]["test_acc"] >= 0.95
    assert load_recipe(result.run_dir / "recipe.yaml") == recipe
    saved = load_checkpoint(result.run_dir / "checkpoints" / "last.pt")  # weights_only=True
    assert saved["epoch"] == 5 and saved["step_in_epoch"] == 0
    assert saved["spec_text"] == small_resnet_source().spec_text
    assert recipe_from_dict(saved["recipe"]) == recipe
    best = load_checkpoint(result.run_dir / "checkpoints" / "best.pt")
    chosen = max(rows, key=lambda row: (row["val_acc"], -row["val_loss"], -row["epoch"]))
    assert best["epoch"] == chosen["epoch"] == best["best"]["epoch"]
    assert best["best"]["val_acc"] == result.best_accuracy == chosen["val_acc"]


def test_many_options_together(tmp_path, quiet):
    recipe = load_recipe(None, {
        "data": "synthetic:96", "epochs": 2, "batch_size": 16, "optimizer": "adamw", "lr": 1e-3,
        "schedule": "step", "step_milestones": [1], "warmup_epochs": 0.5,
        "label_smoothing": 0.1, "precision": "bf16", "channels_last": True, "augment": True,
        "crop_padding": 2, "flip": True, "val_fraction": 0.25, "checkpoint_every_steps": 2})
    result = train(tiny_cnn_source(), recipe, tmp_path / "run", progress=quiet)
    assert {"val_loss", "val_acc"} <= set(result.history[0])
    assert len(result.history) == 2


class NaNAfter(nn.Module):
    """Produces NaN logits from its ``limit``-th training forward on."""

    def __init__(self, limit: int):
        super().__init__()
        self.inner, self.limit, self.calls = TinyCNN(), limit, 0

    def forward(self, x):
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.limit:
                out = out * float("nan")
        return out


@pytest.mark.parametrize("read_every", [1, 5])
def test_non_finite_loss_names_epoch_and_step(tmp_path, quiet, monkeypatch, read_every):
    monkeypatch.setattr(trainer_module, "read_every_steps", lambda device: read_every)
    source = dataclasses.replace(tiny_cnn_source(), build=lambda: NaNAfter(limit=3))
    with pytest.raises(TrainError) as err:
        train(source, load_recipe(None, {"epochs": 1}), tmp_path / "run", progress=quiet)
    # 1,500 digits training images, 10% held out for validation, 64 a batch: 21 full steps
    assert "the loss became nan at epoch 1, step 3 of 21" in err.value.message
    assert "lower lr" in err.value.hint
    assert not (tmp_path / "run/checkpoints/last.pt").exists()


def test_reading_statistics_every_few_steps_changes_nothing(tmp_path, monkeypatch, quiet):
    recipe = load_recipe(None, {"epochs": 2, "checkpoint_every_steps": 7})
    runs = {}
    for read_every in (1, 4):
        monkeypatch.setattr(trainer_module, "read_every_steps", lambda device: read_every)
        runs[read_every] = train(small_resnet_source(), recipe, tmp_path / str(read_every),
                                 progress=quiet)
    for key, value in runs[1].model.state_dict().items():
        assert torch.equal(value, runs[4].model.state_dict()[key]), key
    drop_time = [{k: v for k, v in row.items() if k not in ("images_per_s", "time_s")}
                 for row in runs[1].history]
    assert drop_time == [{k: v for k, v in row.items() if k not in ("images_per_s", "time_s")}
                         for row in runs[4].history]


def test_atomic_save_keeps_the_old_file_when_a_write_dies(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    atomic_save({"format": checkpoint_module.FORMAT, "value": torch.ones(3)}, path)

    def dying_save(payload, handle):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", dying_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"format": checkpoint_module.FORMAT, "value": torch.zeros(3)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["value"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_damaged_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "last.pt")


class WithDropout(nn.Module):
    """TinyCNN whose logits pass through dropout: training draws from torch's global generator."""

    def __init__(self):
        super().__init__()
        self.inner, self.drop = TinyCNN(), nn.Dropout(0.3)

    def forward(self, x):
        return self.drop(self.inner(x))


@pytest.mark.parametrize("model", ["resnet", "dropout"])
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, monkeypatch, quiet, model):
    recipe = load_recipe(None, {"epochs": 2, "checkpoint_every_steps": 7})
    source = small_resnet_source()
    if model == "dropout":
        source = dataclasses.replace(tiny_cnn_source(), build=WithDropout)
    whole = train(source, recipe, tmp_path / "whole", progress=quiet)

    real_save, saves = _Trainer._save, []

    def save_then_stop(self):
        real_save(self)
        saves.append(self.global_step)
        if len(saves) == 5:  # mid-epoch 2, after an end-of-epoch checkpoint
            raise KeyboardInterrupt

    monkeypatch.setattr(_Trainer, "_save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train(source, recipe, tmp_path / "cut", progress=quiet)
    monkeypatch.setattr(_Trainer, "_save", real_save)
    # 21 steps an epoch: saves at steps 7, 14, the end of epoch 1, then 7 and 14 of epoch 2
    assert load_checkpoint(tmp_path / "cut/checkpoints/last.pt")["step_in_epoch"] == 14
    resumed = resume(tmp_path / "cut", source, progress=quiet)
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history]


def test_resume_refuses_another_network(tmp_path, quiet):
    train(tiny_cnn_source(), load_recipe(None, {"data": "synthetic:32", "epochs": 1,
                                                "batch_size": 8}),
          tmp_path / "run", progress=quiet)
    other = dataclasses.replace(tiny_cnn_source(), ir_hash="0123")
    with pytest.raises(TrainError, match="trained from a different network") as err:
        resume(tmp_path / "run", other, progress=quiet)
    assert "spec.yaml" in err.value.hint


def test_a_run_folder_is_not_reused(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.lock_new().release()
    (run.path / "metrics.jsonl").write_text("")
    with pytest.raises(TrainError, match="already holds a run"):
        run.lock_new()
    first = RunFolder.fresh("a/b c", runs_root=tmp_path).path
    second = RunFolder.fresh("a/b c", runs_root=tmp_path).path
    assert first != second and first.name.startswith("a-b-c-")


def test_progress_draws_a_bar_on_a_terminal_and_lines_elsewhere():
    import io

    from netc.train.progress import Progress

    row = {"epoch": 2, "train_loss": 0.5, "train_acc": 0.9, "test_loss": 0.4, "test_acc": 0.95,
           "lr": 0.01, "images_per_s": 1234.0, "time_s": 1.5}
    live, plain = io.StringIO(), io.StringIO()
    for stream, is_live in ((live, True), (plain, False)):
        progress = Progress(stream, live=is_live)
        progress.step(2, 5, 10, 10, 1234.0, 65.0, 0.5)
        progress.epoch(row, 5)
    assert live.getvalue().startswith("\repoch 2/5 [########################] 10/10")
    assert "ETA 1:05" in live.getvalue()
    assert plain.getvalue() == ("epoch 2/5  train loss 0.5000 acc 90.00%  test loss 0.4000 "
                                "acc 95.00%  lr 0.01  1234 img/s  1.5s\n")


def test_model_randomness_depends_on_seed_rank_and_step():
    def draws(seed, rank, step):
        trainer = _Trainer.__new__(_Trainer)  # only what reseeding reads
        trainer.recipe = load_recipe(None, {"seed": seed})
        trainer.context = DistContext(rank=rank, world_size=2)
        trainer.epochs_done, trainer.steps_per_epoch, trainer.step_in_epoch = 1, 10, step
        trainer._seed_model_randomness()
        return torch.rand(4)

    assert torch.equal(draws(3, 0, 5), draws(3, 0, 5))
    for other in [(4, 0, 5), (3, 1, 5), (3, 0, 6)]:
        assert not torch.equal(draws(3, 0, 5), draws(*other)), other


@pytest.mark.parametrize("saved_fused", [True, False])
def test_a_loaded_optimizer_state_keeps_this_devices_implementation(saved_fused):
    def sgd(fused):
        model = nn.Linear(3, 2)
        return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, fused=fused)

    saved, here = sgd(saved_fused), sgd(not saved_fused)
    load_optimizer_state(here, saved.state_dict())
    assert bool(here.param_groups[0]["fused"]) is (not saved_fused)
    assert here.param_groups[0]["momentum"] == 0.9
