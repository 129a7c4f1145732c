"""Safe YAML loading that remembers where every value came from.

PyYAML's composer gives nodes with marks; we construct plain values from them ourselves so that
only data tags are accepted, duplicate keys are errors (PyYAML silently keeps the last one), and
alias expansion is bounded (a "billion laughs" document fails fast instead of eating memory).
"""
from __future__ import annotations

import math
import re

import yaml

from .errors import Location, SpecError
from .expressions import MAX_MAGNITUDE

MAX_NODES = 5_000  # values constructed per document, aliases counted each time they expand
MAX_DEPTH = 100  # nesting of mappings and lists; a real spec needs about 15
MAX_NUMBER_TEXT = 40  # characters of one number: base-60 `1:2:3:...` is quadratic to convert

_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")  # 1e-5: a string in YAML 1.1
_DATA_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("map", "seq", "str", "int", "float", "bool", "null", "merge")
}


class LocDict(dict):
    """A mapping that knows its own location and those of its keys and values."""

    loc: Location
    key_locs: dict
    value_locs: dict


class LocList(list):
    loc: Location
    item_locs: list


def location_of(container, key=None) -> Location | None:
    """Where `container[key]` (or the container itself) was written, when known."""
    if key is None:
        return getattr(container, "loc", None)
    if isinstance(container, LocDict):
        return container.value_locs.get(key, container.loc)
    if isinstance(container, LocList) and isinstance(key, int) and 0 <= key < len(container):
        return container.item_locs[key]
    return getattr(container, "loc", None)


def key_location(container, key) -> Location | None:
    if isinstance(container, LocDict):
        return container.key_locs.get(key, container.loc)
    return location_of(container)


def load_yaml(text: str, filename: str):
    """Parse `text` into LocDict/LocList/scalars; every failure is a located SpecError."""
    return load_sized(text, filename)[0]


def load_sized(text: str, filename: str, used: int = 0):
    """`load_yaml`, with the number of values built. `used` values were built already from
    other files: a spec and its includes share one budget of MAX_NODES."""
    where = _Where(filename)
    node = _compose(text, where)
    if node is None:
        raise SpecError("the file is empty; a spec needs at least 'netc', 'input' and 'body'",
                        Location(filename, 1, 1))
    size = _check_expansion(node, where, used)
    return _Builder(where).build(node), size


def load_value(text: str, filename: str, column: int = 1):
    """One value written outside a file (`--set NAME=VALUE`), read by the same rules as a spec;
    `column` is where `text` starts on its line. Empty text is null, as `key:` is in a file."""
    where = _Where(filename, column - 1)
    node = _compose(text, where)
    if node is None:
        return None
    _check_expansion(node, where)
    return _Builder(where).build(node)


def _compose(text: str, where: "_Where"):
    """The node tree of `text`: by libyaml when it is installed (ten times faster), by PyYAML
    when it is not, and by PyYAML whenever libyaml finds a problem, so that every syntax error
    is worded and located one way."""
    if _LIBYAML is not None:
        try:
            _check_written_depth(text, where)  # libyaml's composer recurses in C
            return yaml.compose(text, Loader=_LIBYAML)
        except yaml.MarkedYAMLError as exc:
            if "maximum nesting depth" in (exc.problem or ""):  # libyaml stops at 1,000 levels
                raise SpecError(f"the document nests deeper than {MAX_DEPTH} levels",
                                where(exc.problem_mark)) from None
        except yaml.YAMLError:
            pass
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = where(mark) if mark else where.start
        problem = exc.problem or exc.context or "malformed YAML"
        hint = next((h for clue, h in _SYNTAX_HINTS if clue in problem), None)
        raise SpecError(f"YAML syntax: {problem}", loc, hint) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML syntax: {exc}", where.start) from None
    except RecursionError:
        raise SpecError(f"the document nests too deeply for the YAML reader (netc allows "
                        f"{MAX_DEPTH} levels)", where.start) from None


def _check_written_depth(text: str, where: "_Where") -> None:
    """Refuse nesting past MAX_DEPTH from libyaml's event stream, which needs no recursion."""
    depth = 0
    for event in yaml.parse(text, Loader=_LIBYAML):
        if isinstance(event, _NODE_EVENTS) and depth > MAX_DEPTH:
            raise SpecError(f"the document nests deeper than {MAX_DEPTH} levels",
                            where(event.start_mark))
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


_LIBYAML = getattr(yaml, "CSafeLoader", None)
_NODE_EVENTS = (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)


def _children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return node.value if isinstance(node, yaml.SequenceNode) else []


def _check_expansion(root, where: "_Where", used: int = 0) -> int:
    """Refuse, before building anything, a document that aliases expand past MAX_NODES values
    (less `used`), that an alias makes recursive, or that nests past MAX_DEPTH. Sizes are memoised
    per node (an alias is the anchored node itself), so a billion-laughs document costs only its
    length. Returns the number of values the document builds."""
    sizes: dict[int, int] = {}
    heights: dict[int, int] = {}  # levels below a node, so an alias placed deep is caught too
    open_nodes: set[int] = set()

    def size(node, depth: int, parent=None) -> int:
        key = id(node)
        if key in sizes:
            if depth + heights[key] > MAX_DEPTH:
                raise SpecError(f"the document nests deeper than {MAX_DEPTH} levels through the "
                                "aliases used here", where(parent.start_mark))
            return sizes[key]
        if key in open_nodes:
            raise SpecError("an alias refers to a value that contains it (a recursive alias)",
                            where(node.start_mark), hint="a spec is a tree; remove the alias")
        if depth > MAX_DEPTH:
            raise SpecError(f"the document nests deeper than {MAX_DEPTH} levels",
                            where(node.start_mark))
        open_nodes.add(key)
        children = _children(node)
        sizes[key] = 1 + sum(size(child, depth + 1, node) for child in children)
        heights[key] = max((1 + heights[id(child)] for child in children), default=0)
        open_nodes.discard(key)
        return sizes[key]

    limit = MAX_NODES - used
    total = size(root, 0)
    if total <= limit:
        return total
    node = root  # point at the innermost value that is too big on its own
    while (child := next((c for c in _children(node) if sizes[id(c)] > limit), None)):
        node = child
    cause = ": the aliases used here nest too deep" if len(sizes) <= limit else ""
    whole = "the spec with its includes" if used else "the document"
    raise SpecError(f"{whole} expands to more than {MAX_NODES:,} values{cause}",
                    where(node.start_mark),
                    hint="write the repetition with 'repeat' or a stage table instead")


# PyYAML's problems name parser states; these say what usually causes each.
_SYNTAX_HINTS = (
    ("'\\t'", "YAML indents with spaces only; replace the tab"),
    ("<block end>", "check this line's indentation against the lines above it"),
    ("mapping values are not allowed", "check the indentation, or quote a value that holds ': '"),
    ("expected ',' or ']'", "a '[' before this point is not closed"),
    ("expected ',' or '}'", "a '{' before this point is not closed"),
    ("another document", "a spec is one YAML document; remove the '---' and what follows"),
)


class _Where:
    """Turns PyYAML marks into Locations; text that starts mid-line shifts its first line."""

    def __init__(self, filename: str, indent: int = 0):
        self.filename, self.indent = filename, indent
        self.start = Location(filename, 1, 1 + indent)

    def __call__(self, mark) -> Location:
        shift = self.indent if mark.line == 0 else 0
        return Location(self.filename, mark.line + 1, mark.column + 1 + shift)


class _Builder:
    def __init__(self, where: _Where):
        self.where = where

    def build(self, node):
        loc = self.where(node.start_mark)
        if node.tag not in _DATA_TAGS and not node.tag.startswith("tag:yaml.org,2002:timestamp"):
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise SpecError(f"YAML tag '{tag}' is refused: a spec is plain data and may not "
                            "build Python objects", loc,
                            hint="remove the tag; write the value as a plain mapping, list or scalar")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            out = LocList(self.build(child) for child in node.value)
            out.loc = loc
            out.item_locs = [self.where(child.start_mark) for child in node.value]
            return out
        return self._scalar(node, loc)

    def _mapping(self, node, loc):
        out = LocDict()
        out.loc, out.key_locs, out.value_locs = loc, {}, {}
        merges = []  # applied last: a key written in the mapping overrides a merged one
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merges.append(value_node)
                continue
            key = self.build(key_node)
            key_loc = self.where(key_node.start_mark)
            if isinstance(key, (dict, list)):
                raise SpecError("a mapping key must be a scalar", key_loc)
            if key in out.key_locs:
                first = out.key_locs[key]
                raise SpecError(f"duplicate key '{key}' (first given at line {first.line})", key_loc,
                                hint="YAML keeps only one of them; remove or rename the other")
            out[key] = self.build(value_node)
            out.key_locs[key] = key_loc
            out.value_locs[key] = self.where(value_node.start_mark)
        for value_node in merges:
            self._merge(out, value_node)
        return out

    def _merge(self, out, value_node):
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            merged = self.build(source)
            if not isinstance(merged, LocDict):
                raise SpecError("'<<' merges only mappings", self.where(source.start_mark))
            for key, value in merged.items():
                if key not in out:
                    out[key] = value
                    out.key_locs[key] = merged.key_locs[key]
                    out.value_locs[key] = merged.value_locs[key]

    def _scalar(self, node, loc):
        if node.tag.startswith("tag:yaml.org,2002:timestamp"):
            return node.value  # keep dates as text; specs have no use for datetime objects
        plain = not node.style  # PyYAML marks a plain scalar None, libyaml ''
        numeric = node.tag in _NUMBER_TAGS or (plain and _FLOAT.match(node.value))
        if numeric and len(node.value) > MAX_NUMBER_TEXT:
            raise SpecError(f"a number of {len(node.value):,} characters is past netc's limit of "
                            f"{MAX_NUMBER_TEXT}", loc, _NUMBER_HINT)
        if numeric and plain and _SURPRISING.match(node.value):
            raise SpecError(f"'{node.value}' is a YAML 1.1 octal or base-60 number "
                            f"({_SCALAR.construct_object(node)!r}), which is rarely what was meant",
                            loc, "write it in decimal without a leading zero (010 is 8 in YAML "
                                 "1.1, 1:30 is 90), or quote it to mean text")
        try:
            value = yaml.SafeLoader.construct_scalar(_SCALAR, node)
            value = _SCALAR.construct_object(node) if node.tag != "tag:yaml.org,2002:str" else value
        except (yaml.YAMLError, ValueError) as exc:
            raise SpecError(f"bad scalar: {exc}", loc) from None
        if isinstance(value, str) and numeric:
            value = float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            _check_number(value, loc)
        return value


def _check_number(value, loc) -> None:
    if not math.isfinite(value):
        raise SpecError(f"{value} is not a finite number", loc,
                        "a size, a rate or a constant must be a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise SpecError(f"{value:.6g} is past netc's limit of {MAX_MAGNITUDE:.0e} for a number",
                        loc, _NUMBER_HINT)


_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_SURPRISING = re.compile(r"[-+]?(0[0-7_]+|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)\Z")
_NUMBER_HINT = "no network size or rate is that large; check the number"


_SCALAR = yaml.SafeLoader("")
