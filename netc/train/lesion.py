"""Lesion study of a residual network (Veit, Wilber & Belongie 2016, "Residual networks behave
like ensembles of relatively shallow networks", sections 4.1-4.2), apart from any framework.

Deleting a residual block keeps only its shortcut path. The study scores the network with each
single block deleted, then with k random blocks deleted for k = 1..K (a fixed seed picks the
sets), and reports accuracy against k. A trainer supplies ``accuracy(deleted)``: the test
accuracy of the trained network with the blocks ``deleted`` removed.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from typing import Any, Callable, Sequence

from netc.train.errors import TrainError


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


def check_request(blocks: Sequence[str], max_deleted: int | None, samples: int) -> int:
    """Refuse a study that cannot run; the number of blocks deleted at most."""
    if not blocks:
        raise TrainError("the model has no deletable residual blocks")
    max_deleted = len(blocks) if max_deleted is None else max_deleted
    if not 1 <= max_deleted <= len(blocks):
        raise TrainError(f"can delete 1..{len(blocks)} residual blocks, asked for {max_deleted}")
    if samples < 1:
        raise TrainError(f"samples must be at least 1, got {samples}")
    return max_deleted


def lesion_report(blocks: Sequence[str], accuracy: Callable[[tuple[str, ...]], float], *,
                  data: str, split: str, max_deleted: int | None = None, samples: int = 10,
                  seed: int = 0) -> dict[str, Any]:
    """The study as a JSON-able report."""
    names = list(blocks)
    max_deleted = check_request(names, max_deleted, samples)
    rng = random.Random(seed)
    random_rows = []
    for deleted in range(1, max_deleted + 1):
        accuracies = [accuracy(subset) for subset in _subsets(names, deleted, samples, rng)]
        random_rows.append({"deleted": deleted, "mean": statistics.fmean(accuracies),
                            "min": min(accuracies), "max": max(accuracies),
                            "std": statistics.pstdev(accuracies), "accuracies": accuracies})
    return {"data": data, "split": split, "seed": seed, "blocks": names,
            "baseline": accuracy(()),
            "single": [{"block": name, "accuracy": accuracy((name,))} for name in names],
            "random": random_rows}
