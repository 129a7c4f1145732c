"""The torch trainer: set-up from a recipe, the epoch loop and its checkpoints, exact resume,
evaluation and lesion studies of a checkpoint, and torchrun launches.

Exactness rests on four things: every random draw of the data pipeline comes from one saved
``torch.Generator``; the model's own draws (dropout, drop path) come from torch's global
generators, reseeded from (seed, rank, global step) wherever a resumed run can start; the learning
rate is a pure function of the global step; a checkpoint holds the epoch's shuffled order, the
step within the epoch and the data generator's state. So the steps after a resume are the steps an
uninterrupted run takes, bit for bit on the CPU. On a GPU the same data and learning rates follow,
but cuDNN's choice of kernels (cudnn.benchmark) may differ between processes, so the bits may too.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from netc.train.base import Session, Trainer
from netc.train.data import input_normalisation, load_data, split_validation
from netc.train.dense import IGNORE_INDEX, check_dense_fit, is_dense, mean_iou
from netc.train.errors import TrainError
from netc.train.initial import frozen_nodes, load_initial
from netc.train.progress import Progress
from netc.train.recipe import DATA_SEED_OFFSET, Recipe, cpu_precision_note
from netc.train.schedule import lr_at, steps_per_epoch
from netc.train.selection import Best
from netc.train.state_checks import (check_progress, first_non_finite, loss_error,
                                     non_finite_state_error)
from netc.train.torch_batches import Augmentation, DeviceSplit, draw_augmentation, rank_rows
from netc.train.torch_checkpoint import (FORMAT, atomic_save, capture_rng, load_checkpoint,
                                         restore_rng)
from netc.train.torch_dense import flat_pixels, write_predictions
from netc.train.torch_distributed import (DistContext, broadcast_buffers, context_from_env,
                                          inside_torchrun, join_process_group, launch,
                                          leave_process_group, speaks_for_the_run,
                                          sum_across_ranks)
from netc.train.torch_ema import WeightAverage
from netc.train.torch_embed import embed_checkpoint
from netc.train.torch_stream import announce_epoch, make_split
from netc.train.torch_evaluate import evaluate_checkpoint, score, summarize
from netc.train.torch_events import open_event_writer
from netc.train.torch_lesion import lesion_checkpoint
from netc.train.torch_optim import build_optimizer, load_optimizer_state, set_lr
from netc.train.torch_runtime import autocast, resolve_device
from netc.train.torch_transfer import Frozen, scale_groups
from netc.transfer import parse_lr_groups

if TYPE_CHECKING:
    from netc.train import ModelSource


def read_every_steps(device: torch.device) -> int:
    """How many steps' statistics the loop leaves on the device before reading them. On a GPU
    the host then queues steps ahead instead of waiting after each; on the CPU reading is free
    and the progress bar moves every step."""
    return 1 if device.type == "cpu" else 16


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


class TorchSession(Session):
    def __init__(self, source: "ModelSource", recipe: Recipe, context: DistContext,
                 recorder_for):
        self.source, self.recipe, self.context = source, recipe, context
        self.device = resolve_device(recipe.device, context.local_rank)
        if recipe.threads:
            torch.set_num_threads(recipe.threads)
        if self.device.type == "cuda":  # input sizes are fixed: let cuDNN pick its fastest kernels
            torch.backends.cudnn.benchmark = True
        data = load_data(recipe.data, source.input_shape, source.num_classes,
                         normalize=input_normalisation(source), stream=True)
        data = split_validation(data, recipe.val_fraction, recipe.seed)
        check_dense_fit(data, source)
        self.dense = is_dense(data)
        join_process_group(context, self.device)

        seed_everything(recipe.seed)
        model = source.build()
        load_initial(model, source)
        self.model = model.to(self.device)
        if recipe.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.num_classes = data.num_classes
        splits = {name: make_split(*data.split(name), data, self.device, recipe.channels_last,
                                   train=name == "train")
                  for name in ("train", "val", "test") if data.split_exists(name)}
        self.train_split = splits.pop("train")
        self.eval_splits = splits
        self.augmentation = Augmentation(recipe.crop_padding if recipe.augment else 0,
                                         recipe.augment and recipe.flip)
        self.steps_per_epoch = steps_per_epoch(len(self.train_split), recipe.batch_size)
        self.rows = rank_rows(recipe.batch_size, context.rank, context.world_size)
        self.generator = torch.Generator().manual_seed(recipe.seed + DATA_SEED_OFFSET)
        self.optimizer = build_optimizer(self.model, recipe, self._lr_groups())
        self.frozen = self._freeze()
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=recipe.precision == "fp16")
        self.criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing,
                                             ignore_index=IGNORE_INDEX if self.dense else -100)
        self.net = self._wrap(self.model)
        self.ema = WeightAverage(self.model, recipe.ema) if recipe.ema else None
        self.read_every = read_every_steps(self.device)
        self.pending: list[tuple[int, float, torch.Tensor]] = []
        self.recorder = recorder_for(recipe)
        if self.device.type == "cpu" and (note := cpu_precision_note(recipe)):
            self.recorder.progress.message(note)
        self.epochs_done = 0
        self.step_in_epoch = 0
        self.order: torch.Tensor | None = None
        self.sums = torch.zeros(3, dtype=torch.float64)  # loss * count, correct, count
        self.train_seconds = 0.0
        self.last_lr = self.recipe.lr

    def _wrap(self, model: nn.Module) -> nn.Module:
        net = model
        if self.context.active:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        if self.recipe.compile:
            net = torch.compile(net)
        return net

    @property
    def global_step(self) -> int:
        return self.epochs_done * self.steps_per_epoch + self.step_in_epoch

    # -- the loop ---------------------------------------------------------------------------

    @property
    def resume_step(self) -> int:
        return self.step_in_epoch

    def fit(self) -> None:
        while (self.epochs_done < self.recipe.epochs
               and not self.recorder.stops_early(self.epochs_done)):
            self._train_epoch()
            self._finish_epoch()

    def _lr_groups(self):
        if not self.recipe.lr_groups:
            return None
        factors = parse_lr_groups(self.recipe.lr_groups)
        return lambda groups: scale_groups(groups, self.model, self.source.graph, factors)

    def _freeze(self) -> Frozen | None:
        names = frozen_nodes(self.source, self.recipe)
        if not names:
            return None
        if self.recipe.unfreeze_epoch and self.context.active:
            raise TrainError("unfreeze_epoch in a distributed run: DDP fixes the parameters "
                             "it synchronises when it starts",
                             hint="train the frozen and the unfrozen phase as two runs, the "
                                  "second with init_weights from the first")
        return Frozen(self.model, names)

    def _train_epoch(self) -> None:
        if self.frozen is not None and self.recipe.unfreeze_epoch \
                and self.epochs_done >= self.recipe.unfreeze_epoch:
            self.frozen.release()
            self.frozen = None
            self.recorder.progress.message(f"epoch {self.epochs_done + 1}: unfrozen "
                                           f"({self.recipe.freeze}) from here on")
        recipe, steps = self.recipe, self.steps_per_epoch
        batch = recipe.batch_size
        if self.step_in_epoch == 0:
            self.order = torch.randperm(len(self.train_split), generator=self.generator)
            self.sums.zero_()
            self.train_seconds = 0.0
        order = self.order.to(self.device)  # one copy per epoch, not one per step
        announce_epoch(self.train_split, self.order, batch, self.rows, self.step_in_epoch, steps,
                       recipe.seed)
        self._seed_model_randomness()
        self.net.train()
        self._clock = (time.perf_counter(), self.train_seconds, self.step_in_epoch)
        for step in range(self.step_in_epoch, steps):
            indices = order[step * batch:(step + 1) * batch]
            draw = None
            if self.augmentation.active:
                draw = draw_augmentation(self.augmentation, batch, self.generator).take(self.rows)
            images, labels = self.train_split.batch(indices[self.rows], self.augmentation, draw)
            self.last_lr = lr_at(recipe, self.global_step, steps)
            set_lr(self.optimizer, self.last_lr)
            self.pending.append((step, self.last_lr, self._step(images, labels)))
            self.step_in_epoch = step + 1
            every = recipe.checkpoint_every_steps
            save = bool(every) and self.global_step % every == 0 and self.step_in_epoch < steps
            if save or len(self.pending) >= self.read_every or self.step_in_epoch == steps:
                self._read_pending()
            if save:
                self._check_finite_state()
                self._save()
                self._seed_model_randomness()

    def _seed_model_randomness(self) -> None:
        """Reseed torch's global generators (dropout, drop path) from (seed, rank, global step)
        at the points a run can resume from: epoch starts and mid-epoch checkpoints. A resumed
        run then draws what an uninterrupted one draws, and each rank of a distributed run draws
        its own masks for its own images."""
        state = np.random.SeedSequence([self.recipe.seed, self.context.rank, self.global_step])
        torch.manual_seed(int(state.generate_state(1, np.uint64)[0] >> np.uint64(1)))

    def _step(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """One optimiser step; returns this rank's (loss * count, correct, count), on the
        device: reading it would make the host wait for the device. A count is of images, or
        of labelled pixels for a per-pixel model."""
        with autocast(self.device, self.recipe.precision):
            logits = self.net(images)
            loss = self.criterion(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.model, first=self.global_step == 0)
        scores, labels = flat_pixels(logits.detach(), labels)
        count = len(labels)
        return torch.stack([loss.detach().double() * count,
                            (scores.argmax(dim=1) == labels).sum().double(),
                            loss.new_full((), count, dtype=torch.float64)])

    def _read_pending(self) -> None:
        """Bring the pending steps' statistics to the host (summed over ranks), stop on the
        first non-finite loss, add them to the epoch's sums and update the progress bar.
        Every rank reads at the same steps, so the all-reduce pairs up."""
        steps, rates, stats = zip(*self.pending)
        self.pending.clear()
        rows = sum_across_ranks(self.context, torch.stack(stats)).cpu()
        for step, lr, row in zip(steps, rates, rows):
            if not math.isfinite(float(row[0])):
                raise loss_error(float(row[0] / row[2]), self.epochs_done + 1, step + 1,
                                 self.steps_per_epoch, lr)
            self.sums += row
        started, seconds_before, first_step = self._clock
        elapsed = time.perf_counter() - started
        self.train_seconds = seconds_before + elapsed
        done, left = self.step_in_epoch, self.steps_per_epoch - self.step_in_epoch
        self.recorder.progress.step(self.epochs_done + 1, self.recipe.epochs, done, self.steps_per_epoch,
                           float(self.sums[2]) / max(1e-9, self.train_seconds),
                           elapsed / max(1, done - first_step) * left,
                           float(rows[-1][0] / rows[-1][2]))

    def _check_finite_state(self) -> None:
        """Stop, before anything is saved, when a weight or a batch-norm statistic is NaN or
        infinite: the loss can stay finite while running statistics overflow. One host read."""
        named = [(name, value) for name, value in self.model.state_dict().items()
                 if value.is_floating_point()]
        finite = torch.stack([torch.isfinite(value).all() for _, value in named]).cpu()
        if bool(finite.all()):
            return
        bad = first_non_finite((name, value.detach().float().cpu().numpy())
                               for (name, value), ok in zip(named, finite) if not ok)
        raise non_finite_state_error(*bad, epoch=self.epochs_done + 1, lr=self.last_lr)

    def _finish_epoch(self) -> None:
        broadcast_buffers(self.context, self.model)
        self._check_finite_state()
        loss_sum, correct, seen = (float(v) for v in self.sums)
        images = self.steps_per_epoch * self.recipe.batch_size if self.dense else seen
        row = self.recorder.row(
            self.epochs_done + 1, loss_sum / seen, correct / seen, self.last_lr, images,
            self.train_seconds,
            self._scores)
        self.epochs_done += 1
        self.step_in_epoch = 0
        self.recorder.commit(row, self._save)
        if self.dense and self.recorder.run is not None and self.eval_splits:
            name, split = next(iter(self.eval_splits.items()))
            write_predictions(self.model, split, self.num_classes,
                              self.recorder.run.predictions_path,
                              f"{self.source.name}, epoch {self.epochs_done}, {name} images")

    def _scores(self) -> dict[str, tuple[float, ...]]:
        """Each held-out split's (loss, accuracy[, mean IoU]), and the average weights' as
        ``ema_<split>``."""
        scores = {name: self._evaluate(self.model, split)
                  for name, split in self.eval_splits.items()}
        if self.ema is not None:
            averaged = self.ema.model_with_buffers_of(self.model)
            scores.update({f"ema_{name}": self._evaluate(averaged, split)
                           for name, split in self.eval_splits.items()})
        return scores

    def _evaluate(self, model: nn.Module, split: DeviceSplit) -> tuple[float, ...]:
        """(loss, accuracy), with the mean IoU for a per-pixel model; each rank scores its share
        of the split and the sums are pooled."""
        shares = torch.arange(len(split), device=self.device).tensor_split(
            self.context.world_size)
        totals = score(model, split, self.recipe.eval_batch_size, self.num_classes,
                       self.recipe.precision, shares[self.context.rank])
        accuracy, loss, _, confusion = summarize(sum_across_ranks(self.context, totals),
                                                 self.num_classes)
        return (loss, accuracy, mean_iou(confusion)) if self.dense else (loss, accuracy)

    # -- checkpoints --------------------------------------------------------------------------

    def _save(self) -> None:
        if self.recorder.run is not None:
            atomic_save(self.state_dict(), self.recorder.last_checkpoint)

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint. ``schedule`` needs only the global step: the schedule is a pure
        function of it. ``epoch`` counts finished epochs; ``step_in_epoch`` steps into the next."""
        mid_epoch = self.step_in_epoch > 0
        return {
            "format": FORMAT, "name": self.source.name, "ir_hash": self.source.ir_hash,
            "spec_text": self.source.spec_text, "recipe": self.recipe.to_dict(),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(), "schedule": {"global_step": self.global_step},
            "epoch": self.epochs_done, "step_in_epoch": self.step_in_epoch,
            "epoch_order": self.order if mid_epoch else None,
            "epoch_sums": self.sums.clone(), "train_seconds": self.train_seconds,
            "last_lr": self.last_lr, "best": self.recorder.best.to_state(),
            "rng": capture_rng(self.generator),
            "ema": None if self.ema is None else self.ema.state_dict(),
        }

    def restore(self, payload: dict[str, Any], where: str = "checkpoint") -> None:
        """Restore a checkpoint that load_checkpoint read; each part is checked against this
        run (counters within the recipe and the epoch, tensors of this model's shapes) and a
        misfit is a TrainError naming it."""
        epoch, step = payload["epoch"], payload["step_in_epoch"]
        check_progress(where, epoch, self.recipe.epochs, step, self.steps_per_epoch)
        order, sums = payload["epoch_order"], payload["epoch_sums"]
        if step and (order is None or order.dtype != torch.int64
                     or not torch.equal(order.sort().values,
                                        torch.arange(len(self.train_split)))):
            raise TrainError(f"{where}: its epoch order is not an order of the "
                             f"{len(self.train_split)} training images",
                             hint="the data changed since the checkpoint was written")
        if sums.shape != (3,) or sums.dtype != torch.float64:
            raise TrainError(f"{where}: 'epoch_sums' must be 3 float64 values")
        parts = (("model", lambda v: self.model.load_state_dict(v, strict=True)),
                 ("optimizer", lambda v: load_optimizer_state(self.optimizer, v)),
                 ("scaler", self.scaler.load_state_dict),
                 ("rng", lambda v: restore_rng(v, self.generator)))
        if self.ema is not None:
            parts += (("ema", self.ema.load_state_dict),)
        for key, load in parts:
            try:
                load(payload[key])
            except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as err:
                raise TrainError(f"{where}: its '{key}' state does not fit this run: "
                                 f"{str(err).strip()[:500]}") from None
        self.epochs_done, self.step_in_epoch = epoch, step
        self.order = order if step else None
        self.sums = sums.clone()
        self.train_seconds = float(payload["train_seconds"])
        self.last_lr = float(payload["last_lr"])
        self.recorder.best = Best.from_state(payload["best"], where)


class TorchTrainer(Trainer):
    """Trains the torch backend's models; under torchrun each process runs one session and
    the process of rank 0 writes the run folder."""

    name = "torch"
    checkpoint_suffix = ".pt"

    def open_session(self, source: "ModelSource", recipe: Recipe,
                     progress: Progress | None) -> TorchSession:
        context = context_from_env()
        progress = progress or Progress(enabled=context.is_main)
        return TorchSession(source, recipe, context,
                            lambda r: self.recorder(r, progress, source.name))

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        return load_checkpoint(path)

    def event_writer(self, run, first_epoch):
        return open_event_writer(run.events_folder, first_epoch)

    def evaluate(self, checkpoint, source, data=None, split="test", *, device="auto",
                 batch_size=None, ema=False):
        return evaluate_checkpoint(checkpoint, source, data, split, device=device,
                                   batch_size=batch_size, ema=ema)

    def lesion(self, checkpoint, source, data=None, **options):
        return lesion_checkpoint(checkpoint, source, data, **options)

    def embed(self, checkpoint, source, names, data, out, batch_size):
        return embed_checkpoint(checkpoint, source, names, data, out, batch_size)

    def writes_folder(self) -> bool:
        return context_from_env().is_main

    def leave(self, finished: bool) -> None:
        leave_process_group(context_from_env(), finished)

    def launch(self, command, processes, nodes=1, endpoint=None) -> int:
        return launch(command, processes, nodes, endpoint)

    def launched(self) -> bool:
        return inside_torchrun()

    def reports_interrupts(self) -> bool:
        return speaks_for_the_run()
