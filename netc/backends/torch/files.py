"""torch weight files (.pt, .pth): a state_dict, read as data only (weights_only=True)."""
from __future__ import annotations

import numpy as np

from ...compiler.ir import Graph
from ...spec.errors import SpecError
from .ops_windows import FIXED_BUFFERS

# torch counts batch-norm steps in a buffer that no other framework keeps and no output uses.
COUNTER = "num_batches_tracked"
COUNTER_WORDS = f"batch-norm step counters ({COUNTER})"


def counter_keys(graph: Graph) -> dict[str, str]:
    keys = {f"{n.name}.{COUNTER}": COUNTER_WORDS for n in graph.nodes
            if any(p.name == "running_var" for p in n.params)}
    keys.update({f"{n.name}.{b}": "index buffers the model computes from its window size"
                 for n in graph.nodes for b in FIXED_BUFFERS.get(n.op, ())})
    return keys


def _to_numpy(key: str, value, path: str):
    """A tensor as numpy (bfloat16 and half widened to float32); anything else unchanged."""
    import torch

    if not isinstance(value, torch.Tensor):
        return value
    value = value.detach().cpu()
    if value.layout != torch.strided or value.is_quantized:
        kind = "quantized" if value.is_quantized else str(value.layout).removeprefix("torch.")
        raise SpecError(f"'{path}': '{key}' is a {kind} tensor; netc reads dense float tensors",
                        hint="save the state_dict with dense tensors (tensor.to_dense(), "
                             "tensor.dequantize())")
    if value.dtype in (torch.bfloat16, torch.float16):
        value = value.float()
    return value.numpy()


def read_state_dict(path: str) -> dict:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle torch refuses to load safely, or not a torch file
        raise SpecError(f"cannot read '{path}' as a torch state_dict ({type(exc).__name__}: {exc})",
                        hint="netc loads checkpoints with weights_only=True; save a plain state_dict") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise SpecError(f"'{path}' holds a {type(state).__name__}, not a state_dict")
    return {str(k): _to_numpy(str(k), v, path) for k, v in state.items()}


def write_state_dict(path: str, weights: dict[str, np.ndarray]) -> None:
    import torch

    torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}, path)
