"""Deployable files of a torch model: ONNX (run back by onnxruntime), TorchScript (torch.jit) and
a `torch.export` ExportedProgram (.pt2), each with its batch size left free; and the canonical
weights of a checkpoint the torch trainer wrote."""
from __future__ import annotations

import importlib.util
import warnings
from contextlib import contextmanager

import numpy as np

from ...compiler.ir import Graph
from ..base import Unsupported

FORMATS = ("onnx", "torchscript", "exported_program")
# What each format needs beyond torch, to write it and to run it back.
NEEDS = {"onnx": ("onnx", "onnxscript", "onnxruntime")}
INPUT, OUTPUT = "input", "output"
MAX_BATCH = 65536


def require(fmt: str) -> None:
    """Refuse, naming the packages and the extra, when a format's packages are not installed."""
    missing = [name for name in NEEDS.get(fmt, ()) if importlib.util.find_spec(name) is None]
    if missing:
        raise Unsupported(f"exporting to {fmt} needs {', '.join(missing)}, which "
                          f"{'is' if len(missing) == 1 else 'are'} not installed",
                          hint="pip install 'netc[export]'")


def prepare(fmt: str) -> None:
    """The format's packages, checked; and torch.export's tracing stack loaded now, since
    loading it (its compiler, triton) after TensorFlow is loaded crashes the process."""
    require(fmt)
    if fmt in ("onnx", "exported_program"):
        import torch.export._trace  # noqa: F401


@contextmanager
def _quiet():
    """torch.jit announces its deprecation on every call; the files it writes still load."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _batch_dim():
    from torch.export import Dim

    return ({0: Dim("batch", min=1, max=MAX_BATCH)},)


def _write_onnx(model, example, path: str) -> None:
    import torch

    program = torch.onnx.export(model, (example,), None, dynamic_shapes=_batch_dim(),
                                input_names=[INPUT], output_names=[OUTPUT], verbose=False)
    program.save(path)


def _write_torchscript(model, example, path: str) -> None:
    import torch

    with _quiet():
        torch.jit.script(model).save(path)


def _write_exported_program(model, example, path: str) -> None:
    import torch

    program = torch.export.export(model, (example,), dynamic_shapes=_batch_dim())
    with open(path, "wb") as handle:  # a file object: any name, not only *.pt2
        torch.export.save(program, handle)


def _run_onnx(path: str, x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def _run_torchscript(path: str, x: np.ndarray) -> list[np.ndarray]:
    import torch

    with _quiet():
        module = torch.jit.load(path, map_location="cpu")
    with torch.no_grad():
        return _numpy(module(torch.from_numpy(x)))


def _run_exported_program(path: str, x: np.ndarray) -> list[np.ndarray]:
    import torch

    with open(path, "rb") as handle:
        program = torch.export.load(handle)
    with torch.no_grad():
        return _numpy(program.module()(torch.from_numpy(x)))


def _numpy(out) -> list[np.ndarray]:
    outs = out if isinstance(out, (tuple, list)) else [out]
    return [o.detach().cpu().numpy() for o in outs]


WRITERS = {"onnx": _write_onnx, "torchscript": _write_torchscript,
           "exported_program": _write_exported_program}
RUNNERS = {"onnx": _run_onnx, "torchscript": _run_torchscript,
           "exported_program": _run_exported_program}


def export(model, graph: Graph, fmt: str, path: str, example: np.ndarray) -> None:
    """Write `model` (float32, CPU, inference mode) as `fmt`; `example` is a channels-first
    batch to trace with, its batch size declared free."""
    import torch

    require(fmt)
    model = model.float().cpu().eval()
    with torch.no_grad():
        WRITERS[fmt](model, torch.from_numpy(np.ascontiguousarray(example, np.float32)), path)


def run_exported(fmt: str, path: str, x: np.ndarray) -> list[np.ndarray]:
    """The outputs of the file at `path` on the channels-first batch `x`, run by the format's
    own runtime."""
    require(fmt)
    return RUNNERS[fmt](path, np.ascontiguousarray(x, np.float32))


def checkpoint_weights(path: str) -> dict:
    """The model's state of a torch checkpoint (its checksum verified), as numpy arrays."""
    from ...train.torch_checkpoint import load_checkpoint
    from .files import _to_numpy

    return {str(k): _to_numpy(str(k), v, path)
            for k, v in load_checkpoint(path)["model"].items()}
