"""The spec's JSON Schema (draft 2020-12), composed from the op registry and the combinators.

`schema.json` beside this file is this schema written out (`python -m netc.spec.schema --write`);
a test keeps the two equal, so the file users read is the one `validate` applies.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..compiler.ops import REGISTRY
from ..compiler.ops.attr_types import MAX_CHANNELS
from ..compiler.ops.schema_types import BOOL, EXPR, POS_INT, PROB, either
from .preprocess import SCHEMA as NORMALIZE_SCHEMA

SCHEMA_PATH = Path(__file__).with_name("schema.json")
INPUT_DIM = either({"type": "integer", "minimum": 1, "maximum": MAX_CHANNELS})
IDENT = r"^[A-Za-z_][A-Za-z0-9_]*(?![\s\S])"  # no trailing newline: Python's $ allows one
PART = r"^[A-Za-z0-9_]+(?![\s\S])"  # one part of a layer name: layer1.0.conv1
NAME = {"type": "string", "description": "a name; may use {expr} parts, e.g. layer{stage}"}
ITEMS = {"$ref": "#/$defs/items"}
MERGE = {"enum": ["add", "concat"]}
ONE_OR_MORE = {"anyOf": [ITEMS, {"$ref": "#/$defs/item"}]}


INPUTS = {"type": "array", "items": {"type": "string", "pattern": IDENT}, "minItems": 1,
          "description": "the block's inputs by name (a NASNet cell reads [x, p]): the first is "
                         "the one its body starts from and `in` describes; a dag in the body "
                         "reads any of them with `from:`, and `${p.channels}` is one's shape. "
                         "A dag node calls such a block with `from: [a, b]`"}


WHEN = {**BOOL, "description": "keep this layer only when true, e.g. ${t != 1}; a skipped "
                                 "layer takes no index in its list"}


# A block's own parameters are checked against its declaration when it is called (bind_params);
# the schema checks what every layer shares.
BLOCK_CALL = {"type": ["object", "null"], "properties": {"name": NAME, "when": WHEN}}


def _args(properties: dict, required=()) -> dict:
    return {"type": ["object", "null"], "properties": {"name": NAME, "when": WHEN, **properties},
            "required": list(required), "additionalProperties": False}


def _dag_merge() -> dict:
    """An op that reads a dag node's several inputs: its name, or `{op: {args}}`."""
    multi = sorted(name for name, op in REGISTRY.items() if op.arity != 1)
    return {"anyOf": [{"enum": multi}, {
        "type": "object", "minProperties": 1, "maxProperties": 1, "propertyNames": {"enum": multi},
        "properties": {name: {"$ref": f"#/$defs/args/{name}"} for name in multi}}]}


COMBINATORS = {
    "seq": _args({"body": ITEMS, "numbering": {
        "enum": ["nested", "flat"],
        "description": "flat: number every layer inside by its position in one list, as "
                       "nn.Sequential(*layers) does (torchvision's VGG features)"},
        "submodel": {**NAME, "description":
                     "the layers form one sub-model of this name (in the enclosing namespace) "
                     "where a backend nests models: Keras writes them as one keras.Sequential, "
                     "as keras.applications' ConvNeXt builds its stem, and its weight files "
                     "key them under it; layer names and PyTorch modules are unchanged"}},
        ["body"]),
    "residual": _args({
        "body": ITEMS,
        "shortcut": {"anyOf": [
            {"enum": ["identity", "zeropad", "none"]}, EXPR,
            _args({"type": {"anyOf": [{"enum": ["projection", "identity", "zeropad", "none"]}, EXPR]},
                   "when": {"enum": ["shape_changes", "always"]}, "body": ITEMS})]},
        "merge": MERGE, "drop_path": PROB, "drop_path_scale": {"enum": ["test", "train"]},
        "merge_order": {"enum": ["shortcut_first", "body_first"], "description":
                        "the order an add takes its operands in where a backend's layer order "
                        "follows it (Keras's, and so its weight files'); shortcut_first unless "
                        "given: keras.applications' ResNet writes Add()([shortcut, x]), its "
                        "Xception layers.add([x, residual])"},
        "then": ONE_OR_MORE}, ["body"]),
    "parallel": _args({
        "branches": {"anyOf": [{"type": "array", "items": ITEMS, "minItems": 1},
                               {"type": "object", "additionalProperties": ITEMS, "minProperties": 1}]},
        "merge": MERGE, "then": ONE_OR_MORE}, ["branches"]),
    "highway": _args({"body": ITEMS, "gate": {"anyOf": [ITEMS, _args({"body": ITEMS}, ["body"])]}},
                     ["body", "gate"]),
    "repeat": _args({"times": POS_INT, "body": ONE_OR_MORE}, ["times", "body"]),
    "stages": _args({
        "block": {"type": "string", "pattern": IDENT}, "block_name": NAME,
        "columns": {"type": "array", "items": {"type": "string", "pattern": IDENT}, "minItems": 1},
        "rows": {"type": "array", "minItems": 1, "items": {
            "anyOf": [{"type": "array"}, {"$ref": "#/$defs/item"}],
            "description": "a row of values, one per column, or a layer (a pooling row)"}},
        "first": {"type": "array", "items": {"type": "string"}},
        "args": {"type": "object"}, "between": {"$ref": "#/$defs/item"},
        "start": {"type": "integer"}}, ["block", "columns", "rows"]),
    "dag": _args({
        "nodes": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["name"],
            "properties": {"name": {"type": "string", "pattern": PART},
                           "from": {"anyOf": [{"type": "string"},
                                              {"type": "array", "items": {"type": "string"},
                                               "minItems": 1}]},
                           "merge": _dag_merge(), "body": ITEMS}}},
        "output": {"type": "string"},
        "node_namespaces": {"type": "boolean", "description":
                            "true (the default): a node's layers are named under the node "
                            "(up.conv); false: node names are handles only, as a Keras "
                            "functional model's tensors, each node's layers are named in the "
                            "dag's own namespace and a node's merge is named after the node "
                            "(keras.applications' NASNet: normal_add_1_0)"}}, ["nodes"]),
}

PARAM_TYPES = ["int", "float", "bool", "str", "list", "any"]
PARAM_DECLS = {"type": "object", "propertyNames": {"pattern": IDENT}, "additionalProperties": {
    "anyOf": [{"enum": PARAM_TYPES},
              {"type": "object", "properties": {"type": {"enum": PARAM_TYPES}, "default": {},
                                                "doc": {"type": "string"}},
               "additionalProperties": False},
              {"type": ["integer", "number", "boolean", "array"]}]}}


def _op_args(op) -> dict:
    return _args(op.args, op.required)


def _known() -> dict:
    """Every op and combinator with the schema of its arguments."""
    return {**{name: _op_args(op) for name, op in REGISTRY.items()}, **COMBINATORS}


def _known_refs() -> dict:
    return {name: {"$ref": f"#/$defs/args/{name}"} for name in _known()}


def _item() -> dict:
    known = _known_refs()
    return {
        "description": "a layer: an op, a block or a combinator, written `name` or `{name: {args}}`",
        "type": ["string", "object"],
        "if": {"type": "string"}, "then": {"pattern": IDENT},
        "else": {"minProperties": 1, "maxProperties": 1,
                 "properties": known, "additionalProperties": BLOCK_CALL},
    }


def build_schema() -> dict:
    defaults = {name: {"type": "object", "properties": op.args, "additionalProperties": False}
                for name, op in REGISTRY.items() if op.args}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://netc.dev/schema/spec-1.json",
        "title": "netc network spec, version 1",
        "type": "object",
        "required": ["netc", "input", "body"],
        "additionalProperties": False,
        "properties": {
            "netc": {"const": 1, "description": "spec language version"},
            "name": {"type": "string", "pattern": IDENT},
            "doc": {"type": "string"},
            "params": PARAM_DECLS,
            "input": {"type": "object", "required": ["shape"], "additionalProperties": False,
                      "properties": {"shape": {
                          "type": "array", "minItems": 1, "maxItems": 3, "items": INPUT_DIM,
                          "not": {"minItems": 2, "maxItems": 2,
                                  "description": "2 entries: an input is [features] or "
                                                 "[channels, height, width]"}},
                                     "name": {"type": "string", "pattern": IDENT},
                                     "normalize": NORMALIZE_SCHEMA}},
            "include": {"type": "array", "items": {"type": "string"}},
            "defaults": {"$ref": "#/$defs/defaults"},
            "blocks": {"$ref": "#/$defs/blocks"},
            "body": ITEMS,
            "outputs": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                        "description": "the network's outputs, in order: layer or block names "
                                       "(layer3 is its last layer); the default is the last layer"},
        },
        "$defs": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
            "args": _known(),
            "item": _item(),
            "defaults": {"type": "object", "properties": defaults, "additionalProperties": False},
            "blocks": {"type": "object", "propertyNames": {"pattern": IDENT},
                       "additionalProperties": {"$ref": "#/$defs/block"}},
            # A block is defined by `body:`, an op, a combinator or another block (whose
            # arguments bind_params checks): each form is validated as it would be in a body.
            "block": {"type": "object", "minProperties": 1, "properties": {
                "params": PARAM_DECLS, "defaults": {"$ref": "#/$defs/defaults"},
                "doc": {"type": "string"}, "body": ITEMS, "inputs": INPUTS, **_known_refs()},
                "additionalProperties": BLOCK_CALL,
                "propertyNames": {"pattern": IDENT}},
        },
    }


LIBRARY_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object", "additionalProperties": False,
    "properties": {"netc": {"const": 1}, "doc": {"type": "string"},
                   "include": {"type": "array", "items": {"type": "string"}},
                   "defaults": {"$ref": "#/$defs/defaults"}, "blocks": {"$ref": "#/$defs/blocks"}},
}


def library_schema() -> dict:
    return {**LIBRARY_SCHEMA, "$defs": build_schema()["$defs"]}


def schema_text() -> str:
    return json.dumps(build_schema(), indent=1) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        SCHEMA_PATH.write_text(schema_text())
    else:
        sys.stdout.write(schema_text())
