"""Features for a linear probe: a network cut at named outputs (netc.compiler.outputs), run on a
data set's images, each output global-average-pooled to one vector per image.

The file written is a numpy ``.npz``: ``train_x`` / ``test_x`` (every output's pooled features
side by side, in the order given), ``train_y`` / ``test_y`` (labels), ``classes``, ``outputs``
and, per output, ``train.<name>`` / ``test.<name>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from netc.compiler.ir import Graph
from netc.train.data import load_data
from netc.train.errors import TrainError
from netc.train.torch_batches import DeviceSplit

if TYPE_CHECKING:
    from netc.train import ModelSource

SPLITS = ("train", "test")


def feature_model(graph: Graph, names: list[str], state: dict | None) -> torch.nn.Module:
    """The torch model of ``graph`` cut at ``names``, holding ``state`` (the whole network's
    state_dict; the cut network's keys are a subset) or its fresh initialisation."""
    from netc import build
    from netc.compiler.outputs import select_outputs

    model = build(select_outputs(graph, names), "torch")
    if state is not None:
        missing, _ = model.load_state_dict(state, strict=False)
        if missing:
            raise TrainError(f"the weights lack {len(missing)} tensors of the cut network: "
                             f"{', '.join(missing[:5])}")
    return model.eval()


def pooled(outputs) -> list[torch.Tensor]:
    """Each output as (N, features): feature maps averaged over height and width."""
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    return [o.mean(dim=(2, 3)) if o.dim() == 4 else o.flatten(1) for o in outputs]


def embed(graph: Graph, names: list[str], state: dict | None, data: str, out: str | Path,
          batch_size: int = 256) -> dict[str, tuple[int, ...]]:
    """Write the features of ``data`` (a data source string) at ``names`` to ``out``; returns
    the shape of each array written."""
    model = feature_model(graph, names, state)
    dataset = load_data(data, tuple(graph.input_shape), graph.node(graph.outputs[0]).shape[0],
                        normalize=graph.meta.get("normalize"), any_classes=True)
    arrays: dict[str, np.ndarray] = {"classes": np.asarray(dataset.classes),
                                     "outputs": np.asarray(names)}
    device = torch.device("cpu")
    for split in SPLITS:
        images, labels = dataset.split(split)
        rows = DeviceSplit(images, labels, dataset, device)
        parts: list[list[torch.Tensor]] = [[] for _ in names]
        with torch.no_grad():
            for start in range(0, len(rows), batch_size):
                batch, _ = rows.batch(torch.arange(start, min(start + batch_size, len(rows))))
                for part, features in zip(parts, pooled(model(batch))):
                    part.append(features)
        per_output = [torch.cat(p).numpy().astype(np.float32) for p in parts]
        for name, features in zip(names, per_output):
            arrays[f"{split}.{name}"] = features
        arrays[f"{split}_x"] = np.concatenate(per_output, axis=1)
        arrays[f"{split}_y"] = np.asarray(labels, dtype=np.int64)
    np.savez(out, **arrays)
    return {key: value.shape for key, value in arrays.items()}


def embed_checkpoint(checkpoint: Path | None, source: "ModelSource", names: list[str],
                     data: str | None, out: str | Path, batch_size: int
                     ) -> dict[str, tuple[int, ...]]:
    """`embed` for a checkpoint's model and the data it trained on (default), or for a fresh
    model of ``source`` seeded with 0 when ``checkpoint`` is None."""
    from netc.train.torch_runtime import load_model

    state, trained_on = None, None
    if checkpoint is None:
        torch.manual_seed(0)
    else:
        model, payload = load_model(checkpoint, source)
        state, trained_on = model.state_dict(), payload["recipe"]["data"]
    if not (data or trained_on):
        raise TrainError("a spec has no data of its own", hint="give --data, e.g. --data digits")
    return embed(source.graph, names, state, data or trained_on, out, batch_size)
