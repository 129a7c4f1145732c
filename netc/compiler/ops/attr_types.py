"""The types of IR attributes, and the plausible sizes of a network.

Each op declares the type of every attribute its resolve rule writes; `lint` checks a graph's
nodes against them before any backend sees the graph, whether the graph came from a spec or from
a file on disk. A type accepts only plain Python values (bool, int, finite float, a string from
a fixed set, lists of ints), so an attribute can never carry text into emitted source.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# Plausible upper bounds: far above any network in the literature, far below sizes that would
# exhaust memory before a single layer is built.
MAX_CHANNELS = 1 << 20  # channels, features, classes, groups
MAX_WINDOW = 1024  # kernel, stride, dilation
MAX_PAD = 1024
MAX_SPATIAL = 1 << 16  # an input's height or width
MAX_INPUT_ELEMENTS = 1 << 28  # C * H * W of one input sample
MAX_PARAMS = 1 << 34  # parameters of a whole network (17 billion)
MAX_NODE_ELEMENTS = 1 << 30  # values of one node's output for one sample (4 GiB in float32)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Int:
    lo: int = 0
    hi: int = MAX_CHANNELS

    def problem(self, value) -> str | None:
        if not _is_int(value):
            return f"expected a whole number, found {type(value).__name__} {value!r:.40}"
        if not self.lo <= value <= self.hi:
            return f"{value} is outside [{self.lo}, {self.hi:,}]"
        return None


@dataclass(frozen=True)
class Float:
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False

    def problem(self, value) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, found {type(value).__name__} {value!r:.40}"
        if not math.isfinite(value):
            return f"{value} is not a finite number"
        low_ok = value > self.lo if self.lo_open else value >= self.lo
        high_ok = value < self.hi if self.hi_open else value <= self.hi
        if not (low_ok and high_ok):
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            return f"{value} is outside {left}{self.lo}, {self.hi}{right}"
        return None


@dataclass(frozen=True)
class Bool:
    def problem(self, value) -> str | None:
        return None if isinstance(value, bool) else f"expected true or false, found {value!r:.40}"


@dataclass(frozen=True)
class Enum:
    values: tuple

    def problem(self, value) -> str | None:
        if any(type(value) is type(v) and value == v for v in self.values):
            return None
        return f"expected one of {', '.join(map(repr, self.values))}, found {value!r:.40}"


@dataclass(frozen=True)
class Ints:
    length: int
    lo: int = 0
    hi: int = MAX_WINDOW

    def problem(self, value) -> str | None:
        if not isinstance(value, list) or len(value) != self.length:
            return f"expected a list of {self.length} whole numbers, found {value!r:.40}"
        return next((p for p in map(Int(self.lo, self.hi).problem, value) if p), None)


CHANNELS = Int(1, MAX_CHANNELS)
FLAG = Bool()
PAIR = Ints(2, 1, MAX_WINDOW)
SIDES = Ints(4, 0, MAX_PAD)
PROBABILITY = Float(0.0, 1.0)
FINITE = Float()
