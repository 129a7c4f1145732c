"""Node values of a live Keras model, for `netc check`: a multi-output model over the layer that
carries each node's name (channels-last inside, channels-first outside)."""
from __future__ import annotations

import numpy as np

from ...compiler.ir import Graph
from .emit import keras_name


def node_values(model, graph: Graph, x: np.ndarray, feed: dict | None = None) -> dict[str, np.ndarray]:
    import keras

    tensors = {graph.input_name: model.input}
    tensors.update({n.name: model.get_layer(keras_name(n.name)).output for n in graph.nodes})
    if feed is None:
        names = [n.name for n in graph.nodes]
        outs = keras.Model(model.input, [tensors[n] for n in names])(_channels_last(x), training=False)
        return {n: _channels_first(keras.ops.convert_to_numpy(v)) for n, v in zip(names, outs)}
    out = {}
    for node in graph.nodes:  # each node's layers alone, on the fed values of its inputs
        sources = list(dict.fromkeys(node.inputs))
        # a keras.Function, not a Model: the same graph walk without building a layer per node
        # (a third of the cost); outside fit(), its layers run in inference mode
        alone = keras.Function([tensors[s] for s in sources], tensors[node.name])
        value = alone([_channels_last(feed[s]) for s in sources])
        out[node.name] = _channels_first(keras.ops.convert_to_numpy(value))
    return out


def _channels_first(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 3, 1, 2) if a.ndim == 4 else a


def _channels_last(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)) if a.ndim == 4 else a
