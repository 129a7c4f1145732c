"""`netc embed`: features of a trained run (or a freshly initialised spec) at named outputs, for
a linear probe."""
from __future__ import annotations

from pathlib import Path

import click

from .options import SET, overrides


@click.command()
@click.argument("run_or_spec", type=click.Path(exists=True))
@click.option("--outputs", required=True,
              help="Comma-separated layer or block names whose features to write "
                   "(layer3,layer4); each is global-average-pooled.")
@click.option("--data", help="Data source (digits, imagefolder:DIR, ...); a run's default is "
                             "the data it trained on.")
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False),
              help="The .npz file to write.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@SET
def embed(run_or_spec, outputs, data, out, batch_size, sets):
    """Write features of RUN_OR_SPEC at --outputs for the train and test images of --data to
    OUT (.npz: train_x, train_y, test_x, test_y, and train.<name>/test.<name> per output).
    A run folder or checkpoint gives its trained weights (its best checkpoint, else its last);
    a spec, its seeded fresh initialisation (seed 0), by the default backend's trainer.
    Runs on the CPU."""
    from .. import load
    from ..backends import DEFAULT_BACKEND
    from ..runs import model_source
    from ..train import trainer_for
    from ..train.run_folder import RunFolder
    from .train import _trained

    names = [name.strip() for name in outputs.split(",") if name.strip()]
    path = Path(run_or_spec)
    if path.is_dir() or path.parent.name == RunFolder.CHECKPOINTS:
        _, checkpoint, source, trainer = _trained(run_or_spec, None)
    else:
        graph = load(run_or_spec, overrides(sets))
        source = model_source(graph, path.read_text(encoding="utf-8"), DEFAULT_BACKEND)
        checkpoint, trainer = None, trainer_for(DEFAULT_BACKEND)
    shapes = trainer.embed(checkpoint, source, names, data, out, batch_size)
    summary = ", ".join(f"{key} {'x'.join(map(str, shape))}" for key, shape in shapes.items()
                        if key.endswith("_x"))
    click.echo(f"wrote {out} ({summary})", err=True)
