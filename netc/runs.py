"""The bridge between a spec and the trainers: a ModelSource from an IR graph, and the IR read
back from a run folder so that `netc eval`, `netc lesion` and a resume need nothing but the
folder."""
from __future__ import annotations

import json
from pathlib import Path

from .backends import DEFAULT_BACKEND
from .compiler.ir import Graph
from .compiler.lint import lint
from .spec.errors import SpecError
from .train.errors import TrainError
from .train.run_folder import RunFolder

IR_FILE = RunFolder.IR
MAX_IR_BYTES = 64 * 2**20


def model_source(graph: Graph, spec_text: str, backend: str = DEFAULT_BACKEND):
    """What a trainer needs to train ``graph`` with ``backend`` (netc.build's default)."""
    from . import build
    from .train import ModelSource

    out = graph.node(graph.outputs[0]).shape
    dense = len(out) == 3 and tuple(out[1:]) == tuple(graph.input_shape[1:])
    if len(graph.input_shape) != 3 or not (len(out) == 1 or dense):
        raise SpecError(f"'{graph.name}' is neither an image classifier nor a per-pixel one "
                        f"(input {graph.input_shape}, output {out}); netc trains networks that "
                        "map C x H x W images to class scores, or to K x H x W maps of them")
    return ModelSource(build=lambda: build(graph, backend), input_shape=tuple(graph.input_shape),
                       num_classes=out[0], spec_text=spec_text,
                       ir_hash=graph.content_hash(), name=graph.name, backend=backend,
                       graph=graph)


def run_graph(run_dir: Path) -> tuple[Graph, str]:
    """The IR graph a run folder holds, checked like a new one, and its spec's text."""
    run = RunFolder(run_dir)
    ir_path, spec_path = run.ir_path, run.spec_path
    if not ir_path.exists():
        raise TrainError(f"{run_dir} has no {IR_FILE}", hint="pass the spec with --spec")
    text = spec_path.read_text(encoding="utf-8") if spec_path.exists() else ""
    try:
        with open(ir_path, "rb") as fh:
            raw = fh.read(MAX_IR_BYTES + 1)
        if len(raw) > MAX_IR_BYTES:
            raise ValueError(f"larger than {MAX_IR_BYTES // 2**20} MiB")
        graph = Graph.from_json(json.loads(raw.decode("utf-8")))
    except (ValueError, RecursionError) as err:  # damaged, or not written by netc
        raise TrainError(f"{ir_path}: not a netc IR file ({err})",
                         hint="pass the spec with --spec") from None
    # The folder may have been edited since netc wrote it: its IR is checked like a new one,
    # and its hash is computed from what is here, never read.
    lint(graph, origin=str(ir_path))
    return graph, text
