"""A network as Graphviz DOT text, drawn from the IR: node names are dotted scopes
(`layer1.0.conv1`), and every scope deeper than the chosen depth is collapsed into one box
(a stage, a block) that sums its parameters and MACs. Opened scopes are clusters; residual
(add) and concatenation merges are drawn as their own shapes, and a collapsed scope that holds
them says so; every edge carries the shape of the value it moves; every node has its
parameters and MACs as a tooltip (shown on hover in SVG).

Scopes above every block instance (torchvision's `features` around a DenseNet's blocks) are
opened without counting as a level, so depth 0 shows the stages of any network.

Everything taken from the graph passes through `quote`, so no name breaks the DOT syntax.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..compiler.ir import Graph, Node

# Merge ops drawn as their own shapes: (label, shape, fill colour).
MERGES = {"add": ("+", "circle", "#fff2b3"), "concat": ("concat", "invtrapezium", "#cfe6ff"),
          "mul": ("×", "circle", "#ffd9d9")}
MERGE_WORDS = {"add": "residual add", "concat": "concat", "mul": "gate (mul)"}
INPUT_ID, OUTPUT_ID = "netc:input", "netc:output"
TRAINABLE = ("weight", "bias", "norm-affine")


def quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, line breaks as \\n (a
    backslash in a name would otherwise start a Graphviz escape like \\N)."""
    text = str(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.replace("\r", "").replace("\n", "\\n") + '"'


def _label(*lines: str) -> str:
    """A multi-line label: each line escaped alone, then joined by DOT's line break."""
    return '"' + "\\n".join(quote(line)[1:-1] for line in lines) + '"'


def _shape(shape: list[int]) -> str:
    return "x".join(map(str, shape))


def _count(n: int) -> str:
    for unit, size in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


@dataclass
class Box:
    """What one drawn node stands for: one IR node, or every node of a collapsed scope."""

    key: str
    nodes: list[Node] = field(default_factory=list)

    @property
    def params(self) -> int:
        """Trainable parameters (batch-norm statistics are not learned)."""
        return sum(n.param_count(TRAINABLE) for n in self.nodes)

    @property
    def macs(self) -> int:
        return sum(int(n.macs) for n in self.nodes)


def wrapper(graph: Graph) -> str:
    """The scope that holds most of the network (torchvision's `features` around a DenseNet's
    blocks, and any scope inside it that again holds more than half the nodes), opened
    without counting as a level; '' when there is none."""
    found, total = "", len(graph.nodes)
    while True:
        prefix = found + "." if found else ""
        sizes: dict[str, int] = {}
        for node in graph.nodes:
            rest = node.name[len(prefix):].split(".") if node.name.startswith(prefix) else []
            if len(rest) > 1:
                sizes[prefix + rest[0]] = sizes.get(prefix + rest[0], 0) + 1
        largest = max(sizes, key=sizes.get, default=None)
        if largest is None or 2 * sizes[largest] <= total:
            return found
        found = largest


def boxes(graph: Graph, depth: int) -> tuple[dict[str, Box], dict[str, str]]:
    """(key -> Box, IR name -> key): each node's name cut after `depth` opened levels (the
    `wrapper` scope not counted)."""
    outer = wrapper(graph)
    drawn: dict[str, Box] = {}
    key_of = {}
    for node in graph.nodes:
        parts = node.name.split(".")
        inside = bool(outer) and node.name.startswith(outer + ".")
        keep = depth + 1 + (outer.count(".") + 1 if inside else 0)
        key = ".".join(parts[:keep])
        drawn.setdefault(key, Box(key)).nodes.append(node)
        key_of[node.name] = key
    return drawn, key_of


def _local(name: str) -> str:
    """A name as shown inside its scope's frame: its last part, with its parent's when the
    last part is an index (`layer1.0`)."""
    parts = name.split(".")
    return ".".join(parts[-2:]) if parts[-1].isdigit() and len(parts) > 1 else parts[-1]


def _block_kinds(graph: Graph, key: str) -> str:
    """'3 x bottleneck' for a scope whose children are block instances."""
    depth = key.count(".") + 2
    kinds: dict[str, int] = {}
    for block in graph.meta.get("blocks", []):
        name = block["name"]
        if name.startswith(key + ".") and name.count(".") + 1 == depth:
            kinds[block["block"]] = kinds.get(block["block"], 0) + 1
    return ", ".join(f"{count} x {kind}" for kind, count in kinds.items())


def _leaf_detail(node: Node) -> str:
    attrs = node.attrs
    kernel, stride = attrs.get("kernel"), attrs.get("stride")
    detail = node.op
    if isinstance(kernel, list):
        detail += " " + "x".join(map(str, kernel))
    if isinstance(stride, list) and any(s != 1 for s in stride):
        detail += " /" + "x".join(map(str, sorted(set(stride))))
    return detail


def _node_line(box: Box, graph: Graph) -> str:
    if len(box.nodes) == 1 and box.nodes[0].name == box.key:
        node = box.nodes[0]
        if node.op in MERGES:
            label, shape, fill = MERGES[node.op]
            tip = f"{node.name}: {node.op}, output {_shape(node.shape)}"
            return (f"{quote(box.key)} [label={quote(label)}, shape={shape}, style=filled, "
                    f"fillcolor={quote(fill)}, tooltip={quote(tip)}];")
        detail = _leaf_detail(node)
        local = _local(node.name)  # its scope is its frame's label
        lines = [local] + ([detail] if detail != local else [])
        style, fill = "rounded,filled", "#ffffff"
    else:
        merges = sorted({MERGE_WORDS[n.op] for n in box.nodes if n.op in MERGES})
        kind = next((b["block"] for b in graph.meta.get("blocks", []) if b["name"] == box.key), None)
        count = f"{len(box.nodes)} layers" if kind is None else f"{kind}, {len(box.nodes)} layers"
        lines = [_local(box.key), _block_kinds(graph, box.key) or count]
        lines += [" + ".join(merges)] if merges else []
        style, fill = "rounded,filled,bold", "#e8e8e8"
    if box.params:
        lines.append(f"{_count(box.params)} params")
    tip = (f"{box.key}: {len(box.nodes)} node{'s' if len(box.nodes) > 1 else ''}, "
           f"output {_shape(box.nodes[-1].shape)}\nparams {box.params:,}\nMACs {box.macs:,}")
    return (f"{quote(box.key)} [label={_label(*lines)}, shape=box, style={quote(style)}, "
            f"fillcolor={quote(fill)}, tooltip={quote(tip)}];")


def _edges(graph: Graph, key_of: dict[str, str]) -> list[tuple[str, str, str]]:
    """(from, to, shape label) between drawn nodes, each once, in graph order."""
    seen: dict[tuple[str, str], str] = {}
    for node in graph.nodes:
        for src in node.inputs:
            tail = INPUT_ID if src == graph.input_name else key_of[src]
            head = key_of[node.name]
            if tail != head:
                seen.setdefault((tail, head), _shape(graph.shape_of(src)))
    for out in graph.outputs:
        seen.setdefault((key_of[out], OUTPUT_ID), _shape(graph.shape_of(out)))
    return [(tail, head, shape) for (tail, head), shape in seen.items()]


def _parent(name: str) -> str:
    return name.rpartition(".")[0]


def _scopes(keys: list[str]) -> dict[str, list[str]]:
    """Opened scope -> the drawn keys and inner scopes it directly holds; '' is the top. A key
    that is also a scope's name is drawn inside that scope's cluster."""
    tree: dict[str, list[str]] = {"": []}
    for key in keys:
        parts = key.split(".")
        for i in range(1, len(parts)):
            scope = ".".join(parts[:i])
            if scope not in tree:
                tree[scope] = []
                tree[_parent(scope)].append(scope)
    for key in keys:
        tree[key if key in tree else _parent(key)].append(key)
    return tree


def _emit_scope(scope: str, tree, lines: list[str], node_lines: dict[str, str], indent: str):
    for member in tree[scope]:
        if member in tree and member != scope:
            lines.append(f"{indent}subgraph {quote('cluster:' + member)} {{")
            lines.append(f"{indent}  label={quote(member)}; tooltip={quote(member)};")
            _emit_scope(member, tree, lines, node_lines, indent + "  ")
            lines.append(f"{indent}}}")
        else:
            lines.append(indent + node_lines[member])


def to_dot(graph: Graph, depth: int = 0) -> str:
    """The DOT text of `graph` with `depth` scope levels opened (0: stages and top-level
    layers; each level more opens one more level of blocks)."""
    drawn, key_of = boxes(graph, depth)
    node_lines = {key: _node_line(box, graph) for key, box in drawn.items()}
    tree = _scopes(list(drawn))
    head = f"{graph.name}: {graph.trainable:,} parameters, {graph.macs:,} MACs"
    lines = [f"digraph {quote(graph.name)} {{",
             f"  graph [rankdir=TB, label={quote(head)}, labelloc=t, fontname=Helvetica, "
             "style=\"rounded,dashed\", color=\"#9a9a9a\", nodesep=0.3, ranksep=0.35];",
             "  node [fontname=Helvetica, fontsize=11];",
             "  edge [fontname=Helvetica, fontsize=9, color=\"#555555\"];",
             f"  {quote(INPUT_ID)} [label={_label('input', _shape(graph.input_shape))}, "
             "shape=parallelogram, style=filled, fillcolor=\"#d9f2d9\"];",
             f"  {quote(OUTPUT_ID)} [label={quote('output')}, shape=parallelogram, style=filled, "
             "fillcolor=\"#d9f2d9\"];"]
    _emit_scope("", tree, lines, node_lines, "  ")
    for tail, head_, shape in _edges(graph, key_of):
        lines.append(f"  {quote(tail)} -> {quote(head_)} [label={quote(shape)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
