"""The architecture table of a network, laid out the way papers print it (ResNet's Table 1,
DenseNet's Table 1): one row per stage, with the output size and the layers of one block times its
repeat count, and one row per weighted or pooling layer outside the stages.

Read from the IR alone: `graph.meta["stages"]` gives each stage's blocks and output shape; the nodes
of a stage's first block give its layers. A node belongs to a block when its name lies inside the
block's instance name; stage names are not used for that, since an empty stage name (MobileNetV2's
features.1 .. 17) puts all stages in one namespace. Shortcut branches are left out, as papers leave
them out of their tables. No framework is imported.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .compiler.ir import Graph, Node


@dataclass
class Row:
    name: str
    size: str  # output size, "56x56"; "1x1" for flat outputs
    layers: list[str]  # one entry per layer, e.g. "3x3, 64"
    repeat: int = 1
    stage: bool = False


def _kernel(values) -> str:
    return "x".join(map(str, values))


def _stride(attrs) -> str:
    s = attrs["stride"]
    return "" if s == [1, 1] else f", stride {s[0] if s[0] == s[1] else _kernel(s)}"


def _conv(node: Node, in_block: bool) -> str:
    at = node.attrs
    text = f"{_kernel(at['kernel'])}, {at['out_channels']}"
    if at["groups"] == at["in_channels"] == at["out_channels"] and at["groups"] > 1:
        text += ", depthwise"
    elif at["groups"] > 1:
        text += f", C={at['groups']}"  # ResNeXt's tables give the cardinality this way
    return text if in_block else text + _stride(at)


def _pool(kind):
    def describe(node: Node, in_block: bool) -> str:
        return f"{_kernel(node.attrs['kernel'])} {kind} pool" + _stride(node.attrs)
    return describe


DESCRIBE = {
    "conv2d": _conv,
    "separable_conv2d": lambda n, b: f"{_kernel(n.attrs['kernel'])}, {n.attrs['out_channels']}, "
                                     "separable" + ("" if b else _stride(n.attrs)),
    "linear": lambda n, b: f"fc, {n.attrs['out_features']}",
    "maxpool": _pool("max"),
    "avgpool": _pool("avg"),
    "global_avgpool": lambda n, b: "global average pool",
    "global_maxpool": lambda n, b: "global max pool",
    "adaptive_avgpool": lambda n, b: f"adaptive average pool to {_kernel(n.attrs['output_size'])}",
}


def _size(shape) -> str:
    return _kernel(shape[1:]) if len(shape) == 3 else "1x1"


def _shortcut_nodes(graph: Graph) -> set[str]:
    """Nodes on a residual's shortcut branch: walk back from its output to the block input."""
    out: set[str] = set()
    for res in graph.meta.get("residuals", []):
        stack = [res["shortcut"]] if res["shortcut"] not in (None, res["input"]) else []
        while stack:
            name = stack.pop()
            if name in out or name == res["input"] or name == graph.input_name:
                continue
            out.add(name)
            stack.extend(graph.node(name).inputs)
    return out


def _inside(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _flat_blocks(graph: Graph, blocks: list[str]) -> list[list[Node]]:
    """A stage under `numbering: flat` (VGG's `features`) names each block by its first layer and
    keeps no namespace: block k runs up to block k + 1's first layer, and the last block is as
    long as the one before it (blocks after the first take the same arguments). A stage of one
    such block is known by its first layer only."""
    position = {n.name: i for i, n in enumerate(graph.nodes)}
    starts = [position[b] for b in blocks]
    ends = starts[1:] + [starts[-1] + (starts[-1] - starts[-2] if len(starts) > 1 else 1)]
    return [graph.nodes[a:b] for a, b in zip(starts, ends)]


def _stage_blocks(graph: Graph, stages: list[dict]) -> list[list[list[Node]]]:
    """For each stage, the nodes of each of its blocks, in graph order."""
    owner: dict[str, tuple[int, int]] = {}  # block instance name -> (stage, block)
    for s, stage in enumerate(stages):
        owner.update({b: (s, k) for k, b in enumerate(stage["blocks"]) if b})
    found = [[[] for _ in stage["blocks"]] for stage in stages]
    for node in graph.nodes:
        parts = node.name.split(".")
        hit = next((owner[p] for p in (".".join(parts[:i]) for i in range(len(parts), 0, -1))
                    if p in owner), None)
        if hit is not None:
            found[hit[0]][hit[1]].append(node)
    for s, stage in enumerate(stages):
        flat = all(len(nodes) == 1 and nodes[0].name == b
                   for b, nodes in zip(stage["blocks"], found[s]))
        if flat and stage["blocks"]:
            found[s] = _flat_blocks(graph, stage["blocks"])
    return found


def _stage_label(stage: dict, stages: list[dict]) -> str:
    """The stage's own name where it is one namespace holding all its blocks (ResNet's layer1);
    else its blocks' names, first to last (MobileNetV2's features.2-3, VGG's features.0-2)."""
    name, blocks = stage["name"], stage["blocks"]
    unique = sum(s["name"] == name for s in stages) == 1
    if name and unique and all(_inside(b, name) for b in blocks):
        return name
    first, last = blocks[0], blocks[-1]
    if first == last:
        return first
    head, _, tail = last.rpartition(".")
    return f"{first}-{tail}" if head and first.rpartition(".")[0] == head else f"{first}-{last}"


def rows(graph: Graph) -> list[Row]:
    skip = _shortcut_nodes(graph)
    stages = graph.meta.get("stages", [])
    members = _stage_blocks(graph, stages)
    stage_of = {n.name: s for s, blocks in enumerate(members) for nodes in blocks for n in nodes}
    table, done = [], set()
    for node in graph.nodes:
        s = stage_of.get(node.name)
        if s is not None:
            if s not in done:
                done.add(s)
                stage = stages[s]
                layers = [DESCRIBE[n.op](n, True) for n in members[s][0]
                          if n.op in DESCRIBE and n.name not in skip]
                table.append(Row(_stage_label(stage, stages), _size(stage["shape"]), layers,
                                 len(stage["blocks"]), stage=True))
        elif node.op in DESCRIBE and node.name not in skip:
            table.append(Row(node.name, _size(node.shape), [DESCRIBE[node.op](node, False)]))
    return table


def _cell_markdown(row: Row) -> str:
    if not row.stage:
        return "; ".join(row.layers)
    text = "[" + "; ".join(row.layers) + "]"
    return text + f" x {row.repeat}" if row.repeat > 1 else text


# -- transformers: the Vision Transformer's Table 1 -------------------------------------------------

ENCODER_COLUMNS = ("Model", "Layers", "Hidden size D", "MLP size", "Heads", "Params")


def encoder_row(graph: Graph) -> tuple | None:
    """A transformer encoder as ViT's Table 1 describes it (Dosovitskiy et al. 2021): its
    self-attention layers, their width and heads, the widest linear layer inside the first
    encoder block (the MLP), and the trainable parameters in millions; None without attention."""
    attention = [n for n in graph.nodes if n.op == "self_attention"]
    if not attention:
        return None
    first = attention[0]
    block = first.name.rpartition(".")[0]
    mlp = [n.attrs["out_features"] for n in graph.nodes
           if n.op == "linear" and block and _inside(n.name, block)]
    return (graph.name, len(attention), first.attrs["embed_dim"], max(mlp) if mlp else "-",
            first.attrs["num_heads"], f"{graph.trainable / 1e6:.1f}M")


def markdown(graph: Graph) -> str:
    if (encoder := encoder_row(graph)) is not None:
        return "\n".join(["| " + " | ".join(ENCODER_COLUMNS) + " |",
                          "|---|" + "---:|" * (len(ENCODER_COLUMNS) - 1),
                          "| " + " | ".join(map(str, encoder)) + " |"]) + "\n"
    lines = [f"**{graph.name}** (input {_kernel(graph.input_shape)})", "",
             "| layer | output size | layers |", "|---|---|---|"]
    lines += [f"| {r.name} | {r.size} | {_cell_markdown(r)} |" for r in rows(graph)]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#",
                  "$": r"\$", "{": r"\{", "}": r"\}"}


_SIZE = re.compile(r"(\d+)x(?=\d)")


def _tex(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(c, c) for c in text)


def _tex_layer(layer: str) -> str:
    """Escape, then typeset sizes: "3x3, 64" -> "3$\\times$3, 64"."""
    return _SIZE.sub(r"\1$\\times$", _tex(layer))


def _cell_latex(row: Row) -> str:
    layers = [_tex_layer(layer) for layer in row.layers]
    if not row.stage:
        return "; ".join(layers)
    stacked = r"\\ ".join(layers)
    cell = rf"$\left[\begin{{tabular}}{{@{{}}l@{{}}}}{stacked}\end{{tabular}}\right]$"
    return cell + rf" $\times$ {row.repeat}" if row.repeat > 1 else cell


def latex(graph: Graph) -> str:
    if (encoder := encoder_row(graph)) is not None:
        return "\n".join([r"\begin{tabular}{lrrrrr}", r"\hline",
                          " & ".join(ENCODER_COLUMNS) + r" \\", r"\hline",
                          " & ".join(_tex(str(v)) for v in encoder) + r" \\",
                          r"\hline", r"\end{tabular}"]) + "\n"
    lines = [r"\begin{tabular}{lll}", r"\hline",
             r"layer & output size & layers \\", r"\hline"]
    lines += [rf"{_tex(r.name)} & {_tex_layer(r.size)} & {_cell_latex(r)} \\"
              for r in rows(graph)]
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
