"""`netc weights`: convert a checkpoint between frameworks through the canonical weight dict."""
from __future__ import annotations

import click

from ..cli import SET, _overrides, main


@main.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("--spec", required=True, type=click.Path(dir_okay=False), help="The network's spec.")
@SET
def weights(source, target, spec, sets):
    """Convert SOURCE to TARGET: a torch state_dict (.pt, .pth; read with weights_only=True)
    to a Keras weights file (.weights.h5), or back."""
    from .. import load
    from ..weights import convert

    count = convert(load(spec, _overrides(sets)), source, target)
    click.echo(f"wrote {target} ({count} tensors)", err=True)
