"""`netc export`: a network and its weights written as a deployable file by the backend that
exports the format, then run back by the format's own runtime against the netc model
(netc.export.parity).

    written = export_network("runs/resnet20-20260101-120000", "tflite", "resnet20.tflite")
    written = export_network("resnet50.yaml", "onnx", "resnet50.onnx", weights="resnet50.pt")
    written.parity.ok, written.parity.max_error
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..backends import Backend, DEFAULT_BACKEND, get_backend, installed
from ..compiler.ir import Graph
from ..spec.errors import SpecError
from .parity import EXAMPLE_BATCH, Parity, check_parity, example_input


@dataclass
class Network:
    """A checked graph, its canonical weights (None: the backend's own initialisation) and the
    backend that trained it, if any."""

    graph: Graph
    weights: dict | None = None
    trained_by: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Written:
    path: str
    fmt: str
    backend: str
    network: Network
    parity: Parity | None


def _run_network(folder: Path) -> Network:
    from ..runs import run_graph
    from ..train.run_folder import RunFolder
    from ..weights import select

    run = RunFolder(folder)
    graph, _ = run_graph(run.path)
    checkpoint = run.existing_checkpoint("best") or run.existing_checkpoint("last")
    if checkpoint is None:
        raise SpecError(f"{folder} holds no checkpoint", hint="is it a netc run folder?")
    name = run.backend() or DEFAULT_BACKEND
    impl = get_backend(name)
    found = impl.checkpoint_weights(str(checkpoint), graph)
    weights = select(graph, found, f"'{checkpoint}'", bookkeeping=impl.bookkeeping_keys(graph))
    return Network(graph, weights, name, [f"weights from {checkpoint}"])


def _file_weights(graph: Graph, path: str) -> dict:
    from ..weights import Conversion, Leniency, backend_for, check_finite, select

    reader = backend_for(path, writing=False)
    weights = select(graph, reader.read_weights(path, graph), f"'{path}'",
                     bookkeeping=reader.bookkeeping_keys(graph))
    check_finite(weights, f"'{path}'", Leniency(), Conversion())
    return weights


def resolve(target: str, weights: str | None = None, overrides: dict | None = None) -> Network:
    """The network `target` names: a run folder (its IR and its best checkpoint, else its
    last) or a spec; `weights` (a weight file) replaces either's weights."""
    from .. import load

    path = Path(target)
    if path.is_dir():
        if overrides:
            raise SpecError(f"{target} is a run folder; --set applies to a spec",
                            hint="a run folder holds its network as trained")
        network = _run_network(path)
    else:
        network = Network(load(target, overrides))
    if weights:
        network.weights = _file_weights(network.graph, weights)
        network.notes = [f"weights from {weights}"]
    return network


def exporter(fmt: str, name: str | None = None, trained_by: str | None = None) -> Backend:
    """The backend that writes `fmt`: the one named, else the one that trained the run when it
    exports `fmt`, else the first installed that does."""
    backends = installed()
    if name is not None:
        impl = get_backend(name)
        if fmt not in impl.export_formats:
            raise SpecError(f"the {name} backend does not export {fmt}; it exports "
                            f"{', '.join(impl.export_formats) or 'nothing'}")
        return impl
    ranked = sorted(backends, key=lambda b: b.name != trained_by)
    for impl in ranked:
        if fmt in impl.export_formats:
            return impl
    known = "; ".join(f"{', '.join(b.export_formats)} ({b.name})" for b in backends if b.export_formats)
    raise SpecError(f"no installed backend exports '{fmt}'; formats: {known or 'none'}")


def export_network(target: str, fmt: str, path: str, weights: str | None = None,
                   overrides: dict | None = None, backend: str | None = None,
                   check: bool = True, seed: int = 0) -> Written:
    """Write the network `target` names (`resolve`) as `fmt` at `path`; with `check`, run the
    file back against the netc model (`Written.parity`). The backend is chosen and prepared
    before any weights are read."""
    from ..train.run_folder import RunFolder

    trained_by = RunFolder(target).backend() if Path(target).is_dir() else None
    impl = exporter(fmt, backend, trained_by)
    impl.prepare_export(fmt)
    network = resolve(target, weights, overrides)
    graph = network.graph
    model = impl.load(impl.emit(graph), graph)
    if network.weights is None:
        weights_used = impl.export_weights(model, graph)
    else:
        weights_used = network.weights
        impl.import_weights(model, graph, weights_used)
    impl.export(model, graph, fmt, path, example_input(graph, EXAMPLE_BATCH, seed))
    parity = (check_parity(impl, model, graph, weights_used, fmt, path, seed=seed + 1)
              if check else None)
    return Written(path, fmt, impl.name, network, parity)


def all_formats() -> list[str]:
    """Every format an installed backend exports, in registry order."""
    return list(dict.fromkeys(f for b in installed() for f in b.export_formats))
