"""The IR: a flat, topologically ordered DAG of primitive ops with hierarchical names.

Every value a node holds is JSON-able, so a graph round-trips through JSON unchanged and hashes
stably. Names are weight keys in every backend (`layer1.0.conv1` -> `layer1.0.conv1.weight`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from ..spec.errors import Location

PARAM_KINDS = ("weight", "bias", "norm-affine", "norm-statistic")
SCALARS = (bool, int, float, str)  # the values a block entry's arguments may hold


@dataclass
class Param:
    name: str  # local to its node: "weight", "running_mean", ...
    shape: list[int]
    kind: str

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


def param_key(node: str, param: str) -> str:
    """A parameter's weight key: `node.param`, or the node's own name for a parameter with an
    empty name (a node that is itself a parameter, such as ViT's `class_token`)."""
    return f"{node}.{param}" if param else node


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str]
    attrs: dict
    shape: list[int]  # output shape without batch, channels first: (C, H, W) or (F,)
    params: list[Param] = field(default_factory=list)
    macs: int = 0
    source: str = ""  # "file:line:col" of the spec item that made it

    @property
    def location(self) -> Location | None:
        """The spec position this node was made at ("file:line:col", as the builder recorded)."""
        file, _, col = self.source.rpartition(":")
        file, _, line = file.rpartition(":")
        if line.isdigit() and col.isdigit() and len(line) < 10 and len(col) < 10:
            return Location(file, int(line), int(col))
        return None

    def param_count(self, kinds=PARAM_KINDS) -> int:
        return sum(p.size for p in self.params if p.kind in kinds)


NODE_FIELDS = {"name": str, "op": str, "inputs": list, "attrs": dict, "shape": list,
               "params": list, "macs": int, "source": str}


def _expect(value, kind, what: str, fields: set | None = None, optional=frozenset()):
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{what} is not a {kind.__name__}")
    if fields is not None:
        keys = set(value)
        if keys - fields - optional or fields - keys:
            raise ValueError(f"{what} has fields {sorted(map(str, keys))}; expected "
                             f"{sorted(fields | optional)}")
    return value


@dataclass
class Graph:
    name: str
    input_name: str
    input_shape: list[int]
    nodes: list[Node] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    # residual blocks, stage info (feature_info), block instances: [{"block", "name", "args"}]
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self._index = {n.name: n for n in self.nodes}
        self._hash = None

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        self._index[node.name] = node
        self._hash = None
        return node

    def rename(self, mapping: dict[str, str]) -> None:
        """Rename nodes (old -> new) and every reference to them: inputs, outputs, meta."""
        for node in self.nodes:
            node.name = mapping.get(node.name, node.name)
            node.inputs = [mapping.get(i, i) for i in node.inputs]
        self.outputs = [mapping.get(o, o) for o in self.outputs]
        for entry in self.meta.get("residuals", []):
            for key in ("input", "body", "shortcut", "merge"):
                if key in entry:
                    entry[key] = mapping.get(entry[key], entry[key])
        for entry in self.meta.get("submodels", []):
            entry["nodes"] = [mapping.get(n, n) for n in entry["nodes"]]
        if "blocks" in self.meta:
            # a block instance whose layers were renamed no longer owns its namespace
            moved = {parent for old, new in mapping.items() if old != new
                     for parent in _prefixes(old)}
            self.meta["blocks"] = [b for b in self.meta["blocks"] if b["name"] not in moved]
        self._index = {n.name: n for n in self.nodes}
        self._hash = None

    def node(self, name: str) -> Node:
        return self._index[name]

    def __contains__(self, name: str) -> bool:
        return name in self._index or name == self.input_name

    def value_of(self, name: str) -> str | None:
        """The value `name` stands for: a node, the input, or a namespace's last node (the output
        of `layer3` is its last block's last layer); None when nothing is called that."""
        if name in self:
            return name
        prefix = name + "."
        return next((n.name for n in reversed(self.nodes) if n.name.startswith(prefix)), None)

    def shape_of(self, name: str) -> list[int]:
        return self.input_shape if name == self.input_name else self._index[name].shape

    def count(self, kinds=PARAM_KINDS) -> int:
        return sum(n.param_count(kinds) for n in self.nodes)

    @property
    def trainable(self) -> int:
        return self.count(("weight", "bias", "norm-affine"))

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)

    def to_json(self, shallow: bool = False) -> dict:
        """Plain data (copies); `shallow` leaves the nodes out."""
        return {
            "name": self.name,
            "input": {"name": self.input_name, "shape": self.input_shape},
            "nodes": [] if shallow else [asdict(n) for n in self.nodes],
            "outputs": self.outputs,
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data) -> "Graph":
        """The graph `to_json` wrote. Raises ValueError on anything of another structure; the
        values themselves are `lint`'s to judge."""
        _expect(data, dict, "the file", {"name", "input", "nodes", "outputs"}, {"meta"})
        _expect(data["input"], dict, "'input'", {"name", "shape"})
        nodes = []
        for i, n in enumerate(_expect(data["nodes"], list, "'nodes'")):
            _expect(n, dict, f"node {i}", set(NODE_FIELDS))
            for field_name, kind in NODE_FIELDS.items():
                _expect(n[field_name], kind, f"node {i} '{field_name}'")
            params = []
            for p in n["params"]:
                _expect(p, dict, f"node {i} parameter", {"name", "shape", "kind"})
                if p["kind"] not in PARAM_KINDS or not isinstance(p["name"], str):
                    raise ValueError(f"node {i} has a parameter of unknown kind")
                params.append(Param(p["name"], _expect(p["shape"], list, "a parameter shape"),
                                    p["kind"]))
            nodes.append(Node(**{**n, "params": params}))
        meta = _expect(data.get("meta", {}), dict, "'meta'")
        for entry in _expect(meta.get("residuals", []), list, "'meta.residuals'"):
            _expect(entry, dict, "a residual entry", {"name", "input", "body", "shortcut", "merge",
                                                      "kind"}, optional={"order"})
            if not all(isinstance(v, str) for v in entry.values()):
                raise ValueError("a residual entry holds something other than names")
        for entry in _expect(meta.get("blocks", []), list, "'meta.blocks'"):
            _expect(entry, dict, "a block entry", {"block", "name", "args"})
            if not isinstance(entry["block"], str) or not isinstance(entry["name"], str):
                raise ValueError("a block entry holds something other than names")
            for key, value in _expect(entry["args"], dict, "a block entry's 'args'").items():
                if not isinstance(key, str) or not isinstance(value, SCALARS):
                    raise ValueError("a block entry's arguments are not names and plain values")
        if "normalize" in meta:
            _check_normalize(meta["normalize"], data["input"]["shape"])
        return cls(data["name"], data["input"]["name"], _expect(data["input"]["shape"], list,
                   "the input shape"), nodes, _expect(data["outputs"], list, "'outputs'"), meta)

    def content_hash(self) -> str:
        """Hash of what the network computes: ops, wiring, attrs, shapes; not spec positions.
        Computed once: `add` and `rename` forget it, and nodes are not edited in place after
        expansion (lint judges a graph before any backend reads it)."""
        if self._hash is None:
            body = {**self.to_json(shallow=True), "nodes": [
                {"name": n.name, "op": n.op, "inputs": n.inputs, "attrs": n.attrs, "shape": n.shape,
                 "params": [{"name": p.name, "shape": p.shape, "kind": p.kind} for p in n.params],
                 "macs": n.macs} for n in self.nodes]}
            text = json.dumps(body, sort_keys=True, separators=(",", ":"))
            self._hash = hashlib.sha256(text.encode()).hexdigest()[:16]
        return self._hash


def _check_normalize(value, input_shape) -> None:
    """meta["normalize"] (netc.spec.preprocess): {order: rgb|bgr, mean: [...], std: [...]}, one
    mean and one positive std per input channel; else ValueError."""
    _expect(value, dict, "'meta.normalize'", {"order", "mean", "std"})
    if value["order"] not in ("rgb", "bgr"):
        raise ValueError("'meta.normalize' order is neither rgb nor bgr")
    for key in ("mean", "std"):
        numbers = _expect(value[key], list, f"'meta.normalize.{key}'")
        if not numbers or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                  for v in numbers):
            raise ValueError(f"'meta.normalize.{key}' is not a list of numbers")
    if len(value["mean"]) != len(value["std"]) or not all(s > 0 for s in value["std"]):
        raise ValueError("'meta.normalize.std' is not one positive number per mean")
    channels = input_shape[0] if isinstance(input_shape, list) and input_shape else None
    if len(value["mean"]) != channels:
        raise ValueError(f"'meta.normalize' has {len(value['mean'])} channel(s); the input has "
                         f"{channels}")


def _prefixes(name: str):
    parts = name.split(".")
    for i in range(1, len(parts)):
        yield ".".join(parts[:i])
