"""What a zoo spec computes, as a set of op configurations, so that a test run on a few specs can
show that it holds every configuration of the many it stands for (a deeper or wider sibling of a
spec adds layers, not kinds of layer)."""
from __future__ import annotations

import os
from functools import cache

import netc
from conftest import EXAMPLES

# What a node's attributes hold that neither the inference computation nor a step's code path
# depends on: initial values, the running statistics' momentum, a drop probability.
NOT_COMPUTED = {"init", "bias_init", "momentum", "p", "dropout", "attention_dropout"}
# Sizes: of channels, features, units, heads, embeddings, tokens; where a channel split falls.
WIDTHS = ("channels", "features", "units", "heads", "dim", "count", "start", "stop")
# `NETC_ZOO_CHECK=all` (make zoo-check) runs a zoo test on every spec, not its covering few.
EVERY_SPEC = os.environ.get("NETC_ZOO_CHECK") == "all"


@cache
def op_configurations(spec: str) -> frozenset[tuple]:
    """Each op with the attributes that choose its computation (kernel, stride, eps, ...),
    `WIDTHS` aside; a convolution's groups as the kind of grouping its backends choose a layer
    by."""
    def kind(node, key, value):
        if key == "groups":
            return "none" if value == 1 else "depthwise" if value == node.attrs.get("in_channels") \
                else "grouped"
        return repr(value)
    return frozenset((n.op, tuple(sorted((k, kind(n, k, v)) for k, v in n.attrs.items()
                                         if not k.endswith(WIDTHS) and k not in NOT_COMPUTED)))
                     for n in netc.load(EXAMPLES / spec).nodes)


def uncovered(specs, covering) -> dict[str, list]:
    """For each spec of `specs`, the op configurations that no spec of `covering` holds."""
    held = set().union(*(op_configurations(s) for s in covering))
    missing = {s: sorted(op_configurations(s) - held)[:3] for s in specs}
    return {s: m for s, m in missing.items() if m}
