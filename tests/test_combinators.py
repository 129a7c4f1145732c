"""Every combinator of the spec language, checked on small networks: node names, shapes and
parameter counts worked out by hand (in the comments), then the emitted torch model runs forward
and backward. A conv's parameters are out * in/groups * k*k (+ out for a bias)."""
from __future__ import annotations

import textwrap

import pytest

import netc
from netc.spec.errors import SpecError


def load(tmp_path, text: str, overrides: dict | None = None, name: str = "net.yaml"):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return netc.load(str(path), overrides)


def by_name(graph) -> dict:
    return {n.name: n for n in graph.nodes}


def run_torch(graph, batch: int = 2):
    """Build the emitted torch model; its parameters must be the IR's, and it must train."""
    torch = pytest.importorskip("torch")
    model = netc.build(graph, backend="torch")
    assert sum(p.numel() for p in model.parameters()) == graph.trainable
    ir_keys = {f"{n.name}.{p.name}" for n in graph.nodes for p in n.params}
    keys = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert keys == ir_keys
    x = torch.randn(batch, *graph.input_shape, requires_grad=True)
    y = model(x)
    assert tuple(y.shape) == (batch, *graph.shape_of(graph.outputs[0]))
    y.square().sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    return model


def conv_params(cin, cout, k, bias=True, groups=1):
    return cout * (cin // groups) * k * k + (cout if bias else 0)


# -- seq ---------------------------------------------------------------------------------------

def test_seq_opens_a_namespace(tmp_path):
    g = load(tmp_path, """
        netc: 1
        input: {shape: [3, 8, 8]}
        body:
          - seq:
              name: stem
              body:
                - conv2d: {name: conv, out: 8, kernel: 3, pad: 1}
                - batchnorm: {name: bn}
                - relu
    """)
    assert [n.name for n in g.nodes] == ["stem.conv", "stem.bn", "stem.2"]
    assert by_name(g)["stem.conv"].shape == [8, 8, 8]
    assert by_name(g)["stem.conv"].param_count() == 8 * 3 * 9 + 8  # 224
    assert g.trainable == 224 + 16 and g.count(("norm-statistic",)) == 16
    run_torch(g)


# -- residual ----------------------------------------------------------------------------------

def test_residual_identity_add_then(tmp_path):
    g = load(tmp_path, """
        netc: 1
        input: {shape: [8, 8, 8]}
        body:
          - residual:
              name: block
              body:
                - conv2d: {out: 8, kernel: 3, pad: 1, bias: false}
                - batchnorm
              then: relu
    """)
    nodes = by_name(g)
    assert list(nodes) == ["block.0", "block.1", "block.add", "block.out"]
    assert nodes["block.add"].inputs == ["block.1", "input"]  # body, then the identity shortcut
    assert nodes["block.out"].op == "relu"
    assert g.trainable == 8 * 8 * 9 + 16
    run_torch(g)


PROJECTION_BLOCK = """
    netc: 1
    input: {shape: [8, 8, 8]}
    blocks:
      unit:
        params: {width: int, stride: 1}
        residual:
          body:
            - conv2d: {name: conv1, out: $width, kernel: 3, stride: $stride, pad: 1, bias: false}
            - batchnorm: {name: bn1}
          shortcut:
            name: downsample
            WHEN
            body: [conv2d: {out: $width, kernel: 1, stride: $stride, bias: false}, batchnorm]
          then: relu
    body:
      - unit: {name: a, width: 8}
      - unit: {name: b, width: 16, stride: 2}
"""


def test_projection_shortcut_only_when_the_shape_changes(tmp_path):
    g = load(tmp_path, PROJECTION_BLOCK.replace("WHEN", ""))
    nodes = by_name(g)
    # a keeps 8x8x8: identity; b goes to 16x4x4: a 1x1 stride-2 projection, torchvision's names
    assert not any(name.startswith("a.downsample") for name in nodes)
    assert nodes["a.add"].inputs == ["a.bn1", "input"]
    assert nodes["b.downsample.0"].shape == [16, 4, 4]
    assert nodes["b.add"].inputs == ["b.bn1", "b.downsample.1"]
    assert nodes["b.out"].shape == [16, 4, 4]
    a = 8 * 8 * 9 + 2 * 8  # conv1 + bn1 = 592
    b = 16 * 8 * 9 + 2 * 16 + 16 * 8 + 2 * 16  # conv1 + bn1 + downsample conv + bn = 1344
    assert g.trainable == a + b
    run_torch(g)


def test_projection_shortcut_always(tmp_path):
    g = load(tmp_path, PROJECTION_BLOCK.replace("WHEN", "when: always"))
    nodes = by_name(g)
    assert nodes["a.downsample.0"].shape == [8, 8, 8]
    assert g.trainable == (8 * 8 * 9 + 16 + 8 * 8 + 16) + (16 * 8 * 9 + 32 + 16 * 8 + 32)
    run_torch(g)


def test_residual_concat_is_a_dense_layer(tmp_path):
    g = load(tmp_path, """
        netc: 1
        input: {shape: [4, 8, 8]}
        body:
          - residual:
              name: dense
              merge: concat
              body: [conv2d: {out: 3, kernel: 3, pad: 1}]
    """)
    nodes = by_name(g)
    # DenseNet: the input first, the new features after it; 4 + 3 channels
    assert nodes["dense.concat"].inputs == ["input", "dense.0"]
    assert nodes["dense.concat"].shape == [7, 8, 8]
    assert g.trainable == 3 * 4 * 9 + 3
    run_torch(g)


def test_zero_padding_shortcut(tmp_path):
    torch = pytest.importorskip("torch")
    g = load(tmp_path, """
        netc: 1
        input: {shape: [4, 8, 8]}
        body:
          - residual:
              name: same
              shortcut: zeropad
              body: [conv2d: {out: 4, kernel: 3, pad: 1}]
          - residual:
              name: down
              shortcut: zeropad
              body: [conv2d: {out: 8, kernel: 3, stride: 2, pad: 1}]
    """)
    nodes = by_name(g)
    assert "same.shortcut" not in nodes and nodes["same.add"].inputs == ["same.0", "input"]
    pad = nodes["down.shortcut"]
    # option A: subsample by 2, then 4 zero channels split 2 before and 2 after; no parameters
    assert pad.op == "channel_pad" and pad.shape == [8, 4, 4] and pad.params == []
    assert (pad.attrs["stride"], pad.attrs["before"], pad.attrs["after"]) == (2, 2, 2)
    model = run_torch(g).eval()
    with torch.no_grad():  # with the body silenced the block is its shortcut
        for p in model.parameters():
            p.zero_()
        x = torch.randn(1, 4, 8, 8)
        expected = torch.nn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 2, 2))
        torch.testing.assert_close(model(x), expected)


def test_shortcut_none_has_no_merge(tmp_path):
    g = load(tmp_path, """
        netc: 1
        input: {shape: [4, 8, 8]}
        body:
          - residual: {name: plain, shortcut: none, body: [conv2d: {out: 4, kernel: 1}], then: relu}
    """)
    assert [n.name for n in g.nodes] == ["plain.0", "plain.out"]
    run_torch(g)


def test_then_with_several_items(tmp_path):
    g = load(tmp_path, """
        netc: 1
        input: {shape: [4, 8, 8]}
        body:
          - residual: {name: r, body: [relu], then: [relu, sigmoid]}
    """)
    assert [n.name for n in g.nodes] == ["r.0", "r.add", "r.out0", "r.out1"]
    run_torch(g)


def test_drop_path_with_a_schedule(tmp_path):
    g = load(tmp_path, """
        netc: 1
        input: {shape: [4, 8, 8]}
        blocks:
          unit:
            residual:
              body: [conv2d: {name: conv, out: 4, kernel: 3, pad: 1}]
              drop_path: "${0.2 * index / count}"
        body:
          - stages: {block: unit, columns: [repeat], rows: [[2], [2]]}
    """)
    nodes = by_name(g)
    # four blocks, index 0..3 of count 4: p = 0 (no node), 0.05, 0.1, 0.15 (Huang et al. 2016's
    # linear decay, here up to 0.2)
    assert "stage1.0.drop_path" not in nodes
    got = [nodes[f"{b}.drop_path"].attrs["p"] for b in ("stage1.1", "stage2.0", "stage2.1")]
    assert got == pytest.approx([0.05, 0.1, 0.15])
    assert nodes["stage2.1.add"].inputs == ["stage2.1.drop_path", "stage2.0.add"]
    assert g.trainable == 4 * conv_params(4, 4, 3)
    run_torch(g)


def test_drop_path_scales_at_test_time(tmp_path):
    torch = pytest.importorskip("torch")
    g = load(tmp_path, """
        netc: 1
        input: {shape: [3, 4, 4]}
        body:
          - residual:
              name: r
              body: [conv2d: {name: conv, out: 3, kernel: 1, bias: false}]
              drop_path: 0.25
    """)
    assert by_name(g)["r.drop_path"].attrs == {"p": 0.25, "scale": "test"}
    model = run_torch(g).eval()
    with torch.no_grad():
        model.get_parameter("r.conv.weight").copy_(torch.eye(3).reshape(3, 3, 1, 1))
        x = torch.randn(2, 3, 4, 4)
        # eval: x + (1 - p) * body(x), and body is the identity here
        torch.testing.assert_close(model(x), 1.75 * x)


# -- parallel ----------------------------------------------------------------------------------

def test_parallel_list_branches_concat(tmp_path):
    g = load(tmp_path, """
        netc: 1
        input: {shape: [3, 8, 8]}
        body:
          - parallel:
              name: mixed
              branches:
                - [conv2d: {out: 4, kernel: 1}]
                - [conv2d: {out: 6, kernel: 3, pad: 1}, relu]
                - [maxpool: {kernel: 3, stride: 1, pad: 1}]
              then: relu
    """)
    nodes = by_name(g)
    assert list(nodes) == ["mixed.0.0", "mixed.1.0", "mixed.1.1", "mixed.2.0", "mixed.concat",
                           "mixed.out"]
    assert nodes["mixed.concat"].inputs == ["mixed.0.0", "mixed.1.1", "mixed.2.0"]
    assert nodes["mixed.concat"].shape == [4 + 6 + 3, 8, 8]
    assert g.trainable == (4 * 3 + 4) + (6 * 3 * 9 + 6)  # 16 + 168
    run_torch(g)


def test_parallel_mapping_branches_add(tmp_path):
    g = load(tmp_path, """
        netc: 1
        input: {shape: [3, 8, 8]}
        body:
          - parallel:
              name: m
              merge: add
              branches:
                left: [conv2d: {out: 5, kernel: 1}]
                right: [conv2d: {out: 5, kernel: 3, pad: 1}]
    """)
    nodes = by_name(g)
    assert list(nodes) == ["m.left.0", "m.right.0", "m.add"]
    assert nodes["m.add"].shape == [5, 8, 8]
    assert g.trainable == (5 * 3 + 5) + (5 * 3 * 9 + 5)  # 20 + 140
    run_torch(g)


# -- highway -----------------------------------------------------------------------------------

def test_highway(tmp_path):
    torch = pytest.importorskip("torch")
    g = load(tmp_path, """
        netc: 1
        input: {shape: [6]}
        body:
          - highway:
              name: hw
              body: [linear: {out: 6}, relu]
              gate: {name: transform, body: [linear: {out: 6}, sigmoid]}
    """)
    nodes = by_name(g)
    assert list(nodes) == ["hw.0", "hw.1", "hw.transform.0", "hw.transform.1", "hw.gated_sum"]
    assert nodes["hw.gated_sum"].inputs == ["hw.1", "hw.transform.1", "input"]
    assert g.trainable == 2 * (6 * 6 + 6)
    model = run_torch(g).eval()
    with torch.no_grad():  # zero weights: H(x) = relu(0) = 0, T(x) = sigmoid(0) = 1/2
        for p in model.parameters():
            p.zero_()
        x = torch.randn(3, 6)
        torch.testing.assert_close(model(x), 0.5 * x)  # H*T + x*(1-T)


def test_highway_gate_as_a_list(tmp_path):
    g = load(tmp_path, """
        netc: 1
        input: {shape: [4, 6, 6]}
        body:
          - highway: {name: hw, body: [conv2d: {out: 4, kernel: 3, pad: 1}],
                      gate: [conv2d: {out: 4, kernel: 1}, sigmoid]}
    """)
    assert [n.name for n in g.nodes] == ["hw.0", "hw.gate.0", "hw.gate.1", "hw.gated_sum"]
    assert g.trainable == conv_params(4, 4, 3) + conv_params(4, 4, 1)
    run_torch(g)


# -- repeat ------------------------------------------------------------------------------------

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
