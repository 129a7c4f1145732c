"""The `netc` command. Frameworks are imported inside the commands that need them, so
`validate`, `summary`, `schema` and `table` run where neither torch nor TensorFlow is installed."""
from __future__ import annotations

import json
import os
import sys

import click

from .spec.errors import SpecError


def _overrides(values: tuple[str, ...]) -> dict:
    """`--set NAME=VALUE` values, read by the spec's YAML rules and located on the command line
    (`--set size=6x:1:12` is column 12 of that argument), so a mistake in one names it."""
    from .spec.errors import Location
    from .spec.loader import LocDict, load_value

    out = LocDict()
    out.loc, out.key_locs, out.value_locs = None, {}, {}
    for item in values:
        where = f"--set {item}"
        key, sep, raw = item.partition("=")
        name = key.strip()
        key_loc = Location(where, 1, 7 + len(key) - len(key.lstrip()))
        if not sep or not name:
            raise SpecError(f"expected NAME=VALUE, got '{item}'", Location(where, 1, 7),
                            "e.g. --set num_classes=10")
        if name in out:
            raise SpecError(f"'{name}' is set twice ({out.key_locs[name].file} and {where})",
                            key_loc, "give each parameter once")
        out[name] = load_value(raw, where, 8 + len(key))
        out.key_locs[name] = key_loc
        out.value_locs[name] = Location(where, 1, 8 + len(key) + len(raw) - len(raw.lstrip()))
    if out.key_locs:
        out.loc = next(iter(out.key_locs.values()))
    return out


SET = click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
                   help="Set a network parameter declared under 'params'; VALUE is read as in "
                        "the spec (1e-1 is a float).")


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


@click.group(cls=NetcGroup)
@click.version_option(package_name="netc")
def main():
    """netc: compile YAML network specs into PyTorch and Keras models."""
    # TensorFlow's C++ start-up chatter (CPU features, oneDNN) is not the user's business.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@SET
def validate(spec, sets):
    """Check a spec: schema, blocks, expressions and shapes."""
    from . import load

    graph = load(spec, _overrides(sets))
    click.echo(f"{spec}: ok ({len(graph.nodes)} nodes, {graph.trainable:,} parameters)")


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@SET
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def summary(spec, sets, as_json):
    """Per-node output shapes, parameters and MACs, with totals."""
    from . import load
    from .report import summary_json, summary_text

    graph = load(spec, _overrides(sets))
    click.echo(json.dumps(summary_json(graph), indent=1) if as_json else summary_text(graph))


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@SET
@click.option("--backend", default="torch", show_default=True, help="torch or keras.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the source here.")
@click.option("--flat", is_flag=True, help="One line per node, no classes per block (for debugging).")
def build(spec, sets, backend, output, flat):
    """Emit standalone model source for a backend."""
    from . import emit
    from .spec.document import load_document

    params = _overrides(sets)
    source = emit(spec, backend, params, flat=flat)
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

    for name, op in sorted(REGISTRY.items()):
        args = ", ".join(f"{a}{'' if a in op.required else '=' + repr(op.defaults.get(a))}"
                         for a in op.args)
        click.echo(f"{name:18} {args}")
        if op.doc:
            click.echo(f"{'':18} {op.doc}")


def _register_commands() -> None:
    """Commands that live in `netc/commands/` (train, diff, ...) add themselves to `main`."""
    import importlib
    import pkgutil

    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}")


_register_commands()

if __name__ == "__main__":
    # Run as `python -m netc.cli`, this file is `__main__`; the commands in netc/commands/
    # registered themselves on the `netc.cli` module's group, so start that one.
    from netc.cli import main as registered

    registered()
