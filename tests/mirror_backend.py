"""A third backend as a plug-in would write one: it wraps the torch backend for models, keeps its
weights in numpy .npz files, and counts every tensor in its headline. Registered in-process by
tests/test_backend_interface.py."""
import numpy as np

from netc.backends import get_backend
from netc.backends.base import Backend
from netc.compiler.ir import PARAM_KINDS


class MirrorBackend(Backend):
    name = "mirror"
    headline_label = "numel()"
    headline_kinds = PARAM_KINDS
    reads_weights = writes_weights = (".npz",)

    def __init__(self):
        self.inner = get_backend("torch")

    def emit(self, graph):
        return self.inner.emit(graph)

    def count(self, model, graph):
        return self.inner.count(model, graph)

    def headline(self, model):  # every tensor of the state_dict but torch's step counters
        return sum(t.numel() for k, t in model.state_dict().items()
                   if not k.endswith("num_batches_tracked"))

    def export_weights(self, model, graph):
        return self.inner.export_weights(model, graph)

    def import_weights(self, model, graph, weights):
        self.inner.import_weights(model, graph, weights)

    def read_weights(self, path, graph):
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}

    def write_weights(self, path, graph, weights):
        with open(path, "wb") as f:
            np.savez(f, **weights)

    def node_values(self, model, graph, x, feed=None):
        return self.inner.node_values(model, graph, x, feed)
