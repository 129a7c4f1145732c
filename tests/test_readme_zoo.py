"""The README's zoo tables, examples/REFERENCES.yaml and the specs on disk say the same thing: every
spec is listed in one section, every entry has a README row with its reference and count, and every
row names a spec that exists. The Keras specs may be listed before they are written; this test
then fails until they are.
"""
from __future__ import annotations

import re

import pytest
import yaml

import netc
from conftest import EXAMPLES, ROOT, example_specs

REFERENCES = yaml.safe_load((EXAMPLES / "REFERENCES.yaml").read_text())

# Per section: the key holding the count the README prints, and the text its reference cell holds.
SECTIONS = {
    "torchvision": ("params", lambda e: f"`torchvision.models.{e['builder']}`"),
    "keras": ("total", lambda e: f"`{e.get('module', 'keras')}.applications.{e['application']}`"),
    "keras_apps": ("total", lambda e: f"`keras.applications.{e['application']}`"),
    "paper": ("params", lambda e: e["source"]),
    "demo": ("params", lambda e: e["purpose"]),
    "transformers": ("params", lambda e: f"`torchvision.models.{e['builder']}`"),
    "segmentation": ("params", lambda e: e["source"]),
}

ROW = re.compile(r"\| \[(?P<spec>[^\]]+)\]\(examples/(?P<link>[^)]+)\) \| (?P<ref>.+) \| (?P<count>[^|]+) \|")


def _zoo_section() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## The zoo\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, "README.md has no '## The zoo' section followed by another '## ' section"
    return match.group(1)


def _readme_rows() -> dict[str, tuple[str, str, str]]:
    rows = {}
    for line in _zoo_section().splitlines():
        if line.startswith("| [") and (m := ROW.fullmatch(line)):
            assert m["spec"] not in rows, f"README lists {m['spec']} twice"
            rows[m["spec"]] = (m["link"], m["ref"], m["count"])
        elif line.startswith("| ["):
            pytest.fail(f"README zoo row not in the form '| [spec](examples/spec) | ref | count |': {line}")
    return rows


def _entries() -> dict[str, tuple[str, dict]]:
    """Every listed spec -> (its section, its entry)."""
    out = {}
    for section, entries in REFERENCES.items():
        for spec, entry in entries.items():
            assert spec not in out, f"{spec} is listed in both {out[spec][0]}: and {section}:"
            out[spec] = section, entry
    return out


def _printed(count) -> str:
    """How the README prints a count: 61,100,840 for an integer, a paper's "0.8M" as it is."""
    return f"{count:,}" if isinstance(count, int) else str(count)


def test_every_section_is_known():
    unknown = set(REFERENCES) - set(SECTIONS)
    assert not unknown, f"REFERENCES.yaml has sections {sorted(unknown)}: add them to SECTIONS here"


def test_every_spec_on_disk_is_listed():
    missing = set(example_specs()) - set(_entries())
    assert not missing, f"specs not in examples/REFERENCES.yaml: {sorted(missing)}"


def test_readme_lists_every_entry_and_nothing_else():
    listed, rows = set(_entries()), set(_readme_rows())
    assert not listed - rows, f"README's zoo lacks {sorted(listed - rows)}"
    assert not rows - listed, f"README's zoo lists {sorted(rows - listed)}, not in REFERENCES.yaml"


def test_every_readme_row_names_an_existing_spec():
    for spec, (link, _, _) in _readme_rows().items():
        assert link == spec, f"README row {spec} links to examples/{link}"
        assert (EXAMPLES / spec).is_file(), f"README lists {spec}, which is not in examples/"


def test_readme_counts_and_references_are_references_yamls():
    rows = _readme_rows()
    for spec, (section, entry) in _entries().items():
        if spec not in rows:
            continue  # reported by test_readme_lists_every_entry_and_nothing_else
        key, reference = SECTIONS[section]
        _, ref, count = rows[spec]
        assert count == _printed(entry[key]), f"{spec}: README says {count}, REFERENCES.yaml {entry[key]}"
        assert ref == reference(entry), f"{spec}: README's reference {ref!r}"


def test_printed_counts():
    assert _printed(61100840) == "61,100,840" and _printed("0.8M") == "0.8M"


@pytest.mark.parametrize("spec", sorted(REFERENCES.get("demo", {})))
def test_demo_counts_are_the_networks(spec):
    # the other sections' counts are held against their references by their own tests
    assert netc.load(EXAMPLES / spec).trainable == REFERENCES["demo"][spec]["params"]
