"""`netc table SPEC`: the architecture table as the paper prints it, Markdown or LaTeX."""
from __future__ import annotations

import click

from .options import SET, overrides


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@SET
@click.option("--latex", "as_latex", is_flag=True, help="A LaTeX tabular instead of Markdown.")
def table(spec, sets, as_latex):
    """Stages with output size, the block's layers and repeats, computed from the IR."""
    from .. import load
    from ..table import latex, markdown

    graph = load(spec, overrides(sets))
    click.echo((latex if as_latex else markdown)(graph), nl=False)
