"""A spec file with everything it includes: located data, blocks by name, network parameters."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from .errors import Location, SpecError, did_you_mean
from .expressions import resolve
from .loader import LocDict, key_location, load_sized, location_of
from .validate import check_schema

BLOCK_META = ("params", "defaults", "doc", "inputs")
MAX_FILE_BYTES = 1024 * 1024  # of the spec and its includes together
MAX_INCLUDES = 100  # include entries in all files, a library included twice counted twice


@dataclass
class Block:
    name: str
    decl: LocDict  # the block's mapping: params, defaults, doc and its one definition key
    file: str

    @property
    def params(self) -> dict:
        return self.decl.get("params") or {}

    @property
    def defaults(self) -> dict:
        return self.decl.get("defaults") or {}

    @property
    def inputs(self) -> list | None:
        """The names of a block's several inputs (NASNet's cell reads two), or None for one."""
        return self.decl.get("inputs")


@dataclass
class Document:
    path: str
    data: LocDict
    sources: dict[str, str] = field(default_factory=dict)
    blocks: dict[str, Block] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    budget: "_Budget | None" = None


def read_source(path: str, loc: Location | None = None, hint: str | None = None,
                used: int = 0) -> str:
    """The text of a regular file, reading no more than the bytes left (MAX_FILE_BYTES less
    `used`) + 1: a device, a FIFO or a directory is refused before anything is read, and a file
    that grows, or whose size the system misreports, still stops at the limit."""
    limit = max(MAX_FILE_BYTES - used, 0)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO's open waits
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise SpecError(f"'{path}' is not a regular file", loc,
                            "a spec and the files it includes are YAML text files")
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise SpecError(f"no such file: '{path}'", loc, hint) from None
    except OSError as exc:
        raise SpecError(f"cannot read '{path}': {exc.strerror or exc}", loc) from None
    if len(data) > limit:
        whole = "the spec with its includes" if used else "it"
        raise SpecError(f"'{path}' is too large: {whole} may hold at most "
                        f"{_size(MAX_FILE_BYTES)}; is it really a spec?", loc)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"'{path}' is not UTF-8 text", loc) from None


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n % 2**20 == 0 else f"{n:,} bytes"


def load_document(path: str, overrides: dict | None = None, text: str | None = None) -> Document:
    loc = Location(path, 0, 0)
    if text is None:
        text = read_source(path, loc)
    elif len(text) > MAX_FILE_BYTES or len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise SpecError(f"the spec text is larger than {_size(MAX_FILE_BYTES)}", loc)
    data, size = load_sized(text, path)
    check_schema(data, path)
    doc = Document(path, data, {path: text})
    doc.budget = _Budget(len(text.encode("utf-8")), size, 0, {os.path.abspath(path)})
    _add_blocks(doc, data, path, [(os.path.abspath(path), path)], {})
    given_locs = overrides if isinstance(overrides, LocDict) else None
    doc.params = bind_params(data.get("params") or {}, overrides or {}, {}, "the network",
                             location_of(data, "params"), given_locs, strict_overrides=True)
    return doc


@dataclass
class _Budget:
    """What reading the spec and its includes has used, bounded as a whole."""
    bytes: int
    values: int
    includes: int
    loaded: set


def _include(doc, rel, loc, stack):
    """The located data of one include, or None when the file is already loaded (a diamond:
    two libraries that include a third share its blocks)."""
    budget = doc.budget
    budget.includes += 1
    if budget.includes > MAX_INCLUDES:
        raise SpecError(f"the spec makes more than {MAX_INCLUDES} includes", loc,
                        "include each library once, where it is used")
    shown = os.path.normpath(os.path.join(os.path.dirname(stack[-1][1]), rel))
    target = os.path.abspath(shown)
    paths = [p for p, _ in stack]
    if target in paths:
        cycle = " -> ".join(os.path.basename(p) for p in paths[paths.index(target):] + [target])
        raise SpecError(f"include cycle: {cycle}", loc)
    if target in budget.loaded:
        return None, shown
    text = read_source(shown, loc, "an include path is relative to the file that includes it",
                       budget.bytes)
    lib, size = load_sized(text, shown, budget.values)
    budget.bytes += len(text.encode("utf-8"))
    budget.values += size
    budget.loaded.add(target)
    check_schema(lib, shown, kind="library")
    doc.sources[shown] = text
    return lib, shown


def _add_blocks(doc, data, path, stack, file_defaults):
    includes = data.get("include") or []
    for i, rel in enumerate(includes):
        lib, shown = _include(doc, rel, location_of(includes, i), stack)
        if lib is not None:
            _add_blocks(doc, lib, shown, stack + [(os.path.abspath(shown), shown)],
                        lib.get("defaults") or {})
    blocks = data.get("blocks") or {}
    for name, decl in blocks.items():
        if name in doc.blocks:
            raise SpecError(f"block '{name}' is defined twice (also in {doc.blocks[name].file})",
                            key_location(blocks, name))
        definition = [k for k in decl if k not in BLOCK_META]
        if len(definition) != 1:
            raise SpecError(f"block '{name}' must have exactly one definition (body, an op or a "
                            f"combinator); found {', '.join(definition) or 'none'}",
                            key_location(blocks, name))
        _check_inputs(name, decl)
        if file_defaults:
            merged = LocDict({**file_defaults, **(decl.get("defaults") or {})})
            decl = _with(decl, "defaults", merged)
        doc.blocks[name] = Block(name, decl, path)


def _check_inputs(name: str, decl) -> None:
    """A block's input names are expression names beside its parameters: none may be taken."""
    inputs = decl.get("inputs") or []
    params = decl.get("params") or {}
    for i, input_name in enumerate(inputs):
        taken = ("a parameter" if input_name in params else "'in', the incoming shape"
                 if input_name in ("in", "in_") else "another input" if input_name in inputs[:i]
                 else None)
        if taken:
            raise SpecError(f"block '{name}': input '{input_name}' has the name of {taken}",
                            location_of(inputs, i), "give each input a name of its own")


def _with(decl: LocDict, key, value) -> LocDict:
    out = LocDict(decl)
    out.loc, out.key_locs, out.value_locs = decl.loc, decl.key_locs, decl.value_locs
    out[key] = value
    return out


_CHECKS = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "list": lambda v: isinstance(v, list),
    "any": lambda v: True,
}


def _decl(spec) -> tuple[str, object, bool]:
    """(type, default, required) of one parameter declaration."""
    if isinstance(spec, str):
        return spec, None, True
    if isinstance(spec, dict):
        has = "default" in spec
        default = spec.get("default")
        kind = spec.get("type") or _type_of(default) if has else spec.get("type", "any")
        return kind, default, not has
    return _type_of(spec), spec, False


def _type_of(value) -> str:
    return next((k for k in ("bool", "int", "float", "str", "list") if _CHECKS[k](value)), "any")


def bind_params(decls: dict, given: dict, env: dict, owner: str, call_loc,
                given_locs=None, strict_overrides=False) -> dict:
    """Check `given` against `decls` (unknown, missing, wrong type) and return name -> value."""
    for key in given:
        if key not in decls:
            loc = key_location(given_locs, key) if given_locs is not None else call_loc
            raise SpecError(f"{owner} has no parameter '{key}'", loc,
                            did_you_mean(key, decls) or (f"its parameters: {', '.join(decls)}"
                                                         if decls else f"{owner} takes no parameters"))
    values = {}
    for key, spec in decls.items():
        kind, default, required = _decl(spec)
        if key in given:
            loc = location_of(given_locs, key) if given_locs is not None else call_loc
            value = resolve(given[key], {**env, **values}, loc)
        elif required and strict_overrides:  # the network's caller is the command line
            raise SpecError(f"{owner} needs the parameter '{key}' ({kind})",
                            key_location(decls, key), f"give it a default, or pass --set {key}=VALUE")
        elif required:
            raise SpecError(f"{owner} needs the parameter '{key}' ({kind})", call_loc)
        else:
            loc = location_of(decls, key)
            value = resolve(default, {**env, **values}, loc)
        if kind in ("int",) and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not _CHECKS.get(kind, _CHECKS["any"])(value):
            raise SpecError(f"{owner}: parameter '{key}' must be {kind}, got {value!r}", loc)
        values[key] = value
    return values
