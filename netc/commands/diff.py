"""`netc diff`: parameter accounting, IR against each backend's live model."""
from __future__ import annotations

import json
import sys

import click

from ..backends import DEFAULT_PAIR
from .options import SET, backend_names, overrides


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--backends", default=",".join(DEFAULT_PAIR), show_default=True,
              help="Comma-separated backends to build and count.")
@SET
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def diff(spec, backends, sets, as_json):
    """Parameters per node and kind: IR vs each live model, with each framework's own total
    and a line explaining every accounting difference. Exits 1 on a real disagreement."""
    from .. import load
    from ..crosscheck import diff_text, param_diff

    names = backend_names(backends, 1)
    report = param_diff(load(spec, overrides(sets)), names)
    click.echo(json.dumps(report, indent=1) if as_json else diff_text(report))
    if not report["ok"]:
        sys.exit(1)
