"""The torch side of a lesion study (netc.train.lesion): score a model with residual blocks
deleted. A network compiled from a spec is rebuilt from its lesioned IR graph
(netc.compiler.lesion) holding the trained weights of everything that remains."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Sequence

import torch

from netc.train.data import DataSet, input_normalisation, load_data
from netc.train.errors import TrainError
from netc.train.lesion import check_request, lesion_report
from netc.train.recipe import recipe_from_dict
from netc.train.torch_batches import DeviceSplit
from netc.train.torch_evaluate import score, summarize
from netc.train.torch_runtime import load_model, resolve_device

if TYPE_CHECKING:
    from netc.compiler.ir import Graph
    from netc.train import ModelSource

# ``lesion(names)`` is a context manager yielding the model to score with those blocks deleted.
Lesion = Callable[[set[str]], ContextManager[torch.nn.Module]]


def lesion_study(model: torch.nn.Module, data: DataSet, *, blocks: Sequence[str],
                 lesion: Lesion, split: str = "test", max_deleted: int | None = None,
                 samples: int = 10, seed: int = 0, device: str | torch.device = "auto",
                 batch_size: int = 1000) -> dict[str, Any]:
    """Accuracy of ``model`` on ``data`` with the residual ``blocks`` deleted through
    ``lesion``; a JSON-able report."""
    check_request(list(blocks), max_deleted, samples)
    device = resolve_device(device) if isinstance(device, str) else device
    model = model.to(device).eval()
    device_split = DeviceSplit(*data.split(split), data, device)

    def accuracy(deleted: tuple[str, ...]) -> float:
        with lesion(set(deleted)) as lesioned:
            totals = score(lesioned.to(device).eval(), device_split, batch_size,
                           data.num_classes)
        return summarize(totals, data.num_classes)[0]

    return lesion_report(blocks, accuracy, data=data.name, split=split,
                         max_deleted=max_deleted, samples=samples, seed=seed)


def graph_lesion(graph: "Graph", trained: torch.nn.Module) -> tuple[list[str], Lesion]:
    """The deletable residual blocks of ``graph`` and ``lesion(names)``: the network rebuilt
    without those residual bodies, holding ``trained``'s weights of everything that remains."""
    from netc import build
    from netc.compiler.lesion import deletable_blocks, lesion

    trained_state = trained.state_dict()

    @contextmanager
    def lesioned(names: set[str]):
        if not names:
            yield trained
            return
        model = build(lesion(graph, sorted(names)))
        state = model.state_dict()
        model.load_state_dict({k: v for k, v in trained_state.items() if k in state}, strict=True)
        yield model.eval()

    return deletable_blocks(graph), lesioned


def lesion_checkpoint(checkpoint: str | Path, source: "ModelSource", data: str | None = None,
                      **options: Any) -> dict[str, Any]:
    """A lesion study of a trained checkpoint of a network compiled from a spec; ``data``
    defaults to what it trained on."""
    if source.graph is None:
        raise TrainError("a lesion study needs the network's IR graph",
                         hint="train the network from a spec, or pass the spec with --spec")
    device = resolve_device(options.pop("device", "auto"))
    model, payload = load_model(checkpoint, source, device)
    recipe = recipe_from_dict(payload["recipe"], where=str(checkpoint))
    dataset = load_data(data or recipe.data, source.input_shape, source.num_classes,
                        normalize=input_normalisation(source))
    options.setdefault("batch_size", recipe.eval_batch_size)
    blocks, lesion = graph_lesion(source.graph, model)
    return lesion_study(model, dataset, blocks=blocks, lesion=lesion, device=device, **options)
