"""Train a model from an importable factory: ``python -m netc.train.worker MODULE:FUNCTION``.

FUNCTION takes no arguments and returns a ModelSource. This is the entry point torchrun
re-invokes in each process when no spec is involved (tests, a hand-written model); the netc
CLI plays the same role for specs.

    python -m netc.train.worker mypkg.models:resnet_source --set epochs=5 --out runs/a
    python -m netc.train.worker mypkg.models:resnet_source --resume runs/a [--set epochs=8]
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from netc.train import ModelSource
from netc.train.errors import TrainError
from netc.train.recipe import load_recipe, parse_assignments


def import_source(factory: str) -> ModelSource:
    module_name, sep, function_name = factory.partition(":")
    if not sep or not module_name or not function_name.isidentifier():
        raise TrainError(f"factory '{factory}' is not MODULE:FUNCTION")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise TrainError(f"cannot import '{module_name}': {err}") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise TrainError(f"'{module_name}' has no function '{function_name}'")
    source = function()
    if not isinstance(source, ModelSource):
        raise TrainError(f"{factory}() returned {type(source).__name__}, not a ModelSource")
    return source


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m netc.train.worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("factory", help="MODULE:FUNCTION returning a ModelSource")
    parser.add_argument("--recipe", help="recipe YAML file")
    parser.add_argument("--set", dest="assignments", action="append", default=[],
                        metavar="KEY=VALUE", help="override a recipe key (repeatable)")
    parser.add_argument("--out", help="run folder (default: runs/<name>-<time>)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue this run instead")
    parser.add_argument("--save-final", metavar="PATH",
                        help="also save the final state_dict of every rank to PATH "
                             "({rank} in PATH is replaced by the rank)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from netc.train.trainer import resume, train
    import torch

    try:
        source = import_source(args.factory)
        if args.resume:
            if args.recipe or args.out:
                raise TrainError("--resume continues a run in its folder with its recipe; "
                                 "--recipe and --out cannot go with it",
                                 hint="extend it with --set epochs=N")
            result = resume(args.resume, source, parse_assignments(args.assignments))
        else:
            recipe = load_recipe(args.recipe, parse_assignments(args.assignments))
            result = train(source, recipe, args.out)
    except TrainError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.save_final:
        path = Path(args.save_final.replace("{rank}", os.environ.get("RANK", "0")))
        torch.save(result.model.state_dict(), path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
