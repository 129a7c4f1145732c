"""Cross-backend truth: parameter accounting (`netc diff`) and node-by-node outputs (`netc check`).

    report = param_diff(graph, ("torch", "keras"));   print(diff_text(report));  report["ok"]
    report = numeric_check(graph, ("torch", "keras")); print(check_text(report)); report["ok"]
"""
from __future__ import annotations

from .check import check_text, node_values, numeric_check
from .diff import diff_text, param_diff

__all__ = ["param_diff", "diff_text", "numeric_check", "check_text", "node_values", "load_at_size"]


def load_at_size(path: str, overrides: dict | None = None, size: tuple[int, int] | None = None):
    """The spec's IR with its input resized to `size` (H, W), for checks at a small size."""
    from ..compiler.lint import lint
    from ..spec.document import load_document
    from ..spec.expand import expand, input_shape
    from ..spec.references import check_references

    doc = load_document(str(path), overrides)
    check_references(doc)
    if size is not None:
        channels = input_shape(doc.data["input"], doc.params)[0]
        doc.data["input"] = {**doc.data["input"], "shape": [channels, *size]}
    graph = expand(doc)
    lint(graph)
    return graph
