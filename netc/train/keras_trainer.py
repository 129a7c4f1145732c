"""The Keras trainer: ``Model.fit`` driven by the shared recipe, data sources and run folder.

The network is the Keras backend's model of the IR graph (channels-last). What the torch trainer
does by hand, ``fit`` does here, and a callback writes the same run folder: one metrics row per
epoch in the torch trainer's format, an atomic checkpoint each epoch, ``curves.png`` at the end.

The model, optimizer, schedule and weight average are built as netc.train.keras_model says,
with the torch trainer's meaning of every recipe key. With ``patience`` the callback stops
``fit`` once the shared recorder says so.

Checkpoints (netc.train.keras_checkpoint) are written at epoch ends, through the shared epoch
recorder. Resuming continues at the
epoch after the last one: an epoch's data order and augmentation are a function of (seed, epoch)
(netc.train.keras_data), so no data-RNG state is needed; on one device the result matches an
uninterrupted run to rounding, without the torch trainer's bitwise guarantee.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from netc.train.base import Session, Trainer
from netc.train.data import DataSet, input_normalisation, load_data, split_validation
from netc.train.dense import dense_source
from netc.train.errors import TrainError
from netc.train.initial import frozen_nodes, load_initial
from netc.train.keras_checkpoint import (FORMAT, SUFFIX, TEMP_SUFFIX, read_checkpoint_state,
                                         save_checkpoint)
from netc.train.keras_data import normalised, to_channels_last, training_stream
from netc.train.keras_evaluate import evaluate_checkpoint, lesion_checkpoint
from netc.train.keras_events import open_event_writer
from netc.train.keras_model import (_GPU_COUNTS, averaged, build_keras_model, compile_model,
                                    ema_variables, runtime_scope, score)
from netc.train.progress import Progress
from netc.train.recipe import DATA_SEED_OFFSET, Recipe, cpu_precision_note
from netc.train.reports import summarize_confusion
from netc.train.schedule import lr_at, steps_per_epoch
from netc.train.selection import Best
from netc.train.state_checks import (check_progress, first_non_finite, loss_error,
                                     non_finite_state_error)

if TYPE_CHECKING:
    from netc.train import ModelSource



class _RunLogger(keras.callbacks.Callback):
    """Progress each step, a metrics row, checkpoint and best copy each epoch; stops a run whose
    loss is no longer finite."""

    def __init__(self, run: "KerasSession"):
        super().__init__()
        self.run = run
        self.started = 0.0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        run, steps = self.run, self.run.steps
        loss = float(logs["loss"])
        if not math.isfinite(loss):
            used = lr_at(run.recipe, run.epochs_done * steps + batch, steps)
            raise loss_error(loss, run.epochs_done + 1, batch + 1, steps, used)
        elapsed = time.perf_counter() - self.started
        run.recorder.progress.step(run.epochs_done + 1, run.recipe.epochs, batch + 1, steps,
                          (batch + 1) * run.recipe.batch_size / max(1e-9, elapsed),
                          elapsed / (batch + 1) * (steps - batch - 1),
                          float(logs["cross_entropy"]))

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.run.finish_epoch(logs, time.perf_counter() - self.started)
        if self.run.recorder.stops_early(self.run.epochs_done):
            self.model.stop_training = True


def freeze_layers(model: keras.Model, names: list[str]) -> None:
    """Hold the named nodes' layers fixed; a BatchNormalization that is not trainable runs in
    inference mode, its moving statistics untouched (Keras's fine-tuning guide)."""
    from netc.backends.keras import keras_name
    from netc.backends.keras.submodels import layers_by_name

    layers = layers_by_name(model)  # a node inside a keras.Sequential sub-model too
    for name in names:
        layers[keras_name(name)].trainable = False


class KerasSession(Session):
    def __init__(self, source: "ModelSource", recipe: Recipe, recorder_for):
        if recipe.checkpoint_every_steps:
            raise TrainError("the Keras trainer checkpoints at epoch ends only",
                             hint="set checkpoint_every_steps: 0")
        for key in ("lr_groups", "unfreeze_epoch"):
            if getattr(recipe, key):
                raise TrainError(f"the Keras trainer does not support {key}: a compiled Keras "
                                 "model has one learning rate and a fixed set of trainable "
                                 "variables", hint="train with --backend torch")
        if source.graph is None:
            raise TrainError(f"the Keras trainer builds its model from the network's IR graph; "
                             f"the model source '{source.name}' has none",
                             hint="make the source from a spec (netc.runs.model_source)")
        if dense_source(source):
            raise TrainError(f"the Keras trainer trains image classifiers; '{source.name}' "
                             "classifies every pixel", hint="train it with --backend torch")
        self.source, self.recipe = source, recipe
        self.backend = keras.backend.backend()
        data = load_data(recipe.data, source.input_shape, source.num_classes,
                         normalize=input_normalisation(source))
        self.data: DataSet = split_validation(data, recipe.val_fraction, recipe.seed)
        self.eval_splits = {}  # split -> (normalised channels-last images, labels)
        for name in ("val", "test"):
            if self.data.split_exists(name):
                images, labels = self.data.split(name)
                self.eval_splits[name] = (normalised(to_channels_last(images), self.data), labels)
        self.steps = steps_per_epoch(len(self.data.train_y), recipe.batch_size)
        self.scope = runtime_scope(recipe, self.backend)
        self.epochs_done = 0
        self.recorder = recorder_for(recipe)
        on_cpu = recipe.device == "cpu" or not _GPU_COUNTS.get(self.backend, lambda: 0)()
        if on_cpu and (note := cpu_precision_note(recipe)):
            self.recorder.progress.message(note)
        with self.scope():
            keras.utils.set_random_seed(recipe.seed)
            self.model = build_keras_model(source.graph, recipe.precision)
            load_initial(self.model, source)
            freeze_layers(self.model, frozen_nodes(source, recipe))
            compile_model(self.model, recipe, self.steps)

    def restore(self, state: dict[str, Any], where: str) -> None:
        """Load a checkpoint that read_checkpoint_state checked; a misfit is a TrainError."""
        path = Path(where)
        check_progress(str(path), state["epoch"], self.recipe.epochs)
        if state["steps_per_epoch"] != self.steps:
            raise TrainError(f"{path}: written with {state['steps_per_epoch']} steps an epoch, "
                             f"this run has {self.steps}",
                             hint="the data or batch size changed since it was written")
        try:
            with self.scope():
                self.model.load_weights(path)
        except (ValueError, KeyError, OSError) as err:
            raise TrainError(f"{path}: its weights do not fit this model: "
                             f"{str(err).strip()[:500]}") from None
        self.epochs_done = state["epoch"]
        self.recorder.best = Best.from_state(state["best"], str(path))

    def fit(self) -> None:
        if (self.epochs_done < self.recipe.epochs
                and not self.recorder.stops_early(self.epochs_done)):
            stream = training_stream(self.data, self.recipe, self.steps, self.epochs_done,
                                     self.backend)
            with self.scope():
                self.model.fit(stream, epochs=self.recipe.epochs,
                               initial_epoch=self.epochs_done, steps_per_epoch=self.steps,
                               callbacks=[_RunLogger(self)], shuffle=False, verbose=0)

    def check_finite_state(self) -> None:
        """Stop, before anything is saved, when a weight or a moving statistic is NaN or
        infinite (the loss can stay finite while batch-norm statistics overflow)."""
        bad = first_non_finite((variable.path, keras.ops.convert_to_numpy(variable))
                               for variable in self.model.weights
                               if "float" in str(variable.dtype))
        if bad:
            lr = lr_at(self.recipe, (self.epochs_done + 1) * self.steps - 1, self.steps)
            raise non_finite_state_error(*bad, epoch=self.epochs_done + 1, lr=lr)

    def finish_epoch(self, logs: dict[str, Any], train_seconds: float) -> None:
        self.check_finite_state()
        recipe = self.recipe
        row = self.recorder.row(
            self.epochs_done + 1, float(logs["cross_entropy"]), float(logs["accuracy"]),
            lr_at(recipe, (self.epochs_done + 1) * self.steps - 1, self.steps),
            self.steps * recipe.batch_size, train_seconds, self._scores)
        self.epochs_done += 1
        self.recorder.commit(row, lambda: save_checkpoint(self.model, self.state(),
                                                          self.recorder.last_checkpoint))

    def _scores(self) -> dict[str, tuple[float, float]]:
        """Each held-out split's (loss, accuracy), and the average weights' as ``ema_<split>``."""
        scores = {name: self._score(images, labels)
                  for name, (images, labels) in self.eval_splits.items()}
        if ema_variables(self.model) is not None:
            with averaged(self.model):
                scores.update({f"ema_{name}": self._score(images, labels)
                               for name, (images, labels) in self.eval_splits.items()})
        return scores

    def _score(self, images: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
        accuracy, loss, _ = summarize_confusion(*score(
            self.model, images, labels, self.recipe.eval_batch_size, self.source.num_classes))
        return loss, accuracy

    def state(self) -> dict[str, Any]:
        """The run state beside the weights. ``epoch`` counts finished epochs; the optimizer's
        step counter (in the weights) is the whole schedule state; the seeds name every draw."""
        return {"format": FORMAT, "name": self.source.name, "ir_hash": self.source.ir_hash,
                "spec_text": self.source.spec_text, "recipe": self.recipe.to_dict(),
                "keras_backend": self.backend, "epoch": self.epochs_done,
                "best": self.recorder.best.to_state(),
                "steps_per_epoch": self.steps,
                "seeds": {"init": self.recipe.seed, "data": [self.recipe.seed, DATA_SEED_OFFSET]}}


class KerasTrainer(Trainer):
    """Trains the Keras backend's models with ``Model.fit`` on the Keras backend installed
    (TensorFlow, torch or JAX)."""

    name = "keras"
    checkpoint_suffix = SUFFIX
    temp_suffix = TEMP_SUFFIX

    def open_session(self, source: "ModelSource", recipe: Recipe,
                     progress: Progress | None) -> KerasSession:
        progress = progress or Progress()
        return KerasSession(source, recipe, lambda r: self.recorder(r, progress, source.name))

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        return read_checkpoint_state(path)

    def event_writer(self, run, first_epoch):
        return open_event_writer(run.events_folder, first_epoch)

    def evaluate(self, checkpoint, source, data=None, split="test", *, device="auto",
                 batch_size=None, ema=False):
        return evaluate_checkpoint(checkpoint, source, data, split, device=device,
                                   batch_size=batch_size, ema=ema)

    def lesion(self, checkpoint, source, data=None, **options):
        return lesion_checkpoint(checkpoint, source, data, **options)

    def launch(self, command, processes, nodes=1, endpoint=None) -> int:
        raise TrainError("--nproc-per-node runs torch DDP; the Keras backend uses "
                         "tf.distribute on the GPUs it finds", hint="drop --nproc-per-node")

