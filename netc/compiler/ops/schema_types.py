"""JSON Schema fragments for op arguments: each literal type also accepts a `$` expression."""
from .attr_types import MAX_CHANNELS, MAX_PAD, MAX_WINDOW

EXPR = {"type": "string", "pattern": r"^\$", "description": "a ${...} expression"}


def either(*types: dict) -> dict:
    return {"anyOf": [*types, EXPR]}


def _int(lo: int, hi: int) -> dict:
    return {"type": "integer", "minimum": lo, "maximum": hi}


INT = either({"type": "integer"})
POS_INT = either({"type": "integer", "minimum": 1})
NONNEG_INT = either({"type": "integer", "minimum": 0})
CHANNELS_ARG = either(_int(1, MAX_CHANNELS))
NUMBER = either({"type": "number"})
PROB = either({"type": "number", "minimum": 0, "maximum": 1})
EPS = either({"type": "number", "exclusiveMinimum": 0, "maximum": 1})
MOMENTUM = PROB
BOOL = either({"type": "boolean"})
_WINDOW = either(_int(1, MAX_WINDOW))
PAIR = either(_int(1, MAX_WINDOW),
              {"type": "array", "items": _WINDOW, "minItems": 2, "maxItems": 2,
               "description": "a list of 2 values [height, width]"})
_SIDE = either(_int(0, MAX_PAD))
_TWO_SIDES = {"type": "array", "items": _SIDE, "minItems": 2, "maxItems": 2,
              "description": "a list of 2 values [vertical, horizontal]"}
_FOUR_SIDES = {"type": "array", "items": _SIDE, "minItems": 4, "maxItems": 4,
               "description": "a list of 4 values [top, bottom, left, right]"}
PADDING = either(_int(0, MAX_PAD), _TWO_SIDES, _FOUR_SIDES, {"enum": ["same", "valid"]})
SIDES = either(_int(0, MAX_PAD),
               {"type": "array", "items": _SIDE, "minItems": 1, "maxItems": 1,
                "description": "a list of 1 value"}, _TWO_SIDES, _FOUR_SIDES)
