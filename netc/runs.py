"""The bridge between a spec and the trainers: a ModelSource from an IR graph, and the IR saved
in each run folder so that `netc eval` and `netc lesion` need nothing but the folder."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from .compiler.ir import Graph
from .compiler.lesion import deletable_blocks, lesion
from .compiler.lint import lint
from .spec.errors import SpecError

IR_FILE = "ir.json"
MAX_IR_BYTES = 64 * 2**20


def model_source(graph: Graph, spec_text: str, backend: str = "torch"):
    from . import build
    from .train import ModelSource

    if len(graph.input_shape) != 3 or len(graph.node(graph.outputs[0]).shape) != 1:
        raise SpecError(f"'{graph.name}' is not an image classifier (input "
                        f"{graph.input_shape}, output {graph.node(graph.outputs[0]).shape}); "
                        "netc trains networks that map C x H x W images to class scores")
    return ModelSource(build=lambda: build(graph, backend), input_shape=tuple(graph.input_shape),
                       num_classes=graph.node(graph.outputs[0]).shape[0], spec_text=spec_text,
                       ir_hash=graph.content_hash(), name=graph.name, ir_text=ir_text(graph))


def ir_text(graph: Graph) -> str:
    """The text of a run folder's ir.json (the trainers write it once they hold the folder)."""
    return json.dumps(graph.to_json()) + "\n"


def write_ir(run_dir: Path, graph: Graph) -> None:
    (Path(run_dir) / IR_FILE).write_text(ir_text(graph), encoding="utf-8")


def locate(run_or_checkpoint: str) -> tuple[Path, Path]:
    """(run folder, checkpoint): a folder means its best checkpoint, else its last."""
    from .train import TrainError

    path = Path(run_or_checkpoint)
    if path.is_dir():
        for which in ("best.pt", "last.pt"):
            if (path / "checkpoints" / which).exists():
                return path, path / "checkpoints" / which
        if (path / "checkpoints" / "last.weights.h5").exists():
            raise TrainError(f"{path} is a Keras run; netc eval and lesion read torch runs",
                             hint="train with --backend torch to evaluate or lesion the network")
        raise TrainError(f"{path} holds no checkpoint", hint="is it a netc run folder?")
    if path.is_file():
        return path.parent.parent, path
    raise TrainError(f"no such run folder or checkpoint: {path}")


def run_graph(run_dir: Path) -> tuple[Graph, str]:
    from .train import TrainError

    ir_path, spec_path = run_dir / IR_FILE, run_dir / "spec.yaml"
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


def lesion_builder(graph: Graph, trained_state: dict):
    """`lesion(names)` for the lesion study: the network rebuilt without those residual bodies,
    holding the trained weights of everything that remains."""
    from . import build

    @contextmanager
    def lesioned(names):
        model = build(lesion(graph, sorted(names)))
        state = model.state_dict()
        model.load_state_dict({k: v for k, v in trained_state.items() if k in state}, strict=True)
        yield model.eval()

    return deletable_blocks(graph), lesioned
