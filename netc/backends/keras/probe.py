"""Node values of a live Keras model, for `netc check`: a multi-output model over the layer that
carries each node's name (channels-last inside, channels-first outside); a node inside a
sub-model (a keras.Sequential, submodels.py) is its layer called again on the node before."""
from __future__ import annotations

import numpy as np

from ...compiler.ir import Graph
from .emit import keras_name
from .submodels import grouped_layers, layers_by_name, submodels


def node_values(model, graph: Graph, x: np.ndarray, feed: dict | None = None) -> dict[str, np.ndarray]:
    import keras

    tensors = _tensors(model, graph)
    if feed is None:
        names = [n.name for n in graph.nodes]
        outs = keras.Model(model.input, [tensors[n] for n in names])(_channels_last(x), training=False)
        return {n: _channels_first(keras.ops.convert_to_numpy(v)) for n, v in zip(names, outs)}
    fed = _fed(model, graph, tensors)
    out = {}
    for node in graph.nodes:  # each node's layers alone, on the fed values of its inputs
        sources = list(dict.fromkeys(node.inputs))
        # a keras.Function, not a Model: the same graph walk without building a layer per node
        # (a third of the cost); outside fit(), its layers run in inference mode
        alone = keras.Function([fed[s] for s in sources], tensors[node.name])
        value = alone([_channels_last(feed[s]) for s in sources])
        out[node.name] = _channels_first(keras.ops.convert_to_numpy(value))
    return out


def _tensors(model, graph: Graph) -> dict:
    """Each node's value as a tensor of the model's graph. A node inside a sub-model (a
    keras.Sequential) is its layer called again on the value before it."""
    tensors = {graph.input_name: model.input}
    grouped = grouped_layers(graph, model)
    for n in graph.nodes:
        if n.name in grouped:
            tensors[n.name] = grouped[n.name](tensors[n.inputs[0]])
        else:
            tensors[n.name] = model.get_layer(keras_name(n.name)).output
    return tensors


def _fed(model, graph: Graph, tensors: dict) -> dict:
    """The tensor to feed a node's value at: its own, except that the layers after a sub-model
    read the Sequential's output, not the last layer's value called again."""
    fed = dict(tensors)
    layers = layers_by_name(model)
    for sub in submodels(graph).values():
        fed[sub.nodes[-1]] = layers[keras_name(sub.name)].output
    return fed


def _channels_first(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 3, 1, 2) if a.ndim == 4 else a


def _channels_last(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)) if a.ndim == 4 else a
