"""`netc weights`: convert a checkpoint between backends' weight files through the canonical
weight dict."""
from __future__ import annotations

import click

from .options import SET, overrides


@click.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("--spec", required=True, type=click.Path(dir_okay=False), help="The network's spec.")
@SET
@click.option("--ignore-extra-keys", is_flag=True,
              help="Skip keys the spec does not have (refused by default: likely another "
                   "architecture's weights).")
@click.option("--cast-non-float", is_flag=True,
              help="Convert integer or boolean tensors of the spec's parameters to float32.")
@click.option("--allow-non-finite", is_flag=True, help="Convert NaN and infinite values too.")
def weights(source, target, spec, sets, ignore_extra_keys, cast_non_float, allow_non_finite):
    """Convert SOURCE to TARGET, each a weight file of the backend its suffix names: a torch
    state_dict (.pt, .pth; read with weights_only=True) to a Keras weights file (.weights.h5;
    legacy .h5 read too), or back. Keys a framework keeps beside the parameters (torch's
    batch-norm step counters, num_batches_tracked) are skipped and reported."""
    from .. import load
    from ..weights import Leniency, convert

    leniency = Leniency(ignore_extra_keys, cast_non_float, allow_non_finite)
    report = convert(load(spec, overrides(sets)), source, target, leniency)
    lines = [(report.skipped, "keys the spec does not have", "skipped"),
             *((keys, what, "skipped") for what, keys in report.bookkeeping.items()),
             (report.cast, "non-float tensors to float32", "cast"),
             (report.non_finite, "tensors holding NaN or infinite values", "kept")]
    for keys, what, verb in lines:
        if keys:
            more = f", ... ({len(keys) - 5} more)" if len(keys) > 5 else ""
            click.echo(f"{verb} {len(keys)} {what}: {', '.join(keys[:5])}{more}", err=True)
    click.echo(f"wrote {target} ({report.count} tensors)", err=True)
