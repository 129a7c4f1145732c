"""Node values of a live torch model, for `netc check`: the graph replayed with the backend's own
op emitters over the live model's modules (found by IR name, however the emitted classes nest
them), one variable per node (no in-place ops), so every node's output is kept and can be
adjusted before later nodes read it."""
from __future__ import annotations

import numpy as np

from ...compiler.ir import Graph
from ..base import Adjust, load_source
from ..render import lit
from .ops import EMITTERS


def _replay(graph: Graph):
    lines = []
    for node in graph.nodes:
        args = [f"src[{lit(s)}]" for s in node.inputs]
        _, expr = EMITTERS[node.op](node, f"mods[{lit(node.name)}]", args, False)
        lines.append(f"    val[{lit(node.name)}] = hook({lit(node.name)}, {expr})")
    source = ("import torch\nimport torch.nn.functional as F\n\n\ndef replay(mods, val, src, hook):\n"
              + "\n".join(lines) + "\n    return val\n")
    return load_source(source, f"netc_replay_{graph.content_hash()}").replay


def node_values(model, graph: Graph, x: np.ndarray, feed: dict | None = None,
                adjust: Adjust | None = None) -> dict[str, np.ndarray]:
    """Each node's value by IR name; with `feed`, each node alone from the fed values of its
    inputs; with `adjust`, each value passes through it before later nodes read it."""
    import torch

    replay = _replay(graph)
    model.eval()
    val = {graph.input_name: torch.from_numpy(x)}
    src = val if feed is None else {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in feed.items()}
    hook = (lambda name, value: value) if adjust is None else (
        lambda name, value: torch.from_numpy(np.ascontiguousarray(adjust(name, value.numpy()))))
    with torch.no_grad():
        # a node that is a parameter (ViT's class_token) is found among the parameters
        out = replay({**dict(model.named_parameters()), **dict(model.named_modules())}, val, src,
                     hook)
    return {k: v.numpy() for k, v in out.items() if k != graph.input_name}
