"""Apply the JSON Schema and turn its first error into a located, readable SpecError."""
from __future__ import annotations

import json
import math
from functools import lru_cache

import jsonschema
from jsonschema.exceptions import best_match

from .errors import Location, SpecError, did_you_mean
from .loader import key_location, location_of
from ..compiler.ops.schema_types import EXPR
from ..plugins import LOADED
from .schema import SCHEMA_PATH, build_schema, library_schema


def _is_integer(checker, value) -> bool:
    # JSON Schema counts 10.0 as an integer; a width or a kernel written 10.0 or 1e5 is a slip.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(checker, value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))  # NaN and infinities are no size, rate or epsilon


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_integer, "number": _is_number}))


@lru_cache(maxsize=None)
def _validator(kind: str):
    if kind == "spec" and LOADED:  # plug-in ops: the schema composed from the live registry
        return _Validator(build_schema())
    schema = json.loads(SCHEMA_PATH.read_text()) if kind == "spec" else library_schema()
    return _Validator(schema)


def check_schema(doc, filename: str, kind: str = "spec") -> None:
    """Raise the most relevant schema violation of `doc` as a SpecError at its location."""
    if not isinstance(doc, dict):
        raise SpecError(f"a spec must be a mapping at the top level, found {_found(doc)}",
                        location_of(doc) or Location(filename, 1, 1))
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
    hint = did_you_mean(bad, allowed) or (f"allowed: {', '.join(sorted(allowed))}" if allowed else None)
    if not error.path:
        message = f"unknown top-level key '{bad}'"
    elif key == "defaults":
        message = f"defaults: '{bad}' is not an op with arguments"
    else:
        message = f"unknown argument '{bad}'" + (f" for {key}" if isinstance(key, str) else "")
    return SpecError(message, key_location(node, bad), hint)


def _required(error, node, key, loc):
    missing = error.message.split("'")[1] if "'" in error.message else "?"
    if not error.path:
        return SpecError(f"the spec is missing the required top-level key '{missing}'", loc,
                         "a spec needs at least 'netc', 'input' and 'body'")
    owner = f"{key}" if isinstance(key, str) else "this item"
    return SpecError(f"{owner} is missing the required argument '{missing}'", loc)


def _too_many(error, node, key, loc):
    keys = ", ".join(map(str, node))
    return SpecError(f"a layer is a mapping with exactly one key (its op, block or combinator); "
                     f"found {keys}", loc, hint="indent the arguments under the layer's name, e.g. "
                     "`- conv2d: {out: 64, kernel: 3}`")


def _type(error, node, key, loc):
    expected = error.schema.get("description") or describe(error.schema)
    owner = f"'{key}'" if isinstance(key, str) else "this item"
    return SpecError(f"{owner}: expected {expected}, found {_found(node)}", loc)


def _any_of(error, node, key, loc):
    # An argument that accepts "a literal or a $ expression": name what was accepted.
    deeper = [e for e in error.context if e.path]
    if deeper:
        return _to_spec_error_at(best_match(deeper, key=_relevance), node, key, loc)
    owner = f"'{key}'" if isinstance(key, str) else "this item"
    closest = best_match([error])  # descends into the option whose type matches
    if closest.validator in _BOUND_TEXT:  # the right kind of value, out of range
        return SpecError(f"{owner}: {_bound_text(closest)}", loc)
    choices = [c for s in error.schema["anyOf"] for c in s.get("enum", [])]
    hint = did_you_mean(node, choices) if isinstance(node, str) and choices else None
    return SpecError(f"{owner}: expected {describe(error.schema)}, found {_found(node)}", loc, hint)


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


_BOUND_TEXT = {
    "minimum": lambda e: f"must be at least {e.validator_value}",
    "maximum": lambda e: f"must be at most {e.validator_value}",
    "exclusiveMinimum": lambda e: f"must be more than {e.validator_value}",
    "exclusiveMaximum": lambda e: f"must be less than {e.validator_value}",
    "minItems": lambda e: f"expected at least {e.validator_value} items, found {len(e.instance)}",
    "maxItems": lambda e: f"expected at most {e.validator_value} items, found {len(e.instance)}",
}


def _bound_text(error) -> str:
    text = _BOUND_TEXT[error.validator](error)
    return text if "items" in error.validator.lower() else f"{text}, found {error.instance!r}"


_BOUND_HINTS = {"shape": "an input shape is [channels, height, width] or [features], "
                         "without the batch dimension"}


def _bounds(error, node, key, loc):
    owner = f"'{key}'" if isinstance(key, str) else "this value"
    text = _bound_text(error) if error.validator in _BOUND_TEXT else error.message
    return SpecError(f"{owner}: {text}", loc, _BOUND_HINTS.get(key))


def _not(error, node, key, loc):
    owner = f"'{key}'" if isinstance(key, str) else "this value"
    return SpecError(f"{owner} may not have {error.validator_value['description']}", loc)


def _empty(error, node, key, loc):
    if isinstance(key, str):
        return SpecError(f"'{key}' must not be empty", loc)
    return SpecError("an empty mapping is not a layer; write an op, a block or a combinator", loc,
                     "e.g. `- relu` or `- conv2d: {out: 64, kernel: 3}`")


_TYPE_WORDS = {"array": "a list", "object": "a mapping", "integer": "an integer",
               "number": "a number", "string": "a string", "boolean": "a boolean (true or false)",
               "null": "nothing"}


def describe(schema: dict) -> str:
    """What a schema accepts, in a user's words ("an integer or a ${...} expression")."""
    if "description" in schema and "anyOf" not in schema:
        return schema["description"]
    if "anyOf" in schema:
        words = [describe(s) for s in schema["anyOf"]]
        return " or ".join(dict.fromkeys(words))  # PAIR lists "a list" twice: say it once
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    kind = schema.get("type", "a value")
    kinds = kind if isinstance(kind, list) else [kind]
    return " or ".join(_TYPE_WORDS.get(k, k) for k in kinds)


def _found(value) -> str:
    shown = _show(value)
    return f"{_kind(value)} {shown}" if shown else _kind(value)


@lru_cache(maxsize=None)
def _arg_validator(schema_text: str):
    return _Validator(json.loads(schema_text))


def value_problem(schema: dict, value) -> str | None:
    """Why a computed `value` does not satisfy an argument's `schema`, in words; None if it does."""
    errors = list(_arg_validator(json.dumps(schema, sort_keys=True)).iter_errors(value))
    if not errors:
        return None
    closest = best_match(errors)
    if closest.validator in _BOUND_TEXT:
        return _BOUND_TEXT[closest.validator](closest)
    literal = [s for s in schema.get("anyOf", [schema]) if s is not EXPR]
    return f"expected {' or '.join(dict.fromkeys(describe(s) for s in literal))}"


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
    "minProperties": _empty, "not": _not,
}
