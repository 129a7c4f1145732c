"""The Keras trainer: ``Model.fit`` driven by the shared recipe, data sources and run folder.

The network is the Keras backend's model of the IR graph (channels-last). What the torch trainer
does by hand, ``fit`` does here, and a callback writes the same run folder: one metrics row per
epoch in the torch trainer's format, an atomic checkpoint each epoch, ``curves.png`` at the end.

Same recipe, same meaning: the learning rate of each step is ``netc.train.schedule.lr_at`` of the
global step (looked up in a table by the optimizer's step counter); SGD's weight decay is the
coupled L2 term of ``torch.optim.SGD`` (added to the loss, so momentum carries it), AdamW's is the
decoupled one of ``torch.optim.AdamW``; norm and bias variables are spared when the recipe says so.

Checkpoints (netc.train.keras_checkpoint) are written at epoch ends, through the shared epoch
recorder. Resuming continues at the
epoch after the last one: an epoch's data order and augmentation are a function of (seed, epoch)
(netc.train.keras_data), so no data-RNG state is needed; on one device the result matches an
uninterrupted run to rounding, without the torch trainer's bitwise guarantee.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager

import keras
import numpy as np

from netc.train.base import Session, Trainer
from netc.train.data import DataSet, load_data, split_validation
from netc.train.errors import TrainError
from netc.train.keras_checkpoint import (FORMAT, SUFFIX, TEMP_SUFFIX, read_checkpoint_state,
                                         save_checkpoint)
from netc.train.keras_data import normalised, to_channels_last, training_stream
from netc.train.progress import Progress
from netc.train.recipe import DATA_SEED_OFFSET, Recipe, cpu_precision_note
from netc.train.schedule import lr_at, steps_per_epoch
from netc.train.selection import Best
from netc.train.state_checks import (check_progress, first_non_finite, loss_error,
                                     non_finite_state_error)

if TYPE_CHECKING:
    from netc.compiler.ir import Graph
    from netc.train import ModelSource

# Recipe precision -> Keras dtype policy: variables stay float32, layers compute in the low type.
POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
# Decaying a norm layer's scale or any bias only fights the normalisation (Goyal et al. 2017,
# section 5.1); the same rule as netc.train.optim for torch.
NORM_LAYERS = (keras.layers.BatchNormalization, keras.layers.LayerNormalization,
               keras.layers.GroupNormalization)
SPARED_VARIABLES = {"bias", "beta", "gamma"}
ADAM_EPSILON = 1e-8  # torch.optim.AdamW's default (Keras's is 1e-7)


# -- run time: threads, device, distribution -----------------------------------------------------

def _tf_threads(count: int) -> None:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(count)
    except RuntimeError:
        pass  # TensorFlow fixes its pools at its first op; the count is a speed hint only


def _torch_threads(count: int) -> None:
    import torch

    torch.set_num_threads(count)


def _tf_gpus() -> int:
    import tensorflow as tf

    return len(tf.config.list_logical_devices("GPU"))


def _torch_gpus() -> int:
    import torch

    return torch.cuda.device_count()


_THREADS: dict[str, Callable[[int], None]] = {"tensorflow": _tf_threads, "torch": _torch_threads}
_GPU_COUNTS: dict[str, Callable[[], int]] = {"tensorflow": _tf_gpus, "torch": _torch_gpus}


def _runtime_scope(recipe: Recipe, backend: str) -> Callable[[], ContextManager]:
    """A maker of the scope every step of the run happens in: the device the recipe asks for
    and, on TensorFlow with several GPUs, a MirroredStrategy (each global batch split over the
    GPUs, gradients all-reduced)."""
    if recipe.threads and backend in _THREADS:
        _THREADS[backend](recipe.threads)
    gpus = _GPU_COUNTS.get(backend, lambda: 0)()
    if recipe.device == "cuda" and not gpus:
        raise TrainError(f"device 'cuda' asked for, but Keras ({backend}) sees no GPU",
                         hint="use device auto or cpu")
    if recipe.device == "cpu":
        # "cpu", not "cpu:0": Keras on torch moves each new parameter to the scope's device,
        # and torch copies a tensor from "cpu" to "cpu:0", leaving a non-leaf without gradients.
        return lambda: keras.device("cpu")
    if backend == "tensorflow" and gpus > 1:
        import tensorflow as tf

        return tf.distribute.MirroredStrategy().scope
    return contextlib.nullcontext


# -- model, optimizer, schedule --------------------------------------------------------------------

def build_keras_model(graph: "Graph", precision: str = "fp32") -> keras.Model:
    """The Keras backend's model of ``graph``, its layers made under the precision's policy."""
    from netc.backends import get_backend

    backend = get_backend("keras")
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(POLICIES[precision])
    try:
        return backend.load(backend.emit(graph), graph)
    finally:
        keras.mixed_precision.set_global_policy(before)


def decayed_variables(model: keras.Model, recipe: Recipe) -> tuple[list, list]:
    """(decayed, spared) trainable variables."""
    decayed, spared, seen = [], [], set()
    for layer in model.layers:
        for variable in layer.trainable_weights:
            if variable.path in seen:
                continue
            seen.add(variable.path)
            exempt = isinstance(layer, NORM_LAYERS) or variable.name in SPARED_VARIABLES
            (spared if recipe.no_decay_on_norm_and_bias and exempt else decayed).append(variable)
    return decayed, spared


class StepSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``lr_at`` of every step of the run, looked up by the optimizer's step counter: no host
    round trip per step, and a resumed optimizer (its counter restored) picks up where it was."""

    def __init__(self, values: list[float]):
        self.values = [float(v) for v in values]
        self.table = keras.ops.convert_to_tensor(np.asarray(self.values, dtype=np.float32))

    def __call__(self, step):
        index = keras.ops.minimum(keras.ops.cast(step, "int32"), len(self.values) - 1)
        return keras.ops.take(self.table, index)

    def get_config(self) -> dict[str, Any]:
        return {"values": self.values}


def _sgd(recipe: Recipe, schedule, decayed: list, spared: list) -> keras.optimizers.Optimizer:
    if recipe.weight_decay:
        # torch.optim.SGD adds weight_decay * w to the gradient: the gradient of this L2 term.
        penalty = keras.regularizers.L2(recipe.weight_decay / 2)
        for variable in decayed:
            variable.regularizer = penalty
    return keras.optimizers.SGD(learning_rate=schedule, momentum=float(recipe.momentum),
                                nesterov=recipe.nesterov)


def _adamw(recipe: Recipe, schedule, decayed: list, spared: list) -> keras.optimizers.Optimizer:
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=recipe.weight_decay,
                                       epsilon=ADAM_EPSILON)
    optimizer.exclude_from_weight_decay(var_list=spared)
    return optimizer


OPTIMIZER_BUILDERS = {"sgd": _sgd, "adamw": _adamw}


def compile_model(model: keras.Model, recipe: Recipe, steps: int) -> None:
    schedule = StepSchedule([lr_at(recipe, step, steps) for step in range(recipe.epochs * steps)])
    optimizer = OPTIMIZER_BUILDERS[recipe.optimizer](recipe, schedule,
                                                     *decayed_variables(model, recipe))
    smoothing = recipe.label_smoothing
    # The loss Keras reports adds the L2 term; the metrics row wants cross-entropy alone.
    model.compile(optimizer=optimizer,
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True,
                                                            label_smoothing=smoothing),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy"),
                           keras.metrics.CategoricalCrossentropy(name="cross_entropy",
                                                                 from_logits=True,
                                                                 label_smoothing=smoothing)],
                  jit_compile=recipe.compile)
    # Built now so that load_weights can restore its variables (with fp16, those of the
    # loss-scale wrapper compile puts around it too).
    model.optimizer.build(model.trainable_variables)


# -- the run ---------------------------------------------------------------------------------------

def _score(model: keras.Model, images: np.ndarray, labels: np.ndarray,
           batch_size: int) -> tuple[float, float]:
    """(mean cross-entropy, accuracy), the loss without label smoothing as torch's evaluation."""
    logits = np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(len(labels)), labels].mean()
    return float(loss), float((logits.argmax(axis=1) == labels).mean())


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


class KerasSession(Session):
    def __init__(self, source: "ModelSource", recipe: Recipe, recorder_for):
        if recipe.checkpoint_every_steps:
            raise TrainError("the Keras trainer checkpoints at epoch ends only",
                             hint="set checkpoint_every_steps: 0")
        if source.graph is None:
            raise TrainError(f"the Keras trainer builds its model from the network's IR graph; "
                             f"the model source '{source.name}' has none",
                             hint="make the source from a spec (netc.runs.model_source)")
        self.source, self.recipe = source, recipe
        self.backend = keras.backend.backend()
        data = load_data(recipe.data, source.input_shape, source.num_classes)
        self.data: DataSet = split_validation(data, recipe.val_fraction, recipe.seed)
        self.eval_splits = {}  # split -> (normalised channels-last images, labels)
        for name in ("val", "test"):
            if self.data.split_exists(name):
                images, labels = self.data.split(name)
                self.eval_splits[name] = (normalised(to_channels_last(images), self.data), labels)
        self.steps = steps_per_epoch(len(self.data.train_y), recipe.batch_size)
        self.scope = _runtime_scope(recipe, self.backend)
        self.epochs_done = 0
        self.recorder = recorder_for(recipe)
        on_cpu = recipe.device == "cpu" or not _GPU_COUNTS.get(self.backend, lambda: 0)()
        if on_cpu and (note := cpu_precision_note(recipe)):
            self.recorder.progress.message(note)
        with self.scope():
            keras.utils.set_random_seed(recipe.seed)
            self.model = build_keras_model(source.graph, recipe.precision)
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
        if self.epochs_done < self.recipe.epochs:
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
        recipe, batch = self.recipe, self.recipe.eval_batch_size
        row = self.recorder.row(
            self.epochs_done + 1, float(logs["cross_entropy"]), float(logs["accuracy"]),
            lr_at(recipe, (self.epochs_done + 1) * self.steps - 1, self.steps),
            self.steps * recipe.batch_size, train_seconds,
            lambda: {name: _score(self.model, images, labels, batch)
                     for name, (images, labels) in self.eval_splits.items()})
        self.epochs_done += 1
        self.recorder.commit(row, lambda: save_checkpoint(self.model, self.state(),
                                                          self.recorder.last_checkpoint))

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
        return KerasSession(source, recipe, lambda r: self.recorder(r, progress))

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        return read_checkpoint_state(path)

    def evaluate(self, checkpoint, source, data=None, split="test", *, device="auto",
                 batch_size=None):
        raise _reads_torch_runs(checkpoint)

    def lesion(self, checkpoint, source, data=None, **options):
        raise _reads_torch_runs(checkpoint)

    def launch(self, command, processes, nodes=1, endpoint=None) -> int:
        raise TrainError("--nproc-per-node runs torch DDP; the Keras backend uses "
                         "tf.distribute on the GPUs it finds", hint="drop --nproc-per-node")


def _reads_torch_runs(checkpoint) -> TrainError:
    return TrainError(f"{checkpoint} is a Keras checkpoint; netc eval and lesion read torch runs",
                      hint="train with --backend torch to evaluate or lesion the network")
