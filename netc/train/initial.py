"""A run's starting weights from another network's file (recipe `init_weights`): read and
matched once, when the run starts (a resumed run continues from its own checkpoint), and loaded
into each fresh model right after it is built, before any average of it or optimizer state."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from netc.train.errors import TrainError
from netc.train.recipe import Recipe

if TYPE_CHECKING:
    from netc.train import ModelSource
    from netc.transfer import Transfer


def with_initial_weights(source: "ModelSource", recipe: Recipe
                         ) -> tuple["ModelSource", "Transfer | None"]:
    """``source`` carrying the weights ``recipe.init_weights`` holds for it, and the report."""
    if not recipe.init_weights:
        return source, None
    from netc import transfer
    from netc.spec.errors import SpecError

    if source.graph is None:
        raise TrainError(f"init_weights are matched by IR name, and the model source "
                         f"'{source.name}' has no IR graph",
                         hint="make the source from a spec (netc.runs.model_source)")
    path = recipe.init_weights
    try:
        weights, report = transfer.match(source.graph, transfer.read(path, source.graph),
                                         f"'{path}'", recipe.init_partial)
    except TrainError:
        raise
    except SpecError as err:
        raise TrainError(err.message, hint=err.hint, loc=err.loc) from None
    return dataclasses.replace(source, initial=weights), report


def load_initial(model, source: "ModelSource") -> None:
    """Overlay the source's starting weights on a freshly built ``model``."""
    if source.initial is None:
        return
    from netc import transfer
    from netc.backends import get_backend

    transfer.overlay(get_backend(source.backend), model, source.graph, source.initial)


def frozen_nodes(source: "ModelSource", recipe: Recipe) -> list[str]:
    """The parametrised IR nodes ``recipe.freeze`` selects (an error if a glob selects none)."""
    if not recipe.freeze:
        return []
    from netc.spec.errors import SpecError
    from netc.transfer import parse_globs, select_nodes

    if source.graph is None:
        raise TrainError(f"freeze selects IR nodes, and the model source '{source.name}' has "
                         "no IR graph")
    try:
        return select_nodes(source.graph, parse_globs(recipe.freeze, "freeze"), "freeze")
    except SpecError as err:
        raise TrainError(err.message, hint=err.hint) from None
