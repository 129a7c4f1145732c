"""Every layer a spec names must exist, whether or not expansion reaches it.

Expansion meets a layer only when its `when:` holds and its block is used, so a misspelt op in a
skipped layer or an unused block would pass unseen until someone flips a parameter. This pass
walks every body of the document (the network's, each block's, each combinator's) once, before
expansion, and names the first unknown op, block or combinator where it was written.
"""
from __future__ import annotations

from ..compiler.ops import REGISTRY
from .document import BLOCK_META
from .errors import SpecError, did_you_mean
from .loader import location_of
from .schema import COMBINATORS


def check_references(doc) -> None:
    known = {*REGISTRY, *COMBINATORS, *doc.blocks}
    walker = _Walker(known, doc.blocks)
    walker.items(doc.data["body"])
    for block in doc.blocks.values():
        walker.block(block.decl)


class _Walker:
    def __init__(self, known: set, blocks: dict):
        self.known, self.blocks = known, blocks

    def block(self, decl) -> None:
        for key, value in decl.items():
            if key == "body":
                self.items(value)
            elif key not in BLOCK_META:
                self.layer(key, value, location_of(decl, key))

    def items(self, value, loc=None) -> None:
        """A list of layers, or one layer where a single one may stand (`then: relu`), written
        at `loc`."""
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.item(item, location_of(value, i))
        elif value is not None:
            self.item(value, location_of(value) or loc)

    def item(self, item, loc) -> None:
        if isinstance(item, str):
            self.layer(item, None, loc)
        elif isinstance(item, dict) and len(item) == 1:
            key, args = next(iter(item.items()))
            self.layer(key, args, loc)

    def layer(self, key: str, args, loc) -> None:
        if key not in self.known:
            raise SpecError(f"unknown op or block '{key}'", loc, did_you_mean(key, self.known)
                            or "run `netc ops` for the list of ops; blocks are defined under "
                               "'blocks'")
        if key in COMBINATORS and isinstance(args, dict):
            for slot, value in args.items():
                walk = _SLOTS.get((key, slot))
                if walk:
                    walk(self, value, args, slot)


def _body(walker, value, args, slot):
    walker.items(value, location_of(args, slot))


def _nested_body(walker, value, args, slot):  # a shortcut or gate written {name, body}
    if isinstance(value, dict) and "body" in value:
        walker.items(value["body"], location_of(value, "body"))
    elif isinstance(value, list):
        walker.items(value, location_of(args, slot))


def _branches(walker, value, args, slot):
    for body in (value.values() if isinstance(value, dict) else value or []):
        walker.items(body)


def _rows(walker, value, args, slot):
    for i, row in enumerate(value or []):
        if isinstance(row, dict):  # a layer between the table's rows, as a paper lists pooling
            walker.item(row, location_of(value, i))


def _stage_block(walker, value, args, slot):
    if isinstance(value, str) and value not in walker.blocks:
        raise SpecError(f"unknown block '{value}'", location_of(args, slot),
                        did_you_mean(value, walker.blocks))


def _nodes(walker, value, args, slot):
    for node in value or []:
        if isinstance(node, dict):
            walker.items(node.get("body"), location_of(node, "body"))


_SLOTS = {
    ("seq", "body"): _body, ("residual", "body"): _body, ("residual", "then"): _body,
    ("residual", "shortcut"): _nested_body, ("parallel", "branches"): _branches,
    ("parallel", "then"): _body, ("highway", "body"): _body, ("highway", "gate"): _nested_body,
    ("repeat", "body"): _body, ("stages", "block"): _stage_block, ("stages", "rows"): _rows,
    ("stages", "between"): _body, ("dag", "nodes"): _nodes,
}
