"""A scope's module tree as constructor expressions, and the references its forward uses.

Children numbered 0..n-1 make an `nn.Sequential`, any other names an `nn.ModuleDict`, so every
module sits at its IR name and `state_dict` keys are the IR's. Consecutive instances of one class
whose arguments are constant or step evenly become one loop: `*[Bottleneck(...) for _ in range(5)]`
in a Sequential, `{"denselayer" + str(i + 1): DenseLayer(...) for i in range(6)}` in a ModuleDict.
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from ..generalise import progression
from ..render import ident, lit

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBERED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*?)([1-9][0-9]*|0)")
WIDTH = 100
MIN_RUN = 3

# Attributes nn.Module, nn.Sequential and nn.ModuleDict define: a child with one of these names is
# reached by key, since `self.train` would find the method.
MODULE_ATTRS = frozenset("""T_destination add_module append apply bfloat16 buffers call_super_init
children clear compile cpu cuda double dump_patches eval extend extra_repr float forward get_buffer
get_extra_state get_parameter get_submodule half insert ipu items keys load_state_dict modules mtia
named_buffers named_children named_modules named_parameters parameters pop register_backward_hook
register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
register_full_backward_pre_hook register_load_state_dict_post_hook
register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory state_dict
to to_empty train training type update values xpu zero_grad""".split())


@dataclass
class Leaf:
    text: str  # a module constructor, e.g. nn.Conv2d(...)


@dataclass
class Call:
    cls: str  # a block class
    args: dict  # argument -> value


class Tree:
    """Children by name, in first-use order; a child is a Leaf, a Call or another Tree."""

    def __init__(self):
        self.children: dict[str, object] = {}

    def put(self, parts: list[str], child) -> None:
        tree = self
        for part in parts[:-1]:
            tree = tree.children.setdefault(part, Tree())
        tree.children[parts[-1]] = child

    def get(self, parts: list[str]):
        tree = self
        for part in parts:
            tree = tree.children[part]
        return tree

    @property
    def sequential(self) -> bool:
        return list(self.children) == [str(i) for i in range(len(self.children))]


def safe_attr(name: str, taken=()) -> bool:
    return (bool(_IDENT.fullmatch(name)) and not keyword.iskeyword(name)
            and not name.startswith("_") and name not in MODULE_ATTRS and name not in taken)


def reference(root: Tree, parts: list[str], taken=()) -> str:
    """The expression that reaches the module at `parts` from `self`."""
    text, tree = "self", root
    for depth, part in enumerate(parts):
        if tree.sequential:
            text += f"[{lit(int(part))}]"
        elif safe_attr(part, taken if depth == 0 else ()):
            text += f".{ident(part)}"
        elif depth == 0:
            text += f"._modules[{lit(part)}]"
        else:
            text += f"[{lit(part)}]"
        tree = tree.children[part] if isinstance(tree, Tree) else None
    return text


# -- constructor expressions ----------------------------------------------------------------------

@dataclass
class Group:
    """`open item, item, ... close`, written on one line when it fits, else one item a line."""
    open: str
    items: list
    close: str
    pack: bool = False  # when broken, fill lines with items rather than one item a line


def layout(doc, indent: int, column: int | None = None) -> str:
    """`doc` as text starting at `column` of a line indented by `indent`."""
    if isinstance(doc, str):
        return doc
    flat = _flat(doc)
    if (indent if column is None else column) + len(flat) <= WIDTH or not doc.items:
        return flat
    pad = " " * (indent + 4)
    if doc.pack and all(isinstance(item, str) for item in doc.items):
        lines, line = [], ""
        for item in doc.items:
            if line and len(pad) + len(line) + len(item) + 2 > WIDTH:
                lines.append(pad + line + ",")
                line = ""
            line = f"{line}, {item}" if line else item
        return "\n".join([doc.open, *lines, pad + line + doc.close])
    lines = [doc.open] + [pad + layout(item, indent + 4) + "," for item in doc.items]
    return "\n".join(lines) + "\n" + " " * indent + doc.close


def _flat(doc) -> str:
    if isinstance(doc, str):
        return doc
    return doc.open + ", ".join(_flat(i) for i in doc.items) + doc.close


def call_text(call: Call, index_args: dict | None = None):
    """`Cls(a=1, b=...)`; `index_args` gives expressions (over `i`) for some arguments."""
    index_args = index_args or {}
    parts = [f"{ident(k)}={index_args[k] if k in index_args else lit(v)}"
             for k, v in call.args.items()]
    return Group(f"{ident(call.cls)}(", parts, ")", pack=True)


def constructor(child):
    if isinstance(child, Leaf):
        return child.text
    if isinstance(child, Call):
        return call_text(child)
    return container(child)


def container(tree: Tree):
    entries = list(tree.children.items())
    if tree.sequential:
        parts = [_seq_part(run) for run in _runs(entries, numbered=False)]
        if len(parts) == 1 and isinstance(parts[0], str) and parts[0].startswith("*"):
            return Group("nn.Sequential(", [parts[0]], ")")
        return Group("nn.Sequential(", parts, ")")
    parts = [_dict_part(run) for run in _runs(entries, numbered=True)]
    if len(parts) == 1 and isinstance(parts[0], str) and parts[0].startswith("**"):
        return Group("nn.ModuleDict(", [parts[0][2:]], ")")
    return Group("nn.ModuleDict({", parts, "})")


def self_parts(tree: Tree) -> list:
    """The children of a Sequential class, for `super().__init__(...)`."""
    return [_seq_part(run) for run in _runs(list(tree.children.items()), numbered=False)]


def _seq_part(run):
    if isinstance(run, _Run):
        return f"*[{run.body()} for {run.var} in range({lit(run.count)})]"
    key, child = run
    return constructor(child)


def _dict_part(run):
    if isinstance(run, _Run):
        offset = f" + {lit(run.offset)}" if run.offset else ""
        key = f"{lit(run.stem)} + str(i{offset})"
        return f"**{{{key}: {run.body()} for i in range({lit(run.count)})}}"
    key, child = run
    doc = constructor(child)
    if isinstance(doc, Group):
        return Group(f"{lit(key)}: " + doc.open, doc.items, doc.close)
    return f"{lit(key)}: {doc}"


@dataclass
class _Run:
    first: Call
    count: int
    steps: dict  # argument -> (start, step) where it changes along the run
    stem: str = ""
    offset: int = 0

    @property
    def var(self) -> str:
        return "i" if self.steps or self.stem else "_"

    def body(self) -> str:
        exprs = {}
        for name, (start, step) in self.steps.items():
            term = "i" if step == 1 else f"{lit(step)} * i"
            exprs[name] = term if start == 0 else f"{lit(start)} + {term}"
        return _flat(call_text(self.first, exprs))


def _runs(entries, numbered: bool):
    """Entries, with each stretch of like calls replaced by a _Run."""
    out, i = [], 0
    while i < len(entries):
        n = 2  # entries[i:i + n - 1] make a run
        while i + n <= len(entries) and _continues(entries, i, n, numbered):
            n += 1
        run = _run(entries[i:i + n - 1], numbered) if n - 1 >= MIN_RUN else None
        if run is not None:
            out.append(run)
            i += run.count
        else:
            out.append(entries[i])
            i += 1
    return out


def _continues(entries, i: int, n: int, numbered: bool) -> bool:
    """True when entries[i + n - 1] extends the run that entries[i] and entries[i + 1] begin."""
    trio = [entries[i], entries[i + 1], entries[i + n - 1]]
    return _run(trio, numbered, n - 1) is not None


def _run(entries, numbered: bool, last: int | None = None) -> _Run | None:
    """The run these entries make; with `last`, the third entry stands at position `last`."""
    calls = [child for _, child in entries]
    positions = list(range(len(entries))) if last is None else [0, 1, last]
    if not all(isinstance(c, Call) for c in calls):
        return None
    first = calls[0]
    if any(c.cls != first.cls or list(c.args) != list(first.args) for c in calls):
        return None
    stem, offset = "", 0
    if numbered:
        keys = [_NUMBERED.fullmatch(k) for k, _ in entries]
        if not all(keys) or len({m.group(1) for m in keys}) != 1:
            return None
        numbers = [int(m.group(2)) for m in keys]
        if numbers != [numbers[0] + p for p in positions]:
            return None
        stem, offset = keys[0].group(1), numbers[0]
    steps = {}
    for name in first.args:
        values = [c.args[name] for c in calls]
        if all(type(v) is type(values[0]) and v == values[0] for v in values):
            continue
        found = progression(values, positions)
        if found is None:
            return None
        steps[name] = found
    return _Run(first, len(calls), steps, stem, offset)
