"""The IR: JSON round trip, a content hash that tracks what the network computes, lint, and
parameters by kind."""
from __future__ import annotations

import json

import pytest

import netc
from netc.compiler.ir import PARAM_KINDS, Graph, Node, Param
from netc.compiler.lint import LintError, lint

SPEC = """\
netc: 1
name: tiny
input: {shape: [3, 8, 8]}
body:
  - conv2d: {name: conv, out: 4, kernel: 3, pad: 1}
  - batchnorm: {name: bn}
  - residual: {name: res, body: [conv2d: {out: 4, kernel: 1, bias: false}], then: relu}
  - global_avgpool: {name: pool}
  - linear: {name: fc, out: 2}
"""


@pytest.fixture
def graph(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC)
    return netc.load(str(path))


def test_json_round_trip(graph):
    first = json.dumps(graph.to_json(), sort_keys=True)
    again = Graph.from_json(json.loads(first))
    second = json.dumps(again.to_json(), sort_keys=True)
    third = json.dumps(Graph.from_json(json.loads(second)).to_json(), sort_keys=True)
    assert first == second == third
    assert [n.name for n in again.nodes] == [n.name for n in graph.nodes]
    assert again.node("fc").params == graph.node("fc").params


def test_content_hash_is_stable_and_tracks_attrs(graph, tmp_path):
    h = graph.content_hash()
    assert h == Graph.from_json(json.loads(json.dumps(graph.to_json()))).content_hash()
    moved = tmp_path / "moved.yaml"  # positions in the spec are not part of the network
    moved.write_text("# a comment moves every line down\n" + SPEC)
    assert netc.load(str(moved)).content_hash() == h
    changed = Graph.from_json(graph.to_json())
    changed.node("conv").attrs["stride"] = [2, 2]
    assert changed.content_hash() != h
    wider = tmp_path / "wider.yaml"
    wider.write_text(SPEC.replace("out: 2", "out: 3"))
    assert netc.load(str(wider)).content_hash() != h


def test_params_by_kind(graph):
    conv, bn, fc = graph.node("conv"), graph.node("bn"), graph.node("fc")
    assert [(p.name, p.shape, p.kind) for p in conv.params] == [
        ("weight", [4, 3, 3, 3], "weight"), ("bias", [4], "bias")]
    assert [(p.name, p.kind) for p in bn.params] == [
        ("weight", "norm-affine"), ("bias", "norm-affine"),
        ("running_mean", "norm-statistic"), ("running_var", "norm-statistic")]
    assert graph.node("res.0").params == [Param("weight", [4, 4, 1, 1], "weight")]
    assert [p.shape for p in fc.params] == [[2, 4], [2]]
    assert set(PARAM_KINDS) == {"weight", "bias", "norm-affine", "norm-statistic"}
    # by hand: conv 108 + 4 bias, res.0 16, fc 8 + 2 bias; bn 4 + 4 affine, 4 + 4 statistics
    assert graph.count(("weight",)) == 108 + 16 + 8
    assert graph.count(("bias",)) == 4 + 2
    assert graph.count(("norm-affine",)) == 8
    assert graph.count(("norm-statistic",)) == 8
    assert graph.trainable == 132 + 6 + 8
    assert conv.macs == 4 * 8 * 8 * 3 * 9 and fc.macs == 4 * 2


def _node(name, inputs, op="relu"):
    return Node(name, op, inputs, {}, [3], [], 0, "net.yaml:5:3")


def _graph(*nodes, outputs=None):
    return Graph("g", "input", [3], list(nodes), outputs or [nodes[-1].name])


def test_lint_accepts_a_good_graph(graph):
    lint(graph)
    lint(_graph(_node("a", ["input"]), _node("b", ["a"])))


@pytest.mark.parametrize("nodes, outputs, message", [
    ([_node("a", ["input"]), _node("a", ["a"])], None, "duplicate node name 'a'"),
    ([_node("a", ["input"]), _node("b", ["input"])], ["b"], "nodes whose output is never used: a"),
    ([_node("a", ["nope"])], None, "node 'a' reads 'nope', which is not defined before it"),
    ([_node("b", ["a"]), _node("a", ["input"])], None, "reads 'a', which is not defined before it"),
    ([_node("a", ["input"]), _node("a.x", ["a"])], None, "'a.x' is nested under 'a'"),
    ([_node("bad name", ["input"])], None, "is not a dotted path"),
    ([_node("a", ["input"])], ["z"], "graph output 'z' is not a node"),
])
def test_lint_messages(nodes, outputs, message):
    with pytest.raises(LintError, match=message.replace(".", r"\.")) as info:
        lint(_graph(*nodes, outputs=outputs))
    if "output 'z'" not in message:  # node errors point at the spec item that made the node
        assert (info.value.loc.file, info.value.loc.line, info.value.loc.col) == ("net.yaml", 5, 3)
