"""Located YAML: plain values that remember file:line:col, and the documents it refuses."""
from __future__ import annotations

import re
import time

import pytest

from netc.spec import loader
from netc.spec.errors import Location, SpecError
from netc.spec.loader import (MAX_NODES, LocDict, LocList, key_location, load_value, load_yaml,
                              location_of)

TEXT = """\
netc: 1
input: {shape: [3, 224, 224]}
body:
  - conv2d: {out: 64, kernel: 7}
  - relu
eps: 1e-5
when: 2024-01-02
"""


def test_values_and_their_locations():
    doc = load_yaml(TEXT, "net.yaml")
    assert isinstance(doc, LocDict) and isinstance(doc["body"], LocList)
    assert doc["input"]["shape"] == [3, 224, 224]
    assert location_of(doc) == Location("net.yaml", 1, 1)
    assert key_location(doc, "body") == Location("net.yaml", 3, 1)
    assert location_of(doc, "input") == Location("net.yaml", 2, 8)
    assert location_of(doc["input"]["shape"], 1) == Location("net.yaml", 2, 20)
    body = doc["body"]
    assert location_of(body, 0) == Location("net.yaml", 4, 5)
    assert location_of(body, 1) == Location("net.yaml", 5, 5)
    conv = body[0]["conv2d"]
    assert key_location(conv, "kernel") == Location("net.yaml", 4, 23)
    assert location_of(conv, "kernel") == Location("net.yaml", 4, 31)


def test_scalars():
    doc = load_yaml(TEXT, "net.yaml")
    assert doc["eps"] == 1e-5 and isinstance(doc["eps"], float)  # YAML 1.1 reads 1e-5 as text
    assert doc["when"] == "2024-01-02"  # dates stay text
    assert load_yaml("a: '1e-5'", "q.yaml")["a"] == "1e-5"  # quoted: the user meant text
    assert load_yaml("a: [yes, true, null, 0x10]", "q.yaml")["a"] == [True, True, None, 16]


def test_merge_keys_and_small_aliases_expand():
    doc = load_yaml("base: &b {out: 8, kernel: 3}\nconv: {<<: *b, kernel: 5}\ntwice: [*b, *b]\n",
                    "m.yaml")
    assert doc["conv"] == {"out": 8, "kernel": 5}
    assert key_location(doc["conv"], "out") == Location("m.yaml", 1, 11)  # where it was written
    assert doc["twice"] == [{"out": 8, "kernel": 3}] * 2


@pytest.mark.parametrize("text, where, message", [
    ("a: 1\nb:\n  c: 2\n  c: 3\n", (4, 3), "duplicate key 'c' (first given at line 3)"),
    ("a: !!python/object/apply:os.system [ls]\n", (1, 4), "YAML tag '!!python/object/apply:os.system'"),
    ("a: !!python/tuple [1, 2]\n", (1, 4), "YAML tag '!!python/tuple' is refused"),
    ("a: !custom 3\n", (1, 4), "YAML tag '!custom' is refused"),
    ("a: !!binary aGVsbG8=\n", (1, 4), "YAML tag '!!binary' is refused"),
    ("? [1, 2]\n: 3\n", (1, 3), "a mapping key must be a scalar"),
    ("a: [1, 2\n", (2, 1), "YAML syntax"),
    ("a:\n\t- 1\n", (2, 1), "YAML syntax"),
    ("a: 1\n---\nb: 2\n", (2, 1), "YAML syntax"),
    ("a: &x [1, *x]\n", (1, 4), "recursive alias"),
    ("# nothing\n", (1, 1), "the file is empty"),
    ("a: 1\nb: *nope\n", (2, 4), "YAML syntax: found undefined alias 'nope'"),
])
def test_refused_documents(text, where, message):
    with pytest.raises(SpecError) as info:
        load_yaml(text, "bad.yaml")
    assert message in info.value.message
    assert (info.value.loc.line, info.value.loc.col) == where


def test_alias_bomb_fails_fast_at_the_bomb():
    lines = ["ok: 1", "a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in "bcdefghij":
        prev = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ", ".join([f"*{prev}"] * 10) + "]")
    started = time.perf_counter()
    with pytest.raises(SpecError, match=f"more than {MAX_NODES:,} values") as info:
        load_yaml("\n".join(lines), "bomb.yaml")
    assert time.perf_counter() - started < 2
    # a..d expand to 11, 111, 1,111, 11,111 values: the first value too large on its own is
    # d's, on line 5
    assert info.value.loc.line == 5


def test_a_plain_large_document_is_refused_by_size(monkeypatch):
    monkeypatch.setattr(loader, "MAX_NODES", 1000)  # PyYAML would take seconds to read 5,000
    text = "a: [" + ", ".join(["1"] * 1001) + "]\n"
    with pytest.raises(SpecError, match="more than 1,000 values") as info:
        load_yaml(text, "big.yaml")
    assert "aliases" not in info.value.message
    assert info.value.loc.line == 1


def test_deep_nesting_is_refused():
    with pytest.raises(SpecError, match="nests deeper than 100 levels"):
        load_yaml("a: " + "[" * 150 + "]" * 150, "deep.yaml")


@pytest.mark.parametrize("text, where, message", [
    ("a: " + "9" * 5000 + "\n", (1, 4), "a number of 5,000 characters"),  # past int()'s digit limit
    ("a: 1" + ":59" * 20 + "\n", (1, 4), "a number of 61 characters"),  # YAML 1.1 base 60
    ("a: 1" + "0" * 60 + ".5\n", (1, 4), "a number of 63 characters"),
    ("a: 10000000000000001\n", (1, 4), "past netc's limit of 1e+15"),
    ("a: [1, -0x7fffffffffffffff]\n", (1, 8), "past netc's limit of 1e+15"),
    ("a: 1e16\n", (1, 4), "past netc's limit of 1e+15"),
    ("a: .inf\n", (1, 4), "inf is not a finite number"),
    ("a: -.inf\n", (1, 4), "-inf is not a finite number"),
    ("a: .nan\n", (1, 4), "nan is not a finite number"),
    ("1e99: 1\n", (1, 1), "past netc's limit"),  # keys are values too
])
def test_numbers_past_a_sane_size_are_located_errors(text, where, message):
    with pytest.raises(SpecError) as info:
        load_yaml(text, "n.yaml")
    assert message in info.value.message
    assert (info.value.loc.line, info.value.loc.col) == where


def test_numbers_within_the_limits_load():
    doc = load_yaml("a: [1000000000000000, -1e15, 1e-300, '9999999999999999999', '1:30']\n",
                    "n.yaml")
    assert doc["a"] == [10**15, -1e15, 1e-300, "9999999999999999999", "1:30"]


@pytest.mark.parametrize("text, meant", [("010", 8), ("-07", -7), ("1:30", 90), ("1:30.5", 90.5)])
def test_yaml_11_octal_and_base_60_numbers_are_refused(text, meant):
    with pytest.raises(SpecError, match=f"YAML 1.1 octal or base-60 number \\({meant}\\)") as info:
        load_yaml(f"a: {text}\n", "n.yaml")
    assert (info.value.loc.line, info.value.loc.col) == (1, 4)


def test_a_value_from_the_command_line_follows_the_spec_rules_and_its_column():
    assert load_value("1e-1", "--set p=1e-1", 9) == 0.1 and isinstance(load_value("1e-1", "x"), float)
    assert load_value("", "--set p=", 9) is None
    value = load_value("[1, {a: 2}]", "--set p=[1, {a: 2}]", 9)
    assert value == [1, {"a": 2}]
    assert location_of(value, 1) == Location("--set p=[1, {a: 2}]", 1, 13)
    for text, col, message in [("{a: 1, a: 2}", 16, "duplicate key 'a'"),
                               ("!!python/object/apply:os.system [ls]", 9, "is refused"),
                               ("[1, 2", 14, "YAML syntax"),
                               ("&a [*a]", 9, "recursive alias"),
                               ("9" * 50, 9, "a number of 50 characters")]:
        with pytest.raises(SpecError, match=re.escape(message)) as info:
            load_value(text, f"--set p={text}", 9)
        assert info.value.loc == Location(f"--set p={text}", 1, col), text


def test_a_second_line_of_a_value_is_not_shifted():
    with pytest.raises(SpecError) as info:
        load_value("a: 1\na: 2\n", "--set p", 9)
    assert info.value.loc == Location("--set p", 2, 1)


def test_nesting_made_by_aliases_is_refused_too():
    lines = ["a0: &a0 " + "[" * 60 + "x" + "]" * 60]
    lines += [f"a{i}: &a{i} " + "[" * 60 + f"*a{i - 1}" + "]" * 60 for i in range(1, 12)]
    with pytest.raises(SpecError, match="nests deeper than 100 levels through the aliases") as info:
        load_yaml("\n".join(lines), "deep.yaml")
    assert (info.value.loc.line, info.value.loc.col) == (2, 68)  # the list that holds *a0


@pytest.mark.skipif(loader._LIBYAML is None, reason="libyaml is not installed")
def test_libyaml_and_pyyaml_read_a_spec_the_same_way(monkeypatch):
    text = TEXT + "m: &m {a: 1, b: 'x'}\nn: {<<: *m, b: 2}\nq: [\"1e-5\", 1e-5, 0x1F, 1_000]\n"
    fast = load_yaml(text, "net.yaml")
    monkeypatch.setattr(loader, "_LIBYAML", None)
    slow = load_yaml(text, "net.yaml")
    assert fast == slow and fast["q"] == ["1e-5", 1e-5, 31, 1000]

    def located(value):
        if isinstance(value, dict):
            return [value.loc, value.key_locs, value.value_locs,
                    [located(v) for v in value.values()]]
        if isinstance(value, list):
            return [value.loc, value.item_locs, [located(v) for v in value]]
        return None

    assert located(fast) == located(slow)


def test_deep_written_nesting_is_refused_before_libyaml_composes_it():
    with pytest.raises(SpecError, match="nests deeper than 100 levels") as info:
        load_yaml("a: " + "[" * 100_000 + "]" * 100_000, "deep.yaml")
    assert info.value.loc.line == 1 and info.value.loc.col in (105, 1003)  # ours, or libyaml's


@pytest.mark.skipif(loader._LIBYAML is None, reason="libyaml is not installed")
def test_libyaml_composes_a_sound_document_and_pyyaml_words_a_broken_one(monkeypatch):
    used = []
    compose = loader.yaml.compose

    def recording(text, Loader):
        used.append(Loader)
        return compose(text, Loader=Loader)

    monkeypatch.setattr(loader.yaml, "compose", recording)
    load_yaml(TEXT, "net.yaml")
    assert used == [loader._LIBYAML]
    used.clear()
    with pytest.raises(SpecError, match="YAML syntax"):
        load_yaml("a: [1, 2\n", "bad.yaml")
    assert used[-1] is loader.yaml.SafeLoader
