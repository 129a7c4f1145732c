"""The Keras 3 backend: a functional model, channels-last; runs on Keras's TensorFlow, torch and
JAX backends (the emitted source uses only `keras`)."""
from __future__ import annotations

import numpy as np

from ...compiler.ir import PARAM_KINDS, Graph, param_key
from ...spec.errors import SpecError
from ..base import Backend
from . import export, probe
from .emit import emit, ir_name, keras_name
from .layout import VARIABLE_KINDS, rules_for
from .submodels import layers_by_name

__all__ = ["KerasBackend", "keras_name", "ir_name"]


def _variables(layer) -> dict:
    return {v.name: v for v in layer.weights}


def _slots(model, graph: Graph):
    """(canonical key, IR param, Keras variable, layout rule) for every parameter of ``graph``."""
    layers = layers_by_name(model)
    for node in graph.nodes:
        if not node.params:
            continue
        variables = _variables(layers[keras_name(node.name)])
        rules = rules_for(node)
        for param in node.params:
            slot = rules[param.name]
            yield param_key(node.name, param.name), param, variables[slot.variable], slot


class KerasBackend(Backend):
    name = "keras"
    headline_label = "count_params()"
    headline_kinds = PARAM_KINDS  # every variable, moving statistics included
    # Keras 3 reads its own weight files and legacy (Keras 2) .h5 ones, and writes only its own.
    reads_weights = (".weights.h5", ".h5")
    writes_weights = (".weights.h5",)
    export_formats = export.FORMATS

    def emit(self, graph: Graph, flat: bool = False) -> str:
        return emit(graph, flat=flat)

    def count(self, model, graph: Graph) -> dict[str, dict[str, int]]:
        layers = layers_by_name(model)
        out = {}
        for node in graph.nodes:
            layer = layers.get(keras_name(node.name))
            kinds = {}
            for v in [] if layer is None else layer.weights:
                kind = VARIABLE_KINDS.get(v.name, f"other ({v.name})")
                kinds[kind] = kinds.get(kind, 0) + int(np.prod(v.shape))
            if kinds or node.params:
                out[node.name] = kinds
        return out

    def headline(self, model) -> int:
        return int(model.count_params())

    def export_weights(self, model, graph: Graph) -> dict:
        return {key: np.array(slot.to_ir(np.asarray(variable.numpy())), order="C")  # 0-d kept
                for key, _, variable, slot in _slots(model, graph)}

    def import_weights(self, model, graph: Graph, weights: dict) -> None:
        for key, param, variable, slot in _slots(model, graph):
            if key not in weights:
                raise KeyError(f"canonical weights lack '{key}'")
            value = np.asarray(weights[key])
            if list(value.shape) != param.shape:
                raise ValueError(f"'{key}' has shape {list(value.shape)}, IR says {param.shape}")
            variable.assign(slot.to_keras(value).astype(np.float32))

    def read_weights(self, path: str, graph: Graph) -> dict:
        """Loaded into the spec's model (Keras reads the file's arrays, never code), then exported."""
        model = self.load(self.emit(graph), graph)
        try:
            model.load_weights(path)
        except (ValueError, OSError) as exc:
            raise SpecError(f"cannot load '{path}' into the spec's Keras model: {exc}") from None
        return self.export_weights(model, graph)

    def write_weights(self, path: str, graph: Graph, weights: dict) -> None:
        model = self.load(self.emit(graph), graph)
        self.import_weights(model, graph, weights)
        model.save_weights(path)

    def node_values(self, model, graph: Graph, x: np.ndarray, feed: dict | None = None
                    ) -> dict[str, np.ndarray]:
        return probe.node_values(model, graph, x, feed)

    def prepare_export(self, fmt: str) -> None:
        export.prepare(fmt)

    def export(self, model, graph: Graph, fmt: str, path: str, example: np.ndarray) -> None:
        export.export(model, graph, fmt, path, example)

    def run_exported(self, fmt: str, path: str, x: np.ndarray) -> list[np.ndarray]:
        return export.run_exported(fmt, path, x)

    def checkpoint_weights(self, path: str, graph: Graph) -> dict:
        return export.checkpoint_weights(self, path, graph)

    def trainer(self) -> type:
        from ...train.keras_trainer import KerasTrainer

        return KerasTrainer
