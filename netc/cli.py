"""The `netc` command. Frameworks are imported inside the commands that need them, so
`validate`, `summary`, `schema` and `table` run where neither torch nor TensorFlow is installed."""
from __future__ import annotations

import json
import os
import sys

import click

from .backends import DEFAULT_BACKEND, available
from .commands import COMMANDS
from .commands.options import SET, overrides
from .spec.errors import SpecError


class NetcGroup(click.Group):
    """Prints user errors located, without a traceback, and exits 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SpecError as exc:  # the whole family: specs, recipes, runs
            click.echo(exc.format(), err=True)
            sys.exit(2)
        except OSError as exc:  # a path the user named cannot be read or written
            paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
            where = f"{' -> '.join(paths)}: " if paths else ""
            click.echo(f"{where}error: {exc.strerror or exc}", err=True)
            sys.exit(2)


@click.group(cls=NetcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="netc")
def main():
    """netc: compile YAML network specs into PyTorch and Keras models."""
    # TensorFlow's C++ start-up chatter (CPU features, oneDNN) is not the user's business.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


OUTPUTS = click.option(
    "--outputs", help="Comma-separated layer or block names to output instead, in order "
                      "(layer2,layer3,layer4: a feature extractor).")


def _with_outputs(graph, outputs):
    if not outputs:
        return graph
    from .compiler.outputs import select_outputs

    return select_outputs(graph, [name.strip() for name in outputs.split(",")])


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@SET
def validate(spec, sets):
    """Check a spec: schema, blocks, expressions and shapes."""
    from . import load

    graph = load(spec, overrides(sets))
    click.echo(f"{spec}: ok ({len(graph.nodes)} nodes, {graph.trainable:,} parameters)")


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@SET
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@OUTPUTS
def summary(spec, sets, as_json, outputs):
    """Per-node output shapes, parameters and MACs, with totals, and each output's channels and
    reduction."""
    from . import load
    from .compiler.outputs import outputs_text
    from .report import summary_json, summary_text

    graph = _with_outputs(load(spec, overrides(sets)), outputs)
    if as_json:
        click.echo(json.dumps({**summary_json(graph), "outputs": graph.meta.get("outputs")}, indent=1))
    else:
        click.echo(summary_text(graph) + "\n" + outputs_text(graph))


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@SET
@click.option("--backend", default=DEFAULT_BACKEND, show_default=True,
              help=f"One of: {', '.join(available())}.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the source here.")
@click.option("--flat", is_flag=True, help="One line per node, no classes per block (for debugging).")
@OUTPUTS
def build(spec, sets, backend, output, flat, outputs):
    """Emit standalone model source for a backend."""
    from . import emit, load
    from .spec.document import load_document

    params = overrides(sets)
    source = emit(_with_outputs(load(spec, params), outputs), backend, flat=flat)
    if output:
        if os.path.exists(output):
            read = list(load_document(spec, params).sources)  # the spec, then its includes
            clash = next((path for path in read if os.path.samefile(output, path)), None)
            if clash is not None:
                what = "the spec" if clash == read[0] else f"{clash}, which the spec includes"
                raise SpecError(f"-o {output} is {what}; writing the model source there would "
                                "replace it", hint="choose another output file")
        try:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(source)
        except OSError as exc:  # a failed write or close names no file: it is this one
            raise OSError(exc.errno, exc.strerror or str(exc), output) from None
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(source, nl=False)


@main.command()
def schema():
    """Print the spec's JSON Schema (draft 2020-12)."""
    from .spec.schema import SCHEMA_PATH

    click.echo(SCHEMA_PATH.read_text(), nl=False)


@main.command()
def ops():
    """List the primitive ops and their arguments."""
    from .compiler.ops import REGISTRY
    from .plugins import OWNER, check

    check()
    for name, op in sorted(REGISTRY.items()):
        args = ", ".join(f"{a}{'' if a in op.required else '=' + repr(op.defaults.get(a))}"
                         for a in op.args)
        click.echo(f"{name:18} {args}" + (f"  [plug-in {OWNER[name]}]" if name in OWNER else ""))
        if op.doc:
            click.echo(f"{'':18} {op.doc}")


for _command in COMMANDS:
    main.add_command(_command)

if __name__ == "__main__":
    main()
