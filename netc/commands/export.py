"""`netc export`: a network as a deployable file (ONNX, TorchScript, ExportedProgram, SavedModel,
TFLite), checked against the netc model by the format's own runtime."""
from __future__ import annotations

import sys

import click

from .options import SET, overrides

FORMATS = ("onnx", "torchscript", "exported_program", "saved_model", "tflite")


@click.command()
@click.argument("target", metavar="SPEC_OR_RUN", type=click.Path(exists=True))
@click.option("--format", "fmt", required=True, type=click.Choice(FORMATS),
              help="exported_program is a .pt2 file and saved_model a folder; each format is "
                   "written by an installed backend that exports it.")
@click.option("-o", "--output", required=True, type=click.Path(), help="The file to write.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False),
              help="A weight file (as `netc weights` reads) instead of the run's checkpoint or "
                   "the fresh initialisation of a spec.")
@click.option("--backend", help="The backend that writes the file (default: the run's, when it "
                                "exports the format, else the first that does).")
@click.option("--no-check", is_flag=True, help="Skip the parity check.")
@SET
def export(target, fmt, output, weights, backend, no_check, sets):
    """Write SPEC_OR_RUN (a spec, or a run folder: its network and best checkpoint) as a FORMAT
    file whose batch size is free. Then the file, run by its own runtime (onnxruntime, the
    TorchScript loader, the ExportedProgram loader, the SavedModel loader, the TFLite
    interpreter), and the netc model compute one random batch, and their max abs difference
    is compared with twice the float32 rounding the network accumulates (measured as `netc
    check` measures it); above it the command exits 2."""
    from ..export import export_network

    written = export_network(target, fmt, output, weights, overrides(sets) if sets else None,
                             backend, check=not no_check)
    if written.network.weights is None:
        click.echo("note: no weights given; the file holds a fresh initialisation", err=True)
    for note in written.network.notes:
        click.echo(note, err=True)
    click.echo(f"wrote {output} ({fmt}, by the {written.backend} backend, batch size free)")
    parity = written.parity
    if parity is None:
        return
    verdict = "ok" if parity.ok else "FAILED"
    click.echo(f"parity {verdict}: {fmt} file vs netc model on a batch of {parity.batch}: "
               f"max abs error {parity.max_error:.3g} (limit {parity.limit:.3g}, "
               f"outputs up to {parity.scale:.3g})")
    if not parity.ok:
        sys.exit(2)
