"""`netc check`: the same weights in every backend give the same outputs, node by node."""
from __future__ import annotations

import json
import sys

import click

from ..backends import DEFAULT_PAIR
from .options import SET, backend_names, overrides


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--backends", default=",".join(DEFAULT_PAIR), show_default=True,
              help="Comma-separated backends; the first is the reference.")
@click.option("--input-size", nargs=2, type=click.IntRange(min=1), metavar="H W",
              help="Check at this input size instead of the spec's (faster).")
@click.option("--seed", default=0, show_default=True, help="Seed for the weights and the input.")
@SET
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def check(spec, backends, input_size, seed, sets, as_json):
    """Random canonical weights in every backend, one input, every node's output compared.
    Exits 1 when a node computed alone differs from the reference by more than two float32
    implementations can (2 * 4 * 2^-24 * (terms summed + 4) * the node's max |value|), or when
    a backend's output, end to end, is further from a float64 run than float32 rounding
    propagated through the same network reaches."""
    from .. import load
    from ..crosscheck import check_text, numeric_check

    names = backend_names(backends, 2)
    graph = load(spec, overrides(sets), input_size=tuple(input_size) if input_size else None)
    report = numeric_check(graph, names, seed=seed)
    click.echo(json.dumps(report, indent=1) if as_json else check_text(report))
    if not report["ok"]:
        sys.exit(1)
