"""Score a Keras checkpoint, and a lesion study of it (netc.train.lesion).

The model is the Keras backend's model of the run's IR graph, compiled with the run's recipe so
that ``load_weights`` finds every variable the checkpoint holds (the optimizer's too). A lesion
study rebuilds the network from its lesioned IR graph (netc.compiler.lesion) and gives it the
trained weights of everything that remains through the backend's canonical weights, the same
route `netc weights` takes.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, ContextManager

import keras
import numpy as np

from netc.train.checkpoint_data import checkpoint_data
from netc.train.errors import TrainError, no_average_error
from netc.train.keras_checkpoint import read_checkpoint_state
from netc.train.keras_data import normalised, to_channels_last
from netc.train.keras_model import (averaged, build_keras_model, compile_model, ema_variables,
                                    runtime_scope, score)
from netc.train.lesion import check_request, lesion_report
from netc.train.recipe import Recipe, recipe_from_dict
from netc.train.reports import Evaluation, summarize_confusion
from netc.train.state_checks import check_ir_hash

if TYPE_CHECKING:
    from netc.train import ModelSource
    from netc.train.data import DataSet


def _device_scope(recipe_device: str) -> ContextManager:
    """The scope a checkpoint is scored in: the training run's rules for ``device``."""
    return runtime_scope(Recipe(device=recipe_device), keras.backend.backend())()


def load_keras_model(checkpoint: str | Path, source: "ModelSource"
                     ) -> tuple[keras.Model, dict[str, Any], Recipe]:
    """A fresh model of the run's network holding the checkpoint's weights, the checkpoint's
    run state and its recipe."""
    path = Path(checkpoint)
    if source.graph is None:
        raise TrainError("scoring a Keras checkpoint needs the network's IR graph",
                         hint="give the run folder, or the spec with --spec")
    state = read_checkpoint_state(path)
    check_ir_hash(state, source.ir_hash, str(path))
    recipe = recipe_from_dict(state["recipe"], where=str(path))
    model = build_keras_model(source.graph, recipe.precision)
    compile_model(model, recipe, state["steps_per_epoch"])
    try:
        model.load_weights(path)
    except (ValueError, KeyError, OSError) as err:
        raise TrainError(f"{path}: its weights do not fit this model: "
                         f"{str(err).strip()[:500]}") from None
    return model, state, recipe


def _split(dataset: "DataSet", split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = dataset.split(split)
    return normalised(to_channels_last(images), dataset), labels


def evaluate_checkpoint(checkpoint: str | Path, source: "ModelSource", data: str | None = None,
                        split: str = "test", *, device: str = "auto",
                        batch_size: int | None = None, ema: bool = False) -> Evaluation:
    """Accuracy, loss and confusion matrix of a checkpoint on one split (as the torch
    trainer's, netc.train.torch_evaluate); ``ema``: of its average of the weights."""
    with _device_scope(device):
        model, state, recipe = load_keras_model(checkpoint, source)
        if ema and ema_variables(model) is None:
            raise no_average_error(checkpoint)
        dataset = checkpoint_data(str(checkpoint), recipe, source, data, split)
        images, labels = _split(dataset, split)
        with averaged(model) if ema else contextlib.nullcontext():
            loss_sum, confusion = score(model, images, labels,
                                        batch_size or recipe.eval_batch_size,
                                        dataset.num_classes)
    accuracy, loss, count = summarize_confusion(loss_sum, confusion)
    return Evaluation(dataset.name, split, accuracy, loss, count, dataset.classes, confusion,
                      checkpoint=str(checkpoint), epoch=state["epoch"], epochs=recipe.epochs)


def lesion_checkpoint(checkpoint: str | Path, source: "ModelSource", data: str | None = None,
                      *, split: str = "test", max_deleted: int | None = None,
                      samples: int = 10, seed: int = 0, device: str = "auto",
                      batch_size: int | None = None) -> dict[str, Any]:
    """A lesion study of a trained Keras checkpoint: each residual block deleted alone, then
    random sets of them; a JSON-able report."""
    from netc.backends import get_backend
    from netc.compiler.lesion import deletable_blocks, lesion

    if source.graph is None:
        raise TrainError("a lesion study needs the network's IR graph",
                         hint="train the network from a spec, or pass the spec with --spec")
    graph = source.graph
    blocks = deletable_blocks(graph)
    check_request(blocks, max_deleted, samples)
    backend = get_backend("keras")
    with _device_scope(device):
        trained, _, recipe = load_keras_model(checkpoint, source)
        dataset = checkpoint_data(str(checkpoint), recipe, source, data, split)
        images, labels = _split(dataset, split)
        weights = backend.export_weights(trained, graph)
        batch = batch_size or recipe.eval_batch_size

        def accuracy(deleted: tuple[str, ...]) -> float:
            model = trained
            if deleted:
                lesioned = lesion(graph, sorted(deleted))
                model = build_keras_model(lesioned, recipe.precision)
                backend.import_weights(model, lesioned, weights)
            return summarize_confusion(*score(model, images, labels, batch,
                                              dataset.num_classes))[0]

        return lesion_report(blocks, accuracy, data=dataset.name, split=split,
                             max_deleted=max_deleted, samples=samples, seed=seed)
