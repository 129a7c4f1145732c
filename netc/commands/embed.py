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
    a spec, its seeded fresh initialisation. Runs on torch, on the CPU."""
    import torch

    from ..train import TrainError
    from ..train.run_folder import RunFolder
    from ..train.torch_embed import embed as write_features

    names = [name.strip() for name in outputs.split(",") if name.strip()]
    path = Path(run_or_spec)
    if path.is_dir() or path.parent.name == RunFolder.CHECKPOINTS:
        graph, state, trained_on = _run_weights(run_or_spec)
    else:
        from .. import load

        torch.manual_seed(0)
        graph, state, trained_on = load(run_or_spec, overrides(sets)), None, None
    if not (data or trained_on):
        raise TrainError("a spec has no data of its own", hint="give --data, e.g. --data digits")
    shapes = write_features(graph, names, state, data or trained_on, out, batch_size)
    summary = ", ".join(f"{key} {'x'.join(map(str, shape))}" for key, shape in shapes.items()
                        if key.endswith("_x"))
    click.echo(f"wrote {out} ({summary})", err=True)


def _run_weights(run):
    """(graph, state_dict, the data it trained on) of a torch run folder or checkpoint."""
    from ..train import TrainError
    from ..train.torch_runtime import load_model
    from .train import _trained

    _, checkpoint, source, _ = _trained(run, None)
    if source.backend != "torch":
        raise TrainError(f"{run} is a {source.backend} run; netc embed reads torch runs")
    model, payload = load_model(checkpoint, source)
    return source.graph, model.state_dict(), payload["recipe"]["data"]
