"""Cross-backend truth: parameter accounting (`netc diff`) and node-by-node outputs (`netc check`),
for any backends the registry holds; every framework detail is the backend's own.

    report = param_diff(graph, backends);   print(diff_text(report));  report["ok"]
    report = numeric_check(graph, backends); print(check_text(report)); report["ok"]
"""
from __future__ import annotations

from .check import check_text, node_values, numeric_check
from .diff import build_models, diff_text, param_diff

__all__ = ["build_models", "param_diff", "diff_text", "numeric_check", "check_text", "node_values"]
