"""Apply the JSON Schema and turn its first error into a located, readable SpecError."""
from __future__ import annotations

import json
from functools import lru_cache

import jsonschema
from jsonschema.exceptions import best_match

from .errors import SpecError, did_you_mean
from .loader import key_location, location_of
from .schema import SCHEMA_PATH, library_schema


@lru_cache(maxsize=None)
def _validator(kind: str):
    schema = json.loads(SCHEMA_PATH.read_text()) if kind == "spec" else library_schema()
    return jsonschema.Draft202012Validator(schema)


def check_schema(doc, filename: str, kind: str = "spec") -> None:
    """Raise the most relevant schema violation of `doc` as a SpecError at its location."""
    if not isinstance(doc, dict):
        raise SpecError(f"a spec must be a mapping at the top level, found {_kind(doc)}",
                        location_of(doc))
    errors = list(_validator(kind).iter_errors(doc))
    if not errors:
        return
    error = best_match(errors, key=_relevance)
    raise _to_spec_error(error, doc)


_WEAK = ("anyOf", "oneOf", "allOf", "if", "then", "else")
_PRIORITY = {"additionalProperties": 3, "maxProperties": 3, "required": 2}


def _relevance(error):
    # The most specific problem first: deepest in the document, a named argument before a
    # summary such as "not valid under any of the given schemas".
    return (len(error.path), error.validator not in _WEAK, _PRIORITY.get(error.validator, 1))


def _container_at(doc, path):
    node, parent, key = doc, None, None
    for key_ in path:
        parent, key = node, key_
        node = node[key_]
    return node, parent, key


def _to_spec_error(error, doc) -> SpecError:
    node, parent, key = _container_at(doc, list(error.path))
    loc = location_of(parent, key) if parent is not None else location_of(doc)
    where = f"'{key}'" if isinstance(key, str) else ("this item" if key is not None else "the spec")
    handler = _HANDLERS.get(error.validator)
    if handler:
        return handler(error, node, key, loc)
    return SpecError(f"{where}: {error.message}", loc)


def _additional(error, node, key, loc):
    allowed = set(error.schema.get("properties", {}))
    unknown = [k for k in node if k not in allowed]
    bad = unknown[0] if unknown else "?"
    owner = f" for {key}" if isinstance(key, str) else ""
    hint = did_you_mean(bad, allowed) or (f"allowed: {', '.join(sorted(allowed))}" if allowed else None)
    return SpecError(f"unknown argument '{bad}'{owner}", key_location(node, bad), hint)


def _required(error, node, key, loc):
    missing = error.message.split("'")[1] if "'" in error.message else "?"
    owner = f"{key}" if isinstance(key, str) else "this item"
    return SpecError(f"{owner} is missing the required argument '{missing}'", loc)


def _too_many(error, node, key, loc):
    keys = ", ".join(map(str, node))
    return SpecError(f"a layer is a mapping with exactly one key (its op, block or combinator); "
                     f"found {keys}", loc, hint="indent the arguments under the layer's name, e.g. "
                     "`- conv2d: {out: 64, kernel: 3}`")


def _type(error, node, key, loc):
    expected = error.schema.get("description") or _describe(error.schema)
    owner = f"'{key}'" if isinstance(key, str) else "this item"
    return SpecError(f"{owner}: expected {expected}, found {_kind(node)} {_show(node)}", loc)


def _any_of(error, node, key, loc):
    # An argument that accepts "a literal or a $ expression": name what was accepted.
    options = [s.get("description") or _describe(s) for s in error.schema["anyOf"]]
    deeper = [e for e in error.context if e.path]
    if deeper:
        return _to_spec_error_at(best_match(deeper, key=_relevance), node, key, loc)
    owner = f"'{key}'" if isinstance(key, str) else "this item"
    return SpecError(f"{owner}: expected {' or '.join(options)}, found {_kind(node)} {_show(node)}", loc)


def _to_spec_error_at(error, node, key, loc):
    inner, parent, inner_key = _container_at(node, list(error.path))
    inner_loc = location_of(parent, inner_key) if parent is not None else loc
    handler = _HANDLERS.get(error.validator)
    if handler:
        return handler(error, inner, inner_key, inner_loc)
    return SpecError(error.message, inner_loc)


def _enum(error, node, key, loc):
    choices = error.schema["enum"]
    owner = f"'{key}'" if isinstance(key, str) else "this value"
    return SpecError(f"{owner}: expected one of {', '.join(map(str, choices))}, found {_show(node)}",
                     loc, did_you_mean(node, choices))


def _const(error, node, key, loc):
    return SpecError(f"'{key}' must be {error.schema['const']!r}, found {_show(node)}", loc,
                     "this netc reads spec language version 1")


def _bounds(error, node, key, loc):
    owner = f"'{key}'" if isinstance(key, str) else "this value"
    return SpecError(f"{owner}: {error.message}", loc)


def _describe(schema: dict) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    kind = schema.get("type", "a value")
    kinds = kind if isinstance(kind, list) else [kind]
    return " or ".join(f"{'an' if k[0] in 'aeio' else 'a'} {k}" for k in kinds)


def _kind(value) -> str:
    return {dict: "a mapping", list: "a list", str: "the string", bool: "the boolean",
            int: "the integer", float: "the number", type(None): "nothing"}.get(
        next((t for t in (bool, dict, list, str, int, float, type(None)) if isinstance(value, t)),
             object), type(value).__name__)


def _show(value) -> str:
    if isinstance(value, (dict, list)) or value is None:
        return ""
    return repr(value)


_HANDLERS = {
    "additionalProperties": _additional, "required": _required, "maxProperties": _too_many,
    "type": _type, "anyOf": _any_of, "enum": _enum, "const": _const, "minimum": _bounds,
    "maximum": _bounds, "minItems": _bounds, "maxItems": _bounds, "pattern": _bounds,
    "minProperties": _bounds,
}
