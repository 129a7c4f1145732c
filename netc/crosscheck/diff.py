"""`netc diff`: parameter accounting per node and kind, IR against each live model.

A per-kind disagreement between a backend and the IR is a bug in netc. A difference between a
framework's own headline number and the IR's trainable total is accounting, and each one is
explained in a line from what the backend says its headline includes (`Backend.headline_kinds`;
Keras's count_params() includes batch-norm moving statistics).
"""
from __future__ import annotations

from ..backends import DEFAULT_PAIR, Backend, get_backend
from ..backends.base import TRAINABLE_KINDS as TRAINABLE
from ..compiler.ir import PARAM_KINDS, Graph

KIND_WORDS = {"weight": "weights", "bias": "biases", "norm-affine": "norm scales and shifts",
              "norm-statistic": "batch-norm moving statistics"}


def ir_counts(graph: Graph) -> dict[str, dict[str, int]]:
    out = {}
    for node in graph.nodes:
        if node.params:
            kinds = {}
            for p in node.params:
                kinds[p.kind] = kinds.get(p.kind, 0) + p.size
            out[node.name] = kinds
    return out


def build_models(graph: Graph, backends=DEFAULT_PAIR) -> dict:
    """Each backend's model of `graph`, by backend name, for `param_diff` and `numeric_check`
    to share."""
    impls = {name: get_backend(name) for name in backends}
    return {name: impl.load(impl.emit(graph), graph) for name, impl in impls.items()}


def _totals(per_node: dict[str, dict[str, int]]) -> dict[str, int]:
    totals = {}
    for kinds in per_node.values():
        for kind, n in kinds.items():
            totals[kind] = totals.get(kind, 0) + n
    return totals


def param_diff(graph: Graph, backends=DEFAULT_PAIR, models: dict | None = None) -> dict:
    """The diff report as plain data (what `netc diff --json` prints). `models` (backend name ->
    a model that backend built from `graph`, as `build_models` returns) saves building them."""
    ir = ir_counts(graph)
    impls = {name: get_backend(name) for name in backends}
    models = models or build_models(graph, backends)
    live, headline = {}, {}
    for name, impl in impls.items():
        model = models[name]
        live[name] = impl.count(model, graph)
        headline[name] = impl.headline(model)
    nodes, problems = [], []
    for node in graph.nodes:
        row = {"name": node.name, "op": node.op, "ir": ir.get(node.name, {})}
        for b in backends:
            row[b] = live[b].get(node.name, {})
            for kind in sorted(set(row["ir"]) | set(row[b])):
                want, got = row["ir"].get(kind, 0), row[b].get(kind, 0)
                if want != got:
                    problems.append(f"{node.name}: {b} holds {got:,} {kind} values, the IR {want:,}")
        if any(row[k] for k in ("ir", *backends)):
            nodes.append(row)
    totals = {"ir": _totals(ir), **{b: _totals(live[b]) for b in backends}}
    heads = {}
    for b in backends:
        heads[b], lines = _headline(impls[b], headline[b], graph)
        problems += lines
    return {"name": graph.name, "backends": list(backends), "nodes": nodes, "totals": totals,
            "ir_trainable": graph.trainable, "headlines": heads, "problems": problems,
            "ok": not problems}


def _headline(impl: Backend, value: int, graph: Graph):
    backend, label, kinds = impl.name, impl.headline_label, impl.headline_kinds
    notes, expected = [], graph.trainable
    for kind in PARAM_KINDS:
        n = graph.count((kind,))
        if kind in kinds and kind not in TRAINABLE and n:
            notes.append(f"{backend} {label} counts {KIND_WORDS[kind]}: +{n:,}")
            expected += n
        elif kind not in kinds and kind in TRAINABLE and n:
            notes.append(f"{backend} {label} leaves out {KIND_WORDS[kind]}: -{n:,}")
            expected -= n
        elif kind not in kinds and n:
            notes.append(f"{backend} {label} leaves out {KIND_WORDS[kind]} "
                         f"({n:,}, held outside its parameters)")
    problems = []
    if value != expected:
        problems.append(f"{backend} {label} = {value:,}, but the IR's count with that accounting is "
                        f"{expected:,} (unexplained {value - expected:+,})")
    return {"label": label, "value": value, "notes": notes}, problems


def diff_text(report: dict) -> str:
    backends = report["backends"]
    cols = ["IR", *backends]
    head = ["node", "op", *cols]
    rows = []
    for row in report["nodes"]:
        cells = [sum(row[k].values()) for k in ("ir", *backends)]
        flag = "" if all(row[b] == row["ir"] for b in backends) else " <-"
        rows.append([row["name"], row["op"], *(f"{c:,}" for c in cells[:-1]), f"{cells[-1]:,}{flag}"])
    total_cells = [sum(report["totals"][k].values()) for k in ("ir", *backends)]
    rows.append(["total", "", *(f"{c:,}" for c in total_cells)])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    lines = [f"{report['name']}: parameters per node (all kinds)", fmt(head),
             "  ".join("-" * w for w in widths), *map(fmt, rows), "", "by kind:"]
    for kind in PARAM_KINDS:
        vals = "  ".join(f"{k}={report['totals'][k].get(kind, 0):,}" for k in ("ir", *backends))
        lines.append(f"  {kind:15} {vals}")
    lines += ["", f"IR trainable: {report['ir_trainable']:,}"]
    for b in backends:
        h = report["headlines"][b]
        lines.append(f"{b} {h['label']}: {h['value']:,}")
        lines += [f"  {note}" for note in h["notes"]]
    lines.append("")
    lines += [f"DISAGREEMENT {p}" for p in report["problems"]] or ["ok: every backend holds exactly "
                                                                    "the IR's parameters"]
    return "\n".join(lines)
