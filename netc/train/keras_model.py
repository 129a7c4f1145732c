"""The Keras side shared by training, evaluation and lesion studies: the backend's model of an
IR graph under the recipe's precision, its optimizer and learning-rate schedule, the average of
its weights (``recipe.ema``), and scores with a confusion matrix.

Same recipe, same meaning as the torch trainer: the learning rate of each step is
``netc.train.schedule.lr_at`` of the global step (looked up in a table by the optimizer's step
counter); SGD's weight decay is the coupled L2 term of ``torch.optim.SGD`` (added to the loss, so
momentum carries it), AdamW's is the decoupled one of ``torch.optim.AdamW``; norm and bias
variables are spared when the recipe says so.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterator

import keras
import numpy as np

from netc.train.errors import TrainError
from netc.train.recipe import Recipe
from netc.train.schedule import lr_at

if TYPE_CHECKING:
    from netc.compiler.ir import Graph

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


def runtime_scope(recipe: Recipe, backend: str) -> Callable[[], ContextManager]:
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


# -- model, optimizer, schedule, average, scores ------------------------------------------------

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


def _ema(recipe: Recipe) -> dict[str, Any]:
    """The optimizer's own average of the trainable variables (``recipe.ema``): after each
    step ``average = ema * average + (1 - ema) * variable``, the first step's variables as they
    are. Kept in the optimizer's variables, so checkpoints hold it and a resume restores it."""
    return {"use_ema": True, "ema_momentum": recipe.ema} if recipe.ema else {}


def _sgd(recipe: Recipe, schedule, decayed: list, spared: list) -> keras.optimizers.Optimizer:
    if recipe.weight_decay:
        # torch.optim.SGD adds weight_decay * w to the gradient: the gradient of this L2 term.
        penalty = keras.regularizers.L2(recipe.weight_decay / 2)
        for variable in decayed:
            variable.regularizer = penalty
    return keras.optimizers.SGD(learning_rate=schedule, momentum=float(recipe.momentum),
                                nesterov=recipe.nesterov, **_ema(recipe))


def _adamw(recipe: Recipe, schedule, decayed: list, spared: list) -> keras.optimizers.Optimizer:
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=recipe.weight_decay,
                                       epsilon=ADAM_EPSILON, **_ema(recipe))
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
    # fit ends by writing an averaged optimizer's averages into the model; the run keeps both
    # (the average is scored and saved beside the weights), so the model keeps its own.
    model.optimizer.finalize_variable_values = lambda variables: None


def ema_variables(model: keras.Model) -> list | None:
    """The optimizer's averages of ``model.trainable_variables``, in their order; None
    without an average."""
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    if optimizer is None or not optimizer.use_ema:
        return None
    return list(optimizer._model_variables_moving_average)


@contextlib.contextmanager
def averaged(model: keras.Model) -> Iterator[keras.Model]:
    """``model`` holding its optimizer's averages of its trainable variables (its moving
    statistics as they are) for the duration; its own values come back after."""
    averages = ema_variables(model)
    own = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    for variable, average in zip(model.trainable_variables, averages):
        variable.assign(average)
    try:
        yield model
    finally:
        for variable, value in zip(model.trainable_variables, own):
            variable.assign(value)


def score(model: keras.Model, images: np.ndarray, labels: np.ndarray, batch_size: int,
          num_classes: int) -> tuple[float, np.ndarray]:
    """(summed cross-entropy, ``[true, predicted]`` counts) of ``model`` on channels-last
    ``images``; the loss without label smoothing, as torch's evaluation computes it."""
    logits = np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss_sum = -log_probs[np.arange(len(labels)), labels].sum()
    pairs = labels.astype(np.int64) * num_classes + logits.argmax(axis=1)
    confusion = np.bincount(pairs, minlength=num_classes * num_classes)
    return float(loss_sum), confusion.reshape(num_classes, num_classes)
