"""Text and JSON reports of an IR graph: the per-node summary and its totals."""
from __future__ import annotations

from .compiler.ir import Graph
from .compiler.ops import REGISTRY


def summary_json(graph: Graph) -> dict:
    return {
        "name": graph.name,
        "ir_hash": graph.content_hash(),
        "input": graph.input_shape,
        "nodes": [{"name": n.name, "op": n.op, "shape": n.shape, "params": n.param_count(),
                   "trainable": n.param_count(("weight", "bias", "norm-affine")),
                   "macs": n.macs} for n in graph.nodes],
        "totals": totals(graph),
    }


def totals(graph: Graph) -> dict:
    return {"trainable": graph.trainable, "norm_statistics": graph.count(("norm-statistic",)),
            "weights": graph.count(("weight",)), "biases": graph.count(("bias",)),
            "norm_affine": graph.count(("norm-affine",)), "all": graph.count(), "macs": graph.macs}


def summary_text(graph: Graph) -> str:
    rows = [(n.name, n.op, "x".join(map(str, n.shape)), f"{n.param_count(('weight', 'bias', 'norm-affine')):,}",
             f"{n.macs:,}") for n in graph.nodes]
    head = ("node", "op", "output", "params", "MACs")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    fmt = lambda r: "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    t = totals(graph)
    lines = [f"{graph.name}: input {'x'.join(map(str, graph.input_shape))}", fmt(head),
             "  ".join("-" * w for w in widths), *map(fmt, rows), "",
             f"trainable parameters: {t['trainable']:,}",
             f"norm statistics:      {t['norm_statistics']:,}",
             f"MACs:                 {t['macs']:,} ({t['macs'] / 1e9:.3f} G; 1 MAC = 2 FLOPs)"]
    ops = dict.fromkeys(n.op for n in graph.nodes)
    lines += [f"  {op}: {REGISTRY[op].macs_doc}" for op in ops if REGISTRY[op].macs_doc]
    return "\n".join(lines)
