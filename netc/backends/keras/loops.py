"""Calls of block functions, and the `for` loops that stand for runs of like calls.

A run is at least `MIN_RUN` consecutive child instances called through one function with the same
arguments, each reading the one before it (and nothing else reading that), named with one stem
and consecutive numbers (`conv2-block2`, `conv2-block3`, ...), whose argument values are constant
or step evenly along the run: `for i in range(2, 5): x = block(x, filters=64, name=... + str(i))`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..generalise import Argument, progression
from ..render import ident, lit

MIN_RUN = 3
_NUMBERED = re.compile(r"(.*?)([1-9][0-9]*|0)")


@dataclass
class Call:
    function: str
    args: list[tuple[Argument, object]]  # each argument and its value for this instance
    top_level: bool  # a call in build_model leaves out arguments at their defaults

    def shown(self, argument: Argument, value) -> bool:
        return not (self.top_level and argument.has_default and _same(value, argument.default))

    def text(self, source: str, name: str, exprs: dict | None = None) -> str:
        exprs = exprs or {}
        parts = [source] + [f"{ident(a.name)}={exprs[a.name] if a.name in exprs else lit(v)}"
                            for a, v in self.args if a.name in exprs or self.shown(a, v)]
        return f"{ident(self.function)}({', '.join(parts + ['name=' + name])})"


def find_run(items, k: int, calls: dict, last: dict) -> list | None:
    """The items k, k+1, ... that make one run, or None."""
    first = items[k]
    if first.instance is None or len(first.inputs) != 1:
        return None
    head = calls[first.instance.name]
    stem = _NUMBERED.fullmatch(first.instance.name)
    if stem is None:
        return None
    run = [first]
    for item in items[k + 1:]:
        prev = run[-1]
        if item.instance is None or item.inputs != [prev.output] \
                or last.get(prev.output) != k + len(run):
            break
        call = calls[item.instance.name]
        match = _NUMBERED.fullmatch(item.instance.name)
        if call.function != head.function or match is None or match.group(1) != stem.group(1) \
                or int(match.group(2)) != int(stem.group(2)) + len(run):
            break
        if _steps([calls[r.instance.name] for r in run] + [call]) is None:
            break
        run.append(item)
    return run if len(run) >= MIN_RUN else None


def _steps(calls: list[Call]) -> dict | None:
    """argument name -> (start, step) for the arguments that change along the calls."""
    steps = {}
    for j, (argument, _) in enumerate(calls[0].args):
        values = [c.args[j][1] for c in calls]
        if all(_same(v, values[0]) for v in values):
            continue
        found = progression(values)
        if found is None or not all(isinstance(v, int) and not isinstance(v, bool)
                                    for v in values):
            return None
        steps[argument.name] = found
    return steps


def run_lines(run, target: str, calls: list[Call], names: list[str]) -> list[str]:
    """`for i in range(a, b):` and the call it repeats, assigning to `target`."""
    stem, number = _NUMBERED.fullmatch(names[0]).groups()
    first = int(number)
    exprs = {}
    for name, (start, step) in _steps(calls).items():
        offset = start - step * first  # the value at i == 0
        term = "i" if step == 1 else f"{lit(step)} * i"
        exprs[name] = term if offset == 0 else f"{lit(offset)} + {term}"
    call = calls[0].text(target, f"{lit(stem)} + str(i)", exprs)
    bounds = lit(len(run)) if first == 0 else f"{lit(first)}, {lit(first + len(run))}"
    return [f"for i in range({bounds}):", f"    {target} = {call}"]


def _same(a, b) -> bool:
    return type(a) is type(b) and a == b
