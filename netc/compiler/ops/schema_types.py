"""JSON Schema fragments for op arguments: each literal type also accepts a `$` expression."""

EXPR = {"type": "string", "pattern": r"^\$", "description": "a ${...} expression"}


def either(*types: dict) -> dict:
    return {"anyOf": [*types, EXPR]}


INT = either({"type": "integer"})
POS_INT = either({"type": "integer", "minimum": 1})
NONNEG_INT = either({"type": "integer", "minimum": 0})
NUMBER = either({"type": "number"})
PROB = either({"type": "number", "minimum": 0, "maximum": 1})
BOOL = either({"type": "boolean"})
PAIR = either({"type": "integer", "minimum": 1},
              {"type": "array", "items": POS_INT, "minItems": 2, "maxItems": 2})
PADDING = either({"type": "integer", "minimum": 0},
                 {"type": "array", "items": NONNEG_INT, "minItems": 2, "maxItems": 2},
                 {"type": "array", "items": NONNEG_INT, "minItems": 4, "maxItems": 4},
                 {"enum": ["same", "valid"]})
