"""Transfer learning: start a network from another network's weights, matched by IR name and shape.

    weights, report = transfer.match(graph, transfer.read(path, graph), path)
    print(report.text())   # transferred 320 of 322 tensors; skipped fc.weight [1000, 2048] -> ...

A parameter whose name the file holds with another shape is left at its fresh value and reported;
only the head (the parametrised nodes nearest an output, e.g. a classifier whose class count
changed) may differ unless the caller allows more. Freezing and per-group learning rates select
IR nodes by glob: `conv1,bn1,layer1.*`.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .compiler.ir import Graph
from .spec.errors import SpecError
from .weights import backend_for, expected_keys

MAX_GLOBS = 100
_GLOB = re.compile(r"[A-Za-z0-9_.*?\[\]!-]{1,200}")


@dataclass
class Transfer:
    """What `match` took from a weight file, and what it left."""

    source: str
    total: int = 0                                  # the spec's parameter tensors
    loaded: list[str] = field(default_factory=list)
    reshaped: list[tuple[str, list, list]] = field(default_factory=list)  # key, file, spec shape
    missing: list[str] = field(default_factory=list)  # spec keys the file lacks
    unused: list[str] = field(default_factory=list)   # file keys the spec lacks

    def text(self) -> str:
        lines = [f"transferred {len(self.loaded)} of {self.total} tensors from {self.source}"]
        if self.reshaped:
            lines.append("skipped (shape differs, kept fresh): " + ", ".join(
                f"{k} {_shape(a)} -> {_shape(b)}" for k, a, b in self.reshaped))
        if self.missing:
            lines.append(f"not in the file (kept fresh): {', '.join(self.missing)}")
        if self.unused:
            lines.append(f"in the file, not in the spec (unused): {', '.join(self.unused)}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"source": self.source, "total": self.total, "loaded": len(self.loaded),
                "reshaped": [{"key": k, "file": a, "spec": b} for k, a, b in self.reshaped],
                "missing": self.missing, "unused": self.unused}


def _shape(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def head_nodes(graph: Graph) -> set[str]:
    """The parametrised nodes nearest each output: walking back from an output, the first node
    with parameters on every path (a classifier, or a segmentation head's last convolution)."""
    head, stack, seen = set(), list(graph.outputs), set()
    while stack:
        name = stack.pop()
        if name in seen or name == graph.input_name:
            continue
        seen.add(name)
        node = graph.node(name)
        if node.params:
            head.add(name)
        else:
            stack.extend(node.inputs)
    return head


def read(path: str | Path, graph: Graph) -> dict:
    """The tensors of a weight file (read by the backend whose suffix it has) or of a netc run
    folder (its best checkpoint, else its last), by key."""
    if Path(path).is_dir():
        return _read_run(Path(path))
    path = str(path)
    if not Path(path).is_file():
        raise SpecError(f"'{path}' is not a file or a run folder",
                        hint="--init-weights takes a weight file or a netc run folder")
    return _without_bookkeeping(backend_for(path, writing=False), path, graph)


def _without_bookkeeping(backend, path: str, graph: Graph, read=None) -> dict:
    """What the file holds beside its framework's bookkeeping (torch's batch-norm counters)."""
    found = (read or backend.read_weights)(path, graph)
    skip = backend.bookkeeping_keys(graph)
    return {k: v for k, v in found.items() if k not in skip}


def _read_run(folder: Path) -> dict:
    from .backends import DEFAULT_BACKEND, get_backend
    from .runs import run_graph
    from .train.run_folder import RunFolder

    run = RunFolder(folder)
    graph, _ = run_graph(run.path)  # the run's own network, whose head may differ
    checkpoint = run.existing_checkpoint("best") or run.existing_checkpoint("last")
    if checkpoint is None:
        raise SpecError(f"{folder} holds no checkpoint", hint="is it a netc run folder?")
    backend = get_backend(run.backend() or DEFAULT_BACKEND)
    return _without_bookkeeping(backend, str(checkpoint), graph, backend.checkpoint_weights)


def match(graph: Graph, found: dict, source: str, beyond_head: bool = False
          ) -> tuple[dict[str, np.ndarray], Transfer]:
    """The spec's parameters that `found` holds with the same name and shape, and the report.
    A differing shape outside the head is an error unless `beyond_head`; so is a file that
    matches nothing (another architecture's, or another framework's names)."""
    expected = expected_keys(graph)
    report = Transfer(source=source, total=len(expected))
    report.unused = sorted(k for k, v in found.items()
                           if k not in expected and isinstance(v, np.ndarray))
    head = head_nodes(graph)
    out = {}
    for key, shape in expected.items():
        value = found.get(key)
        if value is None:
            report.missing.append(key)
            continue
        if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.floating):
            raise SpecError(f"{source}: '{key}' is not a float tensor")
        if list(value.shape) != shape:
            report.reshaped.append((key, list(value.shape), shape))
            continue
        if not np.isfinite(value).all():
            raise SpecError(f"{source}: '{key}' holds NaN or infinite values")
        out[key] = value.astype(np.float32)
        report.loaded.append(key)
    if not out:
        raise SpecError(f"{source} holds none of the spec's {len(expected)} parameters by name "
                        f"and shape" + (f" (it has e.g. '{report.unused[0]}')" if report.unused else ""),
                        hint="weight keys are IR node names: is it this architecture's state_dict?")
    outside = [k for k, _, _ in report.reshaped if k.rsplit(".", 1)[0] not in head]
    if outside and not beyond_head:
        k, a, b = next(r for r in report.reshaped if r[0] == outside[0])
        raise SpecError(f"{source}: {len(outside)} tensors outside the head differ in shape, "
                        f"e.g. '{k}' {_shape(a)} in the file, {_shape(b)} in the spec",
                        hint="only the head may change shape; allow more with "
                             "--init-partial if that is meant")
    return out, report


def overlay(backend, model, graph: Graph, weights: dict[str, np.ndarray]) -> None:
    """Load `weights` into a live model, every other parameter keeping its value."""
    merged = backend.export_weights(model, graph)
    merged.update(weights)
    backend.import_weights(model, graph, merged)


def parse_globs(text: str, what: str) -> list[str]:
    """Comma-separated globs over IR node names (`conv1,layer1.*`)."""
    globs = [g.strip() for g in text.split(",") if g.strip()]
    if not globs or len(globs) > MAX_GLOBS:
        raise SpecError(f"{what} takes 1 to {MAX_GLOBS} comma-separated name patterns, got {text!r}")
    for g in globs:
        if not _GLOB.fullmatch(g):
            raise SpecError(f"{what}: {g!r} is not a pattern of node names",
                            hint="letters, digits, '_', '.', '-' and the wildcards * ? [ ]")
    return globs


def select_nodes(graph: Graph, globs: list[str], what: str) -> list[str]:
    """The parametrised nodes whose IR names match any glob (a node matches when its name or a
    scope above it does: `layer1` selects layer1.0.conv1). A glob that matches nothing is an error."""
    def scopes(name: str):
        parts = name.split(".")
        return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]

    chosen = []
    for g in globs:
        hits = [n.name for n in graph.nodes if n.params
                and any(fnmatch.fnmatchcase(s, g) for s in scopes(n.name))]
        if not hits:
            raise SpecError(f"{what}: '{g}' matches no node with parameters",
                            hint=f"names look like {', '.join(n.name for n in graph.nodes if n.params)[:120]}")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


_SCALE = re.compile(r"(?P<glob>[^=]+)=(?P<value>[0-9.eE+-]+)(?P<x>x?)")


def parse_lr_groups(text: str) -> list[tuple[str, float]]:
    """`layer4.*=0.1x,fc=10x`: learning-rate multipliers of the recipe's rate, per node glob."""
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        m = _SCALE.fullmatch(part)
        try:
            value = float(m["value"]) if m else None
        except ValueError:
            value = None
        if m is None or value is None or not m["x"] or not 0 <= value <= 1000:
            raise SpecError(f"--lr-groups: {part!r} is not GLOB=FACTORx",
                            hint="e.g. 'layer4.*=0.1x,fc=10x' (factors 0 to 1000)")
        out.append((parse_globs(m["glob"], "--lr-groups")[0], value))
    if not out:
        raise SpecError("--lr-groups is empty")
    return out
