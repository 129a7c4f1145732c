"""Train one of the test models (netc_train_models.SOURCES) in a process of its own, through
netc's Python API: ``python train_source.py NAME [--set KEY=VALUE] (--out DIR | --resume DIR)``.
What the subprocess tests (a SIGKILL, two processes under torchrun) run; a hand-written model
has no spec for `netc train` to compile."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from netc.train import TrainError, load_recipe, parse_assignments, resume, train
from netc_train_models import SOURCES


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", choices=sorted(SOURCES))
    parser.add_argument("--set", dest="assignments", action="append", default=[])
    parser.add_argument("--out")
    parser.add_argument("--resume")
    parser.add_argument("--save-final", help="save each rank's final state_dict ({rank})")
    args = parser.parse_args()
    source = SOURCES[args.model]()
    try:
        overrides = parse_assignments(args.assignments)
        if args.resume:
            result = resume(args.resume, source, overrides)
        else:
            result = train(source, load_recipe(None, overrides), args.out)
    except TrainError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.save_final:
        path = Path(args.save_final.replace("{rank}", os.environ.get("RANK", "0")))
        torch.save(result.model.state_dict(), path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
