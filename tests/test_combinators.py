"""Every combinator of the spec language, checked on small networks: node names, shapes and
parameter counts worked out by hand (in the comments), then the emitted torch model runs forward
and backward. A conv's parameters are out * in/groups * k*k (+ out for a bias)."""
from __future__ import annotations

import pytest

from combinator_helpers import by_name, conv_params, load, run_torch
from netc.spec.errors import SpecError


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



@pytest.mark.parametrize("scale, kept", [("test", 1.0), ("train", 2.0)])
def test_drop_path_drops_whole_samples_in_training_only(tmp_path, scale, kept):
    torch = pytest.importorskip("torch")
    g = load(tmp_path, f"""
        netc: 1
        input: {{shape: [3, 4, 4]}}
        body:
          - residual:
              name: r
              body: [conv2d: {{name: conv, out: 3, kernel: 1, bias: false}}]
              drop_path: 0.5
              drop_path_scale: {scale}
    """)
    model = run_torch(g).train()
    torch.manual_seed(0)
    with torch.no_grad():
        model.get_parameter("r.conv.weight").copy_(torch.eye(3).reshape(3, 3, 1, 1))
        x = torch.ones(256, 3, 4, 4)
        branch = (model(x) - x).reshape(256, -1)  # the residual branch of each sample
    assert set(branch.unique().tolist()) <= {0.0, kept}
    assert (branch == branch[:, :1]).all()  # a sample's branch is dropped whole, or kept whole
    assert 80 < int((branch[:, 0] == 0).sum()) < 176  # about half, p = 0.5
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), x + (0.5 if scale == "test" else 1.0) * x)


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
