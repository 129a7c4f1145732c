"""The PyTorch backend: IR layout is torch's layout, so canonical weights are the state_dict."""
from __future__ import annotations

import numpy as np

from ...compiler.ir import Graph, param_key
from ..base import Adjust, Backend
from . import export, files, probe
from .emit import emit


class TorchBackend(Backend):
    name = "torch"
    headline_label = "parameters()"  # running statistics are buffers, not parameters
    reads_weights = writes_weights = (".pt", ".pth")
    runs_float64 = True
    export_formats = export.FORMATS

    def emit(self, graph: Graph, flat: bool = False) -> str:
        return emit(graph, flat=flat)

    def count(self, model, graph: Graph) -> dict[str, dict[str, int]]:
        modules = dict(model.named_modules())
        out = {}
        for node in graph.nodes:
            if not node.params:
                continue
            module = modules.get(node.name)
            tensors = {} if module is None else {
                **dict(module.named_parameters()),  # nn.MultiheadAttention's out_proj.weight
                **{k: v for k, v in module.named_buffers(recurse=False) if k != files.COUNTER}}
            if any(not p.name for p in node.params):  # the node is a parameter (tokens.py)
                tensors[""] = model.get_parameter(node.name)
            kinds = {}
            for p in node.params:
                if p.name in tensors:
                    kinds[p.kind] = kinds.get(p.kind, 0) + tensors[p.name].numel()
            out[node.name] = kinds
        return out

    def headline(self, model) -> int:
        return sum(p.numel() for p in model.parameters())

    def export_weights(self, model, graph: Graph) -> dict:
        state = model.state_dict()
        return {param_key(n.name, p.name): state[param_key(n.name, p.name)].detach().cpu().numpy()
                .copy() for n in graph.nodes for p in n.params}

    def import_weights(self, model, graph: Graph, weights: dict) -> None:
        import torch

        state = {}
        for node in graph.nodes:
            for p in node.params:
                key = param_key(node.name, p.name)
                if key not in weights:
                    raise KeyError(f"canonical weights lack '{key}'")
                if list(weights[key].shape) != p.shape:
                    raise ValueError(f"'{key}' has shape {list(weights[key].shape)}, IR says {p.shape}")
                state[key] = torch.as_tensor(weights[key])
        missing, unexpected = model.load_state_dict(state, strict=False)
        fixed = files.counter_keys(graph)  # and buffers computed from attributes (Swin's index)
        missing = [k for k in missing if not k.endswith(files.COUNTER) and k not in fixed]
        if missing or unexpected:
            raise KeyError(f"weights do not match the model: missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]}")

    def read_weights(self, path: str, graph: Graph) -> dict:
        return files.read_state_dict(path)

    def write_weights(self, path: str, graph: Graph, weights: dict) -> None:
        files.write_state_dict(path, weights)

    def bookkeeping_keys(self, graph: Graph) -> dict[str, str]:
        return files.counter_keys(graph)

    def node_values(self, model, graph: Graph, x: np.ndarray, feed: dict | None = None
                    ) -> dict[str, np.ndarray]:
        return probe.node_values(model, graph, x, feed)

    def float64_values(self, graph: Graph, weights: dict, x: np.ndarray,
                       adjust: Adjust | None = None, like=None) -> dict[str, np.ndarray]:
        model = self._float64_model(graph, like)
        self.import_weights(model, graph, weights)  # every tensor, so a reused model is as new
        return probe.node_values(model, graph, x.astype(np.float64), adjust=adjust)

    def _float64_model(self, graph: Graph, like=None):
        """The graph's model in float64, kept for the next call on the same graph: `netc check`
        runs it three times (calibration, exact, perturbed), and building a large network
        (its initialisation included: ConvNeXt's truncated normals) costs more than running it;
        a copy of `like` costs a memory copy."""
        import copy

        key = graph.content_hash()
        if self._float64[0] != key:
            self._float64 = (None, None)  # the last one's memory first
            model = copy.deepcopy(like) if like is not None else self.load(self.emit(graph), graph)
            self._float64 = (key, model.double())
        return self._float64[1]

    _float64 = (None, None)

    def prepare_export(self, fmt: str) -> None:
        export.prepare(fmt)

    def export(self, model, graph: Graph, fmt: str, path: str, example: np.ndarray) -> None:
        export.export(model, graph, fmt, path, example)

    def run_exported(self, fmt: str, path: str, x: np.ndarray) -> list[np.ndarray]:
        return export.run_exported(fmt, path, x)

    def checkpoint_weights(self, path: str, graph: Graph) -> dict:
        return export.checkpoint_weights(path)

    def trainer(self) -> type:
        from ...train.torch_trainer import TorchTrainer

        return TorchTrainer
