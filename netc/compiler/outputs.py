"""Named outputs and feature taps: a graph's outputs chosen by layer name (a spec's `outputs:`,
`netc build --outputs layer2,layer3,layer4`), the nodes no output needs dropped, and each output's
channels and reduction (input size over its size, timm's `feature_info`) in meta["outputs"]."""
from __future__ import annotations

import copy

from ..spec.errors import SpecError, did_you_mean
from .ir import Graph


def select_outputs(graph: Graph, names: list[str], loc=None) -> Graph:
    """The graph computing the values `names` stand for (a layer, or a namespace's last layer:
    `layer3`), in that order, and nothing else."""
    chosen = []
    for name in names:
        node = graph.value_of(name)
        if node is None or node == graph.input_name:
            known = {part for n in graph.nodes for part in _prefixes(n.name)}
            raise SpecError(f"output '{name}' names no layer of the network", loc,
                            did_you_mean(name, known) or "name a layer or a block, e.g. layer3")
        if node in (c for _, c in chosen):
            raise SpecError(f"output '{name}' is the same layer ({node}) as an earlier output", loc)
        chosen.append((name, node))
    nodes = _needed(graph, [node for _, node in chosen])
    kept = {n.name for n in nodes}
    meta = copy.deepcopy(graph.meta)
    meta["residuals"] = [r for r in meta.get("residuals", []) if r["merge"] in kept]
    if "submodels" in meta:  # a sub-model cut by the outputs is no longer one
        meta["submodels"] = [s for s in meta["submodels"] if set(s["nodes"]) <= kept]
    meta["blocks"] = [b for b in meta.get("blocks", []) if _owns(b["name"], kept)]
    meta["stages"] = [s for s in meta.get("stages", []) if all(_owns(b, kept) for b in s["blocks"])]
    meta["outputs"] = [_info(graph, name, node) for name, node in chosen]
    return Graph(graph.name, graph.input_name, list(graph.input_shape), nodes,
                 [node for _, node in chosen], meta)


def _info(graph: Graph, name: str, node: str) -> dict:
    shape = graph.shape_of(node)
    info = {"name": name, "node": node, "channels": shape[0]}
    if len(shape) == 3 and len(graph.input_shape) == 3:
        info["reduction"] = round(graph.input_shape[1] / shape[1], 3)
    return info


def _needed(graph: Graph, outputs: list[str]):
    needed, keep = set(outputs), []
    for node in reversed(graph.nodes):
        if node.name in needed:
            keep.append(copy.deepcopy(node))
            needed.update(node.inputs)
    return keep[::-1]


def _owns(name: str, kept: set) -> bool:
    return name in kept or any(k.startswith(name + ".") for k in kept)


def _prefixes(name: str):
    parts = name.split(".")
    return (".".join(parts[:i]) for i in range(1, len(parts) + 1))


def outputs_text(graph: Graph) -> str:
    """One line per output: its name, layer, channels and reduction."""
    rows = graph.meta.get("outputs") or [_info(graph, o, o) for o in graph.outputs]
    lines = ["outputs:"]
    for r in rows:
        reduction = f", reduction {r['reduction']:g}" if "reduction" in r else ""
        lines.append(f"  {r['name']} ({r['node']}): {r['channels']} channels{reduction}")
    return "\n".join(lines)
