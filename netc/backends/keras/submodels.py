"""Sub-models: a chain of layers written as one `keras.Sequential` inside the functional model.

keras.applications' ConvNeXt builds its stem and each downsampling layer as a Sequential, and
Keras's weight files key variables by the model's layer tree: a `.weights.h5` file holds them
under `layers/sequential/layers/conv2d`, a legacy `.h5` one as one top-level layer with all the
Sequential's variables. A spec says so with `seq: {submodel: NAME}` (graph meta `submodels`);
the layers inside keep their names, the Sequential takes the sub-model's. Every node of a
sub-model but the last feeds only the next one, and each is one Keras layer, so the Sequential's
output is the last node's value, and each node's value is its layer called on the one before
(netc/backends/keras/probe.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from ...compiler.ir import Graph
from ..base import UnsupportedOp
from ..render import lit
from .names import keras_name


@dataclass(frozen=True)
class Submodel:
    name: str  # IR name; the Sequential's layer name is keras_name(name)
    nodes: tuple


def submodels(graph: Graph) -> dict[str, Submodel]:
    """The graph's sub-models by their first node, each checked to be a chain of nodes."""
    entries = graph.meta.get("submodels", []) if isinstance(graph.meta, dict) else []
    if not isinstance(entries, list):
        raise UnsupportedOp("the graph's 'submodels' is not a list")
    position = {n.name: i for i, n in enumerate(graph.nodes)}
    readers = _readers(graph)
    taken = {keras_name(n.name) for n in graph.nodes} | {keras_name(graph.input_name)}
    found, grouped = {}, set()
    for entry in entries:
        sub = _entry(entry)
        layer = keras_name(sub.name)
        if layer in taken:
            raise UnsupportedOp(f"submodel '{sub.name}' has the name of another layer or submodel")
        taken.add(layer)
        missing = [n for n in sub.nodes if n not in position]
        if missing:
            raise UnsupportedOp(f"submodel '{sub.name}' holds '{missing[0]}', which is no layer "
                                "of the network")
        for prev, node in zip(sub.nodes, sub.nodes[1:]):
            if position[node] != position[prev] + 1 or graph.node(node).inputs != [prev] \
                    or readers.get(prev) != [node] or prev in graph.outputs:
                raise UnsupportedOp(f"submodel '{sub.name}' is not a chain: '{prev}' must feed "
                                    f"'{node}' alone, the next layer",
                                    hint="a keras.Sequential holds layers one after another")
        if len(graph.node(sub.nodes[0]).inputs) != 1 or grouped & set(sub.nodes):
            raise UnsupportedOp(f"submodel '{sub.name}' must start from one input and share "
                                "no layer with another submodel")
        grouped |= set(sub.nodes)
        found[sub.nodes[0]] = sub
    return found


def _entry(entry) -> Submodel:
    if not isinstance(entry, dict) or set(entry) != {"name", "nodes"} \
            or not isinstance(entry["name"], str) or not isinstance(entry["nodes"], list) \
            or not entry["nodes"] or not all(isinstance(n, str) for n in entry["nodes"]):
        raise UnsupportedOp(f"a submodel entry is {{name, nodes: [layer names]}}, found "
                            f"{entry!r:.60}")
    return Submodel(entry["name"], tuple(entry["nodes"]))


def _readers(graph: Graph) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for node in graph.nodes:
        for src in dict.fromkeys(node.inputs):
            out.setdefault(src, []).append(node.name)
    return out


# The variable a sub-model's layers are first written on, to take each one's constructor.
_PLACEHOLDER = "submodel_input"


def sequential_expr(graph: Graph, sub: Submodel, arg: str, layer_expr) -> str:
    """`keras.Sequential([<layer>, ...], name=...)(arg)`; `layer_expr(node, args)` writes a
    node's expression on the variables `args`, which must be one layer called on its input."""
    tail = f"({_PLACEHOLDER})"
    ctors = []
    for name in sub.nodes:
        node = graph.node(name)
        text = layer_expr(node, [_PLACEHOLDER])
        if not text.endswith(tail) or text.count(_PLACEHOLDER) != 1:
            raise UnsupportedOp(f"{name}: its {node.op} is more than one Keras layer, so it cannot "
                                f"be in the keras.Sequential of submodel '{sub.name}'",
                                node.location)
        ctors.append(text[:-len(tail)])
    return f"keras.Sequential([{', '.join(ctors)}], name={lit(keras_name(sub.name))})({arg})"


def layers_by_name(model) -> dict:
    """Every layer of `model` by name, those inside its nested sub-models included."""
    import keras

    out = {}
    for layer in model.layers:
        out[layer.name] = layer
        if isinstance(layer, keras.Model):
            out.update(layers_by_name(layer))
    return out


def grouped_layers(graph: Graph, model) -> dict:
    """The layer of each node inside a sub-model, by node name."""
    layers = layers_by_name(model)
    return {name: layers[keras_name(name)]
            for sub in submodels(graph).values() for name in sub.nodes}
