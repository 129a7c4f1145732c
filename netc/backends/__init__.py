"""Backend registry: plug-ins register under the entry-point group `netc.backends`."""
from __future__ import annotations

from importlib.metadata import entry_points

from ..spec.errors import SpecError
from .base import Backend

BUILTIN = {"torch": "netc.backends.torch:TorchBackend", "keras": "netc.backends.keras:KerasBackend"}


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
