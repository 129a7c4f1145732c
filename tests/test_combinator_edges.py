"""Combinator cases where a spec once gave a silently different network: an optional block
definition, one-layer repeat bodies, conflicting stage values, a shortcut that could never run."""
from __future__ import annotations

import pytest

import netc

HEAD = "netc: 1\ninput: {shape: [3, 8, 8]}\n"


def _load(tmp_path, text: str):
    path = tmp_path / "net.yaml"
    path.write_text(HEAD + text)
    return netc.load(str(path))


@pytest.mark.parametrize("use, nodes", [(False, []), (True, ["0.0", "0.add"])])
def test_when_on_a_block_definition_decides_whether_the_block_is_there(tmp_path, use, nodes):
    graph = _load(tmp_path, f"params: {{use: {str(use).lower()}}}\n"
                            "blocks:\n  b: {residual: {when: $use, body: [{conv2d: {out: 3, "
                            "kernel: 1}}]}}\nbody: [b]\n")
    assert [n.name for n in graph.nodes] == nodes


def test_a_one_layer_repeat_body_keeps_its_name_and_when(tmp_path):
    graph = _load(tmp_path, "body:\n"
                            "  - repeat: {times: 2, body: {conv2d: {name: 'conv{i}', out: 3, kernel: 1}}}\n"
                            "  - repeat: {times: 3, name: 'r{i}', body: {seq: {when: '${i > 0}', body: [relu]}}}\n")
    assert [n.name for n in graph.nodes] == ["conv0", "conv1", "r1.0", "r2.0"]


def test_a_repeat_and_its_one_layer_may_not_both_name_it(tmp_path):
    with pytest.raises(netc.SpecError, match="both give a name"):
        _load(tmp_path, "body:\n  - repeat: {times: 2, name: 'a{i}', "
                        "body: {conv2d: {name: 'b{i}', out: 3, kernel: 1}}}\n")


@pytest.mark.parametrize("table, message", [
    ("columns: [w], rows: [[4], [5]], args: {w: 7}", "both a column and in 'args'"),
    ("columns: [w, w], rows: [[4, 5]]", "column 'w' is named twice")])
def test_a_stage_value_given_twice_is_refused(tmp_path, table, message):
    with pytest.raises(netc.SpecError, match=message) as info:
        _load(tmp_path, "blocks:\n  b: {params: {w: int}, body: [{conv2d: {out: $w, kernel: 1}}]}\n"
                        f"body:\n  - stages: {{block: b, {table}}}\n")
    assert info.value.loc.line == 6


def test_a_concatenating_residual_runs_its_projection_only_when_told(tmp_path):
    body = "body:\n  - residual: {merge: concat, body: [relu], shortcut: {%sbody: [{conv2d: {out: 3, kernel: 1}}]}}\n"
    with pytest.raises(netc.SpecError, match="would never run"):
        _load(tmp_path, body % "")
    graph = _load(tmp_path, body % "when: always, ")
    assert graph.shape_of(graph.outputs[0]) == [6, 8, 8]
