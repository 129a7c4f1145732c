"""Ops from other packages: the entry-point group `netc.ops`.

An installed distribution declares, in its entry points,

    [netc.ops]
    mish = netc_mish            # a module (or module:object) holding OPS and EMITTERS

where `OPS` is a list of `netc.compiler.ops.OpDef` (argument schema, resolve, shape, parameter
and MAC rules, and the type of every IR attribute from `netc.compiler.ops.attr_types`) and
`EMITTERS` maps a backend name to {op name: emitter}, each emitter written against that backend's
emitter signature (netc/backends/torch/ops.py, netc/backends/keras/ops.py). A spec names the op
like any other; it never names code.

A plug-in's emitted text is its own code, trusted as installed by the user; what reaches that
text from a spec is still checked: `lint` checks every node's attributes against the op's
declared types, which are netc's own, before any emitter runs.

Loading never raises: a plug-in that fails to import, registers a name already taken or is
malformed is recorded, and `check()` raises its error (located at the plug-in's code or entry
point) when a command next loads a spec or lists ops.
"""
from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from .spec.errors import Location, SpecError

GROUP = "netc.ops"
_OP_NAME = re.compile(r"[a-z][a-z0-9_]*")


class PluginError(SpecError):
    """An installed op plug-in that cannot be used."""


@dataclass
class Plugin:
    name: str  # the entry point's name
    source: str  # "entry point NAME = VALUE (distribution D VERSION)"
    ops: list = field(default_factory=list)
    emitters: dict = field(default_factory=dict)  # backend -> {op: emitter}


LOADED: dict[str, Plugin] = {}  # plug-in name -> Plugin
OWNER: dict[str, str] = {}  # op name -> the plug-in that registered it
BROKEN: list[PluginError] = []


def load_plugins(registry: dict, register) -> None:
    """Register every installed plug-in's ops with `register`; record the broken ones."""
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            plugin = _read(ep, registry)
        except PluginError as exc:
            BROKEN.append(exc)
            continue
        for op in plugin.ops:
            register(op)
            OWNER[op.name] = plugin.name
        LOADED[plugin.name] = plugin


def check() -> None:
    """Raise the first broken plug-in's error."""
    if BROKEN:
        raise BROKEN[0]


def emitters(backend: str) -> dict:
    """{op: emitter} for `backend` over every loaded plug-in; an op whose plug-in gives no
    emitter for it gets one that refuses, naming the plug-in."""
    from .backends.base import UnsupportedOp

    out = {}
    for plugin in LOADED.values():
        given = plugin.emitters.get(backend, {})
        for op in plugin.ops:
            out[op.name] = given.get(op.name) or _refuse(plugin, op.name, backend, UnsupportedOp)
    return out


def _refuse(plugin: Plugin, op: str, backend: str, error):
    def emit(node, *_):
        raise error(f"{node.name}: op '{op}' comes from the plug-in '{plugin.name}' "
                    f"({plugin.source}), which gives no emitter for the {backend} backend",
                    node.location, hint=f"build for one of: {', '.join(sorted(plugin.emitters))}"
                    if plugin.emitters else None)
    return emit


def _describe(ep) -> str:
    dist = getattr(ep, "dist", None)
    where = f" (distribution {dist.name} {dist.version})" if dist is not None else ""
    return f"entry point {ep.name} = {ep.value} in group {GROUP}{where}"


def _entry_location(ep) -> Location | None:
    """entry_points.txt of the plug-in's distribution, at the line that declares it."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None
    try:
        path = str(dist.locate_file(dist._path / "entry_points.txt"))  # type: ignore[attr-defined]
        text = dist.read_text("entry_points.txt") or ""
    except (AttributeError, OSError):
        return None
    for number, line in enumerate(text.splitlines(), 1):
        if line.split("=")[0].strip() == ep.name:
            return Location(path, number, 1)
    return Location(path, 0, 0)


def _code_location(exc: BaseException) -> Location | None:
    """The innermost frame of the plug-in's own code in a traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "importlib" not in f.filename and not f.filename.startswith("<")]
    if isinstance(exc, SyntaxError) and exc.filename:
        return Location(exc.filename, exc.lineno or 0, exc.offset or 1)
    return Location(frames[-1].filename, frames[-1].lineno or 0, 1) if frames else None


def _read(ep, registry: dict) -> Plugin:
    from .compiler.ops import OpDef

    source = _describe(ep)
    at = _entry_location(ep)

    def fail(message, loc=at, hint=None):
        return PluginError(f"op plug-in '{ep.name}' ({source}): {message}", loc, hint)

    try:
        obj = ep.load()
    except Exception as exc:  # noqa: BLE001 - any failure of foreign code is reported, located
        raise fail(f"failed to import: {type(exc).__name__}: {exc}", _code_location(exc) or at,
                   "fix or uninstall the plug-in") from None
    ops, emitters_by_backend = getattr(obj, "OPS", None), getattr(obj, "EMITTERS", {})
    if not isinstance(ops, (list, tuple)) or not all(isinstance(o, OpDef) for o in ops) or not ops:
        raise fail("OPS must be a non-empty list of netc.compiler.ops.OpDef")
    names = [o.name for o in ops]
    for op in ops:
        _check_op(op, names, registry, fail)
    if not isinstance(emitters_by_backend, dict):
        raise fail("EMITTERS must map a backend name to {op name: emitter}")
    emitters_out = {}
    for backend, table in emitters_by_backend.items():
        if not isinstance(backend, str) or not isinstance(table, dict):
            raise fail(f"EMITTERS[{backend!r:.40}] must be a mapping {{op name: emitter}}")
        for op, emitter in table.items():
            if op not in names:
                raise fail(f"EMITTERS['{backend}'] names '{op:.40}', which is not one of its "
                           f"ops ({', '.join(names)}); a plug-in emits only its own ops")
            if not callable(emitter):
                raise fail(f"EMITTERS['{backend}']['{op}'] is not callable")
        emitters_out[backend] = dict(table)
    return Plugin(ep.name, source, list(ops), emitters_out)


def _check_op(op, names: list, registry: dict, fail) -> None:
    from .compiler.ops import attr_types
    from .compiler.ops.initializers import Init

    if not isinstance(op.name, str) or not _OP_NAME.fullmatch(op.name):
        raise fail(f"op name {op.name!r:.40} is not lower-case letters, digits and underscores")
    if names.count(op.name) > 1:
        raise fail(f"registers the op '{op.name}' twice")
    if op.name in registry:
        other = OWNER.get(op.name)
        owner = f"the plug-in '{other}'" if other else "netc itself"
        raise fail(f"registers the op '{op.name}', which {owner} already defines",
                   hint="rename the plug-in's op; an op name means one thing")
    typed = (attr_types.Int, attr_types.Float, attr_types.Bool, attr_types.Enum, attr_types.Ints,
             Init)
    for attr, kind in op.attrs.items():
        if not isinstance(attr, str) or type(kind) not in typed:
            raise fail(f"op '{op.name}' attribute {attr!r:.40} must have a type from "
                       "netc.compiler.ops.attr_types (Int, Float, Bool, Enum, Ints) or "
                       "netc.compiler.ops.initializers.Init")
    for what in ("resolve", "infer", "params", "macs"):
        if not callable(getattr(op, what)):
            raise fail(f"op '{op.name}': {what} is not callable")
