"""Blocks with several inputs (`inputs: [x, p]`, a NASNet cell's two previous values), dags whose
node names are handles only (`node_namespaces: false`), and the errors of a wrong call."""
from __future__ import annotations

import numpy as np
import pytest

import netc
from netc.spec.errors import SpecError

HEAD = """
netc: 1
name: two_inputs
input: {shape: [3, 12, 12]}
defaults: {conv2d: {bias: false}}
"""

# A cell reading x (8 maps, 6x6) and p (3 maps, 12x12): p is halved and projected to x's width
# only because its shape says so, and the cell's layers sit in the caller's namespace.
CELL = """
blocks:
  cell:
    params: {width: int, tag: str}
    inputs: [x, p]
    dag:
      name: ""
      node_namespaces: false
      nodes:
        - {name: h, from: x, body: [conv2d: {name: "conv_x_{tag}", out: $width, kernel: 1}]}
        - name: q
          from: p
          body:
            - conv2d: {name: "conv_p_{tag}", out: $width, kernel: 1,
                       stride: "${p.height // x.height}", when: "${p.channels != width}"}
        - {name: sum, from: [h, q], merge: {add: {name: "sum_{tag}"}}}
        - {name: out, body: [relu: {name: "relu_{tag}"}]}
"""

BLOCK_BODY = HEAD + CELL + """
body:
  - dag:
      name: ""
      node_namespaces: false
      nodes:
        - {name: stem, body: [conv2d: {name: stem, out: 8, kernel: 3, stride: 2, pad: 1}]}
        - {name: c0, from: [stem, input], body: [cell: {name: "", width: 8, tag: a}]}
        - {name: c1, from: [c0, stem], body: [cell: {name: "", width: 8, tag: b}]}
"""

# The same network written out by hand: one dag, every layer where the block put it.
HAND_WRITTEN = HEAD + """
body:
  - dag:
      name: ""
      node_namespaces: false
      nodes:
        - {name: stem, body: [conv2d: {name: stem, out: 8, kernel: 3, stride: 2, pad: 1}]}
        - {name: h0, from: stem, body: [conv2d: {name: conv_x_a, out: 8, kernel: 1}]}
        - {name: q0, from: input, body: [conv2d: {name: conv_p_a, out: 8, kernel: 1, stride: 2}]}
        - {name: sum_a, from: [h0, q0], merge: add}
        - {name: c0, body: [relu: {name: relu_a}]}
        - {name: h1, from: c0, body: [conv2d: {name: conv_x_b, out: 8, kernel: 1}]}
        - {name: sum_b, from: [h1, stem], merge: add}
        - {name: c1, body: [relu: {name: relu_b}]}
"""


def _load(text):
    return netc.load("two_inputs.yaml", text=text)


def _nodes(graph):
    return [(n.name, n.op, list(n.inputs), n.attrs, n.shape) for n in graph.nodes]


def test_a_two_input_block_expands_to_the_hand_written_dag():
    block, hand = _load(BLOCK_BODY), _load(HAND_WRITTEN)
    assert _nodes(block) == _nodes(hand)
    # the second input decided the layers: c0's p (3x12x12) was projected and halved, c1's
    # (8 maps at x's size) passes as it is
    assert block.node("conv_p_a").inputs == [block.input_name]
    assert "conv_p_b" not in block
    assert block.node("sum_b").inputs == ["conv_x_b", "stem"]


def test_both_backends_build_and_run_it_to_the_hand_computed_values():
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    from netc.backends import get_backend
    from netc.crosscheck import node_values

    graph = _load(BLOCK_BODY)
    net = netc.build(graph, backend="torch").eval()
    weights = get_backend("torch").export_weights(net, graph)
    x = np.random.default_rng(0).normal(0, 1, (2, 3, 12, 12)).astype("float32")
    with torch.no_grad():
        t = {k: torch.as_tensor(v) for k, v in weights.items()}
        conv = torch.nn.functional.conv2d
        image = torch.as_tensor(x)
        stem = conv(image, t["stem.weight"], stride=2, padding=1)
        c0 = torch.relu(conv(stem, t["conv_x_a.weight"]) + conv(image, t["conv_p_a.weight"],
                                                                 stride=2))
        expected = torch.relu(conv(c0, t["conv_x_b.weight"]) + stem).numpy()
        got = net(torch.as_tensor(x)).numpy()
    assert np.max(np.abs(got - expected)) <= 1e-5
    keras_model = netc.build(graph, backend="keras")
    get_backend("keras").import_weights(keras_model, graph, weights)
    values = node_values("keras", keras_model, graph, x)
    assert np.max(np.abs(values[graph.outputs[0]] - expected)) <= 1e-5


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_emitted_source_runs_on_its_own(backend, tmp_path):
    pytest.importorskip(backend)
    import runpy

    path = tmp_path / "model.py"
    path.write_text(netc.emit(_load(BLOCK_BODY), backend=backend))
    model = runpy.run_path(str(path))["build_model"]()
    count = (sum(p.numel() for p in model.parameters()) if backend == "torch"
             else model.count_params())
    assert count == _load(BLOCK_BODY).count() == 8 * 27 + 8 * 8 + 8 * 3 + 8 * 8


def test_a_block_input_is_an_expression_name_with_a_shape():
    graph = _load(HEAD + CELL.replace('stride: "${p.height // x.height}"',
                                      'stride: "${p.width // x.width}"') + """
body:
  - dag:
      name: ""
      nodes:
        - {name: stem, body: [conv2d: {name: stem, out: 8, kernel: 3, stride: 3}]}
        - {name: c0, from: [stem, input], body: [cell: {width: 8, tag: a}]}
""")
    # a block called with a name keeps its namespace: c0.0 is the cell in node c0
    assert graph.node("c0.0.conv_p_a").attrs["stride"] == [3, 3]


def _line_of(text, needle) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


LINEAR_CALL = HEAD + CELL + """
body:
  - conv2d: {name: stem, out: 8, kernel: 3, stride: 2, pad: 1}
  - cell: {width: 8, tag: a}
"""
ONE_INPUT_BLOCK = HEAD + """
blocks:
  unit: {params: {width: 8}, conv2d: {name: conv, out: $width, kernel: 1}}
body:
  - dag:
      nodes:
        - {name: a, body: [relu]}
        - {name: b, from: [a, input], body: [unit]}
"""
OP_GIVEN_TWO = ONE_INPUT_BLOCK.replace("body: [unit]", "body: [relu]")
IN_A_STAGE_TABLE = HEAD + CELL + """
body:
  - stages:
      block: cell
      columns: [repeat, width, tag]
      rows:
        - [1, 8, a]
"""

# (spec text, what the message says, the text on the line the error points at)
ERRORS = {
    "linear call": (LINEAR_CALL, "block 'cell' reads 2 inputs (x, p); the call gives 1",
                    "- cell:"),
    "three inputs": (BLOCK_BODY.replace("from: [c0, stem]", "from: [c0, stem, input]"),
                     "block 'cell' reads 2 inputs (x, p); the call gives 3",
                     "from: [c0, stem, input]"),
    "one-input block": (ONE_INPUT_BLOCK, "block 'unit' reads one input; the call gives 2",
                        "{name: b,"),
    "op given two": (OP_GIVEN_TWO, "has 2 inputs and needs 'merge", "{name: b,"),
    "skipped block": (BLOCK_BODY.replace('tag: b}]', 'tag: b, when: false}, relu]'),
                      "'relu' reads one input; 2 values reach it", "tag: b, when: false"),
    "stage table": (IN_A_STAGE_TABLE, "block 'cell' reads 2 inputs", "- [1, 8, a]"),
    "input named like a parameter": (BLOCK_BODY.replace("inputs: [x, p]", "inputs: [x, width]"),
                                     "input 'width' has the name of a parameter", "inputs:"),
    "input named in": (BLOCK_BODY.replace("inputs: [x, p]", "inputs: [x, in]"),
                       "input 'in' has the name of 'in', the incoming shape", "inputs:"),
    "input named twice": (BLOCK_BODY.replace("inputs: [x, p]", "inputs: [x, x]"),
                          "input 'x' has the name of another input", "inputs:"),
    "unknown input": (BLOCK_BODY.replace("${p.height // x.height}", "${q.height // x.height}"),
                      "unknown name 'q'", "stride:"),
    # two calls of the cell with one tag give two layers called conv_x_a
    "one tag twice": (BLOCK_BODY.replace("tag: b", "tag: a"),
                      "duplicate layer name 'conv_x_a'", "conv_x_{tag}"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_a_wrong_call_or_declaration_is_a_located_error(case):
    text, message, line = ERRORS[case]
    with pytest.raises(SpecError) as info:
        _load(text)
    assert message in info.value.message
    assert info.value.loc.line == _line_of(text, line)


def test_the_hints_say_how_to_give_several_inputs():
    with pytest.raises(SpecError) as info:
        _load(LINEAR_CALL)
    assert "from: [a, b]" in info.value.hint
    with pytest.raises(SpecError) as info:
        _load(OP_GIVEN_TWO)
    assert "a block that declares as many `inputs:`" in info.value.message


UP = """
body:
  - dag:
      name: up
      nodes:
        - {name: a, body: [relu, conv2d: {name: conv, out: 4, kernel: 1}]}
        - {name: b, from: [a, a], merge: add}
        - {name: c, from: [b, a], merge: {concat: {name: cat}}}
"""


@pytest.mark.parametrize("namespaces, names", [
    (True, ["up.a.0", "up.a.conv", "up.b.add", "up.c.cat"]),
    # flat: an unnamed layer is numbered after its node, an unnamed merge takes the node's name
    (False, ["up.a_0", "up.conv", "up.b", "up.cat"])])
def test_node_names_keep_or_drop_their_namespaces(namespaces, names):
    text = UP if namespaces else UP.replace("      nodes:", "      node_namespaces: false\n      nodes:")
    assert [n.name for n in _load(HEAD + text).nodes] == names


NAMESPACED = HEAD + CELL.replace("""      name: ""
      node_namespaces: false
      nodes:
        - {name: h""", """      name: ""
      nodes:
        - {name: h""") + """
body:
  - dag:
      name: ""
      nodes:
        - {name: stem, body: [conv2d: {name: stem, out: 8, kernel: 3, stride: 2, pad: 1}]}
        - {name: c0, from: [stem, input], body: [cell: {name: "", width: 8, tag: a}]}
        - {name: c1, from: [c0, stem], body: [cell: {name: "", width: 8, tag: b}]}
        - {name: c2, from: [c1, c0], body: [cell: {name: "", width: 8, tag: b}]}
"""


def test_a_block_of_two_inputs_is_one_class_whose_forward_takes_both():
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    from netc.backends import get_backend
    from netc.crosscheck import node_values

    graph = _load(NAMESPACED)
    assert graph.node("c0.q.conv_p_a").inputs == [graph.input_name]
    # c0 projects p, c1 and c2 do not: two classes (functions), each called with both values
    source = netc.emit(graph, backend="torch")
    assert source.count("def forward(self, x, p):") == 2
    assert "self.c0(stem, x)" in source and "self.c1(c0, stem)" in source
    assert "self.c2(x, c0)" in source
    keras_source = netc.emit(graph, backend="keras")
    assert "def cell_q(x, p, *, name):" in keras_source
    assert "def cell(x, p, *, name):" in keras_source
    assert "cell_q(x, inputs, name='c0')" in keras_source
    assert "cell(x, c0, name='c2')" in keras_source
    # both run, and agree with each other and with the source written node by node
    net = netc.build(graph, backend="torch").eval()
    weights = get_backend("torch").export_weights(net, graph)
    x = np.random.default_rng(0).normal(0, 1, (2, 3, 12, 12)).astype("float32")
    with torch.no_grad():
        got = net(torch.as_tensor(x)).numpy()
    keras_model = netc.build(graph, backend="keras")
    get_backend("keras").import_weights(keras_model, graph, weights)
    values = node_values("keras", keras_model, graph, x)
    assert np.max(np.abs(values[graph.outputs[0]] - got)) <= 1e-5
    flat = get_backend("torch").load(get_backend("torch").emit(graph, flat=True), graph).eval()
    get_backend("torch").import_weights(flat, graph, weights)
    with torch.no_grad():
        assert np.max(np.abs(flat(torch.as_tensor(x)).numpy() - got)) <= 1e-6
