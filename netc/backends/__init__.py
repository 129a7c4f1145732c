"""Backend registry: plug-ins register under the entry-point group `netc.backends`."""
from __future__ import annotations

from importlib.metadata import entry_points

from ..spec.errors import SpecError
from .base import Backend, Unsupported, UnsupportedOp

__all__ = ["Backend", "Unsupported", "UnsupportedOp", "BUILTIN", "DEFAULT_BACKEND", "DEFAULT_PAIR",
           "available", "get_backend", "installed"]

BUILTIN = {"torch": "netc.backends.torch:TorchBackend", "keras": "netc.backends.keras:KerasBackend"}
DEFAULT_BACKEND = "torch"  # what `netc build`, `netc train` and netc.build use unless told
DEFAULT_PAIR = tuple(BUILTIN)  # what `netc diff` and `netc check` compare unless told


def available() -> dict[str, str]:
    found = dict(BUILTIN)
    for ep in entry_points(group="netc.backends"):
        found.setdefault(ep.name, ep.value)
    return found


def get_backend(name: str) -> Backend:
    targets = available()
    if name not in targets:
        raise SpecError(f"unknown backend '{name}'; available: {', '.join(sorted(targets))}")
    module_name, _, attr = targets[name].partition(":")
    try:
        module = __import__(module_name, fromlist=[attr])
    except ModuleNotFoundError as exc:
        raise SpecError(f"backend '{name}' needs the package '{exc.name}', which is not installed",
                        hint=f"pip install 'netc[{name}]'") from None
    return getattr(module, attr)()


def installed() -> list[Backend]:
    """Every registered backend whose module imports here, in registry order (built-ins first)."""
    found = []
    for name in available():
        try:
            found.append(get_backend(name))
        except SpecError:
            continue
    return found
