"""Lesion study of a residual network (Veit, Wilber & Belongie 2016, "Residual networks behave
like ensembles of relatively shallow networks", sections 4.1-4.2).

Deleting a residual block keeps only its shortcut path. A model takes part through a protocol:

    model.netc_residuals: list[str]             names of the deletable residual blocks
    model.netc_lesion(names: set[str])          context manager: inside it those blocks pass
                                                only their shortcut

or the caller passes ``blocks`` and a ``lesion(names)`` context manager of its own, e.g. one that
builds the network from a lesioned IR graph and loads the trained weights into it. Either
context manager may yield the model to score; when it yields None the model itself is scored.

The study scores the model with each single block deleted, then with k random blocks deleted
for k = 1..K (a fixed seed picks the sets), and reports accuracy against k.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Optional

import torch

from netc.train.batches import DeviceSplit
from netc.train.data import DataSet, load_data
from netc.train.errors import TrainError
from netc.train.evaluate import score, summarize
from netc.train.plots import plot_lesion
from netc.train.recipe import recipe_from_dict
from netc.train.runtime import load_model, resolve_device

if TYPE_CHECKING:
    from netc.train import ModelSource


Lesion = Callable[[set[str]], ContextManager[Optional[torch.nn.Module]]]


def residual_blocks(model: torch.nn.Module) -> list[str]:
    names = getattr(model, "netc_residuals", None)
    if not callable(getattr(model, "netc_lesion", None)) or names is None:
        raise TrainError(f"{type(model).__name__} does not expose its residual blocks "
                         f"(netc_residuals and netc_lesion)",
                         hint="a lesion study needs a model built by netc from a spec with "
                              "residual blocks")
    names = list(names)
    if not names:
        raise TrainError("the model has no deletable residual blocks")
    return names


def _subsets(names: list[str], deleted: int, samples: int,
             rng: random.Random) -> list[tuple[str, ...]]:
    """Every set of ``deleted`` blocks when there are at most ``samples`` of them, else
    ``samples`` distinct random sets."""
    if math.comb(len(names), deleted) <= samples:
        return list(itertools.combinations(names, deleted))
    chosen: set[tuple[str, ...]] = set()
    while len(chosen) < samples:
        chosen.add(tuple(sorted(rng.sample(names, deleted))))
    return sorted(chosen)


def lesion_study(model: torch.nn.Module, data: DataSet, *, split: str = "test",
                 max_deleted: int | None = None, samples: int = 10, seed: int = 0,
                 device: str | torch.device = "auto", batch_size: int = 1000,
                 blocks: list[str] | None = None, lesion: Lesion | None = None) -> dict[str, Any]:
    """Accuracy of ``model`` on ``data`` with residual blocks deleted; a JSON-able report.

    ``blocks`` and ``lesion`` default to the model's ``netc_residuals`` and ``netc_lesion``.
    """
    if (blocks is None) != (lesion is None):
        raise TrainError("pass both blocks and lesion, or neither")
    names = residual_blocks(model) if blocks is None else list(blocks)
    if not names:
        raise TrainError("the model has no deletable residual blocks")
    lesion = lesion or model.netc_lesion
    max_deleted = len(names) if max_deleted is None else max_deleted
    if not 1 <= max_deleted <= len(names):
        raise TrainError(f"can delete 1..{len(names)} residual blocks, asked for {max_deleted}")
    if samples < 1:
        raise TrainError(f"samples must be at least 1, got {samples}")
    device = resolve_device(device) if isinstance(device, str) else device
    model = model.to(device).eval()
    device_split = DeviceSplit(*data.split(split), data, device)

    def accuracy(deleted: tuple[str, ...] = ()) -> float:
        with lesion(set(deleted)) as lesioned:
            scored = model if lesioned is None else lesioned.to(device).eval()
            totals = score(scored, device_split, batch_size, data.num_classes)
        return summarize(totals, data.num_classes)[0]

    rng = random.Random(seed)
    random_rows = []
    for deleted in range(1, max_deleted + 1):
        accuracies = [accuracy(subset) for subset in _subsets(names, deleted, samples, rng)]
        random_rows.append({"deleted": deleted, "mean": statistics.fmean(accuracies),
                            "min": min(accuracies), "max": max(accuracies),
                            "std": statistics.pstdev(accuracies), "accuracies": accuracies})
    return {"data": data.name, "split": split, "seed": seed, "blocks": names,
            "baseline": accuracy(),
            "single": [{"block": name, "accuracy": accuracy((name,))} for name in names],
            "random": random_rows}


def lesion_checkpoint(checkpoint: str | Path, source: "ModelSource", data: str | None = None,
                      **options: Any) -> dict[str, Any]:
    """A lesion study of a trained checkpoint; ``data`` defaults to what it trained on."""
    device = resolve_device(options.pop("device", "auto"))
    model, payload = load_model(checkpoint, source, device)
    recipe = recipe_from_dict(payload["recipe"], where=str(checkpoint))
    dataset = load_data(data or recipe.data, source.input_shape, source.num_classes)
    options.setdefault("batch_size", recipe.eval_batch_size)
    return lesion_study(model, dataset, device=device, **options)


def write_lesion_report(report: dict[str, Any], out_dir: str | Path,
                        stem: str = "lesion") -> tuple[Path, Path | None]:
    """``<stem>.json`` and ``<stem>.png`` (accuracy against blocks deleted; None when matplotlib
    is missing)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out_dir / f"{stem}.json", out_dir / f"{stem}.png"
    json_path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return json_path, png_path if plot_lesion(report, png_path) else None
