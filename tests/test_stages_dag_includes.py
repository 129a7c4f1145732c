"""Repeats, stage tables, network parameters, DAGs, grouped convolutions, defaults and includes,
checked like tests/test_combinators.py: names, shapes and counts worked out by hand."""
from __future__ import annotations

import textwrap

import pytest

from combinator_helpers import by_name, conv_params, load, run_torch
from netc.spec.errors import SpecError

def test_repeat(tmp_path):
    g = load(tmp_path, """
        netc: 1
        input: {shape: [4, 8, 8]}
        body:
          - repeat:
              times: 3
              name: "layer{i}"
              body: [conv2d: {name: conv, out: 4, kernel: 3, pad: 1}, relu]
          - repeat: {times: 2, name: "act{i}", body: sigmoid}
    """)
    assert [n.name for n in g.nodes] == [
        "layer0.conv", "layer0.1", "layer1.conv", "layer1.1", "layer2.conv", "layer2.1",
        "act0", "act1"]
    assert by_name(g)["layer1.conv"].inputs == ["layer0.1"]
    assert g.trainable == 3 * (4 * 4 * 9 + 4)  # 444
    run_torch(g)


# -- stages ------------------------------------------------------------------------------------

STAGES = """
    netc: 1
    params: {base: 4}
    input: {shape: [3, 16, 16]}
    blocks:
      unit:
        params: {width: int, stride: 1, bias: false}
        body:
          - conv2d: {name: conv, out: $width, kernel: 3, stride: $stride, pad: 1, bias: $bias}
          - relu: {name: act}
    body:
      - stages:
          block: unit
          name: "layer{stage}"
          block_name: "b{block}"
          columns: [repeat, width, stride]
          first: [stride]
          args: {bias: true}
          between: {maxpool: {name: "pool{stage}", kernel: 2}}
          rows:
            - [2, $base, 1]
            - [2, "${base * 2}", 2]
"""


def test_stages_first_args_between_block_name(tmp_path):
    g = load(tmp_path, STAGES)
    nodes = by_name(g)
    assert list(nodes) == [
        "layer1.b0.conv", "layer1.b0.act", "layer1.b1.conv", "layer1.b1.act", "pool1",
        "layer2.b0.conv", "layer2.b0.act", "layer2.b1.conv", "layer2.b1.act"]
    # stride only for each stage's first block; `args` gives every block a bias
    assert nodes["layer2.b0.conv"].attrs["stride"] == [2, 2]
    assert nodes["layer2.b1.conv"].attrs["stride"] == [1, 1]
    assert all(n.attrs["bias"] for n in g.nodes if n.op == "conv2d")
    assert nodes["pool1"].shape == [4, 8, 8]
    assert nodes["layer2.b1.act"].shape == [8, 4, 4]
    # 3->4, 4->4 | 4->8 (stride 2), 8->8; 112 + 148 + 296 + 584
    assert g.trainable == 1140
    assert [s["name"] for s in g.meta["stages"]] == ["layer1", "layer2"]
    assert g.meta["stages"][1]["blocks"] == ["layer2.b0", "layer2.b1"]
    run_torch(g)


def test_set_overrides_network_params(tmp_path):
    g = load(tmp_path, STAGES, {"base": 8})
    # 3->8, 8->8 | 8->16, 16->16
    assert g.trainable == (8 * 3 * 9 + 8) + (8 * 8 * 9 + 8) + (16 * 8 * 9 + 16) + (16 * 16 * 9 + 16)
    assert by_name(g)["layer2.b1.act"].shape == [16, 4, 4]
    with pytest.raises(SpecError, match="has no parameter 'bsae'") as info:
        load(tmp_path, STAGES, {"bsae": 8})
    assert info.value.hint == "did you mean 'base'?"
    run_torch(g)


def test_set_overrides_repeat_counts_and_input_size(tmp_path):
    text = """
        netc: 1
        params: {depth: 2, size: 8}
        input: {shape: [3, $size, $size]}
        body:
          - repeat: {times: $depth, name: "c{i}", body: {conv2d: {out: 3, kernel: 3, pad: 1}}}
    """
    assert [n.name for n in load(tmp_path, text).nodes] == ["c0", "c1"]
    g = load(tmp_path, text, {"depth": 3, "size": 12})
    assert [n.name for n in g.nodes] == ["c0", "c1", "c2"]
    assert g.input_shape == [3, 12, 12] and g.nodes[-1].shape == [3, 12, 12]
    assert g.trainable == 3 * conv_params(3, 3, 3)
    run_torch(g, batch=1)


# -- dag ---------------------------------------------------------------------------------------

def test_dag_with_explicit_inputs(tmp_path):
    g = load(tmp_path, """
        netc: 1
        input: {shape: [4, 8, 8]}
        body:
          - dag:
              name: net
              nodes:
                - {name: a, body: [conv2d: {out: 4, kernel: 1}]}
                - {name: b, from: input, body: [conv2d: {out: 4, kernel: 3, pad: 1}]}
                - {name: c, from: [a, b], merge: add, body: [relu]}
                - {name: g, from: c, body: [adaptive_avgpool: {out: 1}, conv2d: {out: 4, kernel: 1}, sigmoid]}
                - {name: d, from: [c, g], merge: mul}
              output: d
    """)
    nodes = by_name(g)
    assert nodes["net.a.0"].inputs == ["input"] and nodes["net.b.0"].inputs == ["input"]
    assert nodes["net.c.add"].inputs == ["net.a.0", "net.b.0"]
    assert nodes["net.g.1"].shape == [4, 1, 1]
    assert nodes["net.d.mul"].inputs == ["net.c.0", "net.g.2"]
    assert g.outputs == ["net.d.mul"]
    assert g.trainable == (4 * 4 + 4) + (4 * 4 * 9 + 4) + (4 * 4 + 4)  # 20 + 148 + 20
    run_torch(g)


# -- grouped and depthwise convolution ---------------------------------------------------------

def test_grouped_and_depthwise_conv(tmp_path):
    torch = pytest.importorskip("torch")
    g = load(tmp_path, """
        netc: 1
        input: {shape: [4, 8, 8]}
        body:
          - conv2d: {name: grouped, out: 8, kernel: 3, pad: 1, groups: 2, bias: false}
          - conv2d: {name: dw, out: "${in.channels}", kernel: 3, pad: 1, groups: "${in.channels}",
                     bias: false}
    """)
    grouped, dw = by_name(g)["grouped"], by_name(g)["dw"]
    assert grouped.params[0].shape == [8, 2, 3, 3] and grouped.param_count() == 144
    assert grouped.macs == 8 * 8 * 8 * (2 * 9)  # each output sees in/groups = 2 channels
    assert dw.attrs["groups"] == 8 and dw.params[0].shape == [8, 1, 3, 3]
    assert dw.macs == 8 * 8 * 8 * 9
    model = run_torch(g).eval()
    x = torch.randn(2, 4, 8, 8)
    w1, w2 = model.get_parameter("grouped.weight"), model.get_parameter("dw.weight")
    F = torch.nn.functional
    expected = F.conv2d(F.conv2d(x, w1, padding=1, groups=2), w2, padding=1, groups=8)
    torch.testing.assert_close(model(x), expected)


# -- defaults ----------------------------------------------------------------------------------

def test_per_op_and_block_defaults(tmp_path):
    g = load(tmp_path, """
        netc: 1
        input: {shape: [4, 8, 8]}
        defaults: {conv2d: {bias: false}, batchnorm: {eps: 0.001}}
        blocks:
          biased:
            defaults: {conv2d: {bias: true, pad: 1}}
            body: [conv2d: {name: conv, out: 4, kernel: 3}]
        body:
          - conv2d: {name: plain, out: 4, kernel: 1}
          - conv2d: {name: chosen, out: 4, kernel: 1, bias: true}
          - biased: {name: blk}
          - conv2d: {name: after, out: 4, kernel: 1}
          - batchnorm: {name: bn}
    """)
    nodes = by_name(g)
    assert nodes["plain"].attrs["bias"] is False
    assert nodes["chosen"].attrs["bias"] is True  # a layer's own argument wins
    assert nodes["blk.conv"].attrs["bias"] is True and nodes["blk.conv"].attrs["padding"] == [1] * 4
    assert nodes["after"].attrs["bias"] is False  # the block's defaults stay inside it
    assert nodes["bn"].attrs["eps"] == 0.001
    assert g.trainable == 16 + (16 + 4) + (4 * 4 * 9 + 4) + 16 + 8
    run_torch(g)


# -- includes ----------------------------------------------------------------------------------

def test_includes_are_relative_to_the_including_file(tmp_path, monkeypatch):
    (tmp_path / "lib" / "more").mkdir(parents=True)
    (tmp_path / "lib" / "blocks.yaml").write_text(textwrap.dedent("""
        netc: 1
        include: [more/extra.yaml]
        defaults: {conv2d: {bias: false}}
        blocks:
          unit:
            params: {width: int}
            body: [conv2d: {name: conv, out: $width, kernel: 1}, inner: {name: tail}]
    """))
    (tmp_path / "lib" / "more" / "extra.yaml").write_text(textwrap.dedent("""
        netc: 1
        blocks:
          inner:
            body: [relu]
    """))
    g_text = """
        netc: 1
        input: {shape: [3, 4, 4]}
        include: [../lib/blocks.yaml]
        body:
          - unit: {name: u, width: 5}
          - conv2d: {name: head, out: 2, kernel: 1}
    """
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory plays no part
    g = load(tmp_path, g_text, name="specs/net.yaml")
    assert [n.name for n in g.nodes] == ["u.conv", "u.tail.0", "head"]
    # the library's defaults hold for its own blocks only
    assert g.trainable == 5 * 3 + (2 * 5 + 2)
    run_torch(g)


def test_include_cycle_is_an_error(tmp_path):
    (tmp_path / "x.yaml").write_text("netc: 1\ninclude: [y.yaml]\n")
    (tmp_path / "y.yaml").write_text("netc: 1\ninclude: [x.yaml]\n")
    with pytest.raises(SpecError, match=r"include cycle: x\.yaml -> y\.yaml -> x\.yaml") as info:
        load(tmp_path, "netc: 1\ninput: {shape: [3]}\ninclude: [x.yaml]\nbody: [relu]\n")
    assert info.value.loc.file.endswith("y.yaml") and info.value.loc.line == 2
