"""`netc graph`: a picture of the network, drawn from its IR."""
from __future__ import annotations

import click

from .options import SET, overrides


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="net.svg or net.png (laid out by Graphviz's dot), or net.dot (DOT text).")
@click.option("--depth", type=click.IntRange(min=0), default=0, show_default=True,
              help="Scope levels to open: 0 shows stages collapsed, 1 their blocks, 2 the "
                   "layers inside the blocks, ...")
@SET
def graph(spec, output, depth, sets):
    """Draw SPEC: every scope deeper than --depth collapsed into one box with its parameters,
    opened scopes as frames, residual adds and concatenations as their own shapes, edges
    labelled with the shapes they carry. In SVG each box shows its parameters and MACs on
    hover."""
    from .. import load
    from ..graph.dot import to_dot
    from ..graph.render import picture_format, write

    picture_format(output)  # an unknown suffix is refused before the spec is read
    write(to_dot(load(spec, overrides(sets)), depth), output)
    click.echo(f"wrote {output}")
