"""Options shared by the commands: `--set` overrides and lists of backends."""
from __future__ import annotations

import click

from ..spec.errors import Location, SpecError, did_you_mean
from ..spec.loader import LocDict, load_value


def overrides(values: tuple[str, ...]) -> dict:
    """`--set NAME=VALUE` values, read by the spec's YAML rules and located on the command line
    (`--set size=6x:1:12` is column 12 of that argument), so a mistake in one names it."""

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


def backend_names(text: str, least: int) -> tuple[str, ...]:
    """`--backends a,b`: registered names, each once, at least `least` of them."""
    from ..backends import available

    names = tuple(part.strip() for part in text.split(","))
    known = list(available())
    for name in names:
        if name not in known:
            raise click.BadParameter(f"'{name}' is not a backend (installed: {', '.join(known)})"
                                     + (f"; {did_you_mean(name, known)}"
                                        if did_you_mean(name, known) else ""),
                                     param_hint="--backends")
    if len(set(names)) != len(names):
        raise click.BadParameter("each backend may be named once", param_hint="--backends")
    if len(names) < least:
        raise click.BadParameter(f"name at least {least} backend{'s' if least > 1 else ''}",
                                 param_hint="--backends")
    return names
