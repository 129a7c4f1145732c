"""The op registry: one entry per primitive holds its argument schema and its shape, parameter
and MAC rules. Backends keep one emitter per op name; nothing else switches on op names."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ...spec.errors import ShapeError

Shape = list[int]


def _no_params(attrs, in_shapes):
    return []


def _no_macs(attrs, in_shapes, out_shape):
    return 0


@dataclass(frozen=True)
class OpDef:
    name: str
    args: dict  # JSON Schema "properties" of the spec arguments
    resolve: Callable[[dict, list[Shape]], dict]  # spec args with defaults -> explicit IR attrs
    infer: Callable[[dict, list[Shape]], Shape]
    params: Callable[[dict, list[Shape]], list[tuple]] = _no_params  # (name, shape, kind)
    macs: Callable[[dict, list[Shape], Shape], int] = _no_macs
    required: tuple = ()
    defaults: dict = field(default_factory=dict)
    arity: int | None = 1  # None: two or more inputs
    doc: str = ""
    attrs: dict = field(default_factory=dict)  # IR attribute -> its type (attr_types)
    macs_doc: str = ""  # how `macs` counts, where a summary should say it (attention)

    def arity_problem(self, count: int) -> str | None:
        """Why `count` inputs do not suit this op; None when they do."""
        if self.arity is None:
            return None if count >= 2 else f"{self.name} joins two or more inputs, got {count}"
        if count != self.arity:
            what = "one input" if self.arity == 1 else f"{self.arity} inputs"
            return f"{self.name} takes {what}, got {count}"
        return None


REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    if op.name in REGISTRY:
        raise ValueError(f"op '{op.name}' is registered twice")
    REGISTRY[op.name] = op
    return op


def get(name: str) -> OpDef:
    return REGISTRY[name]


def spatial(shape: Shape, what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError(f"{what} needs a C x H x W input, got {fmt(shape)}")
    return shape[0], shape[1], shape[2]


def fmt(shape: Shape) -> str:
    return "x".join(map(str, shape))


def _load_all() -> None:
    """Import every op module in this package (each registers its ops on import), then the
    installed plug-ins' ops (entry-point group `netc.ops`, netc/plugins.py)."""
    import importlib
    import pkgutil

    from ...plugins import load_plugins

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name not in ("schema_types", "attr_types", "initializers"):
            importlib.import_module(f"{__name__}.{info.name}")
    load_plugins(REGISTRY, register)


_load_all()
