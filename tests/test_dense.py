"""Dense-prediction ops (transposed convolution, upsampling, resizing to another node's size,
centre cropping) and U-Net: shape, parameter and MAC rules against arithmetic done here, the
torch backend against numpy written from each op's definition, Keras against torch node by node,
Keras's refusals, and U-Net's count against Ronneberger et al. 2015's channel table."""
from __future__ import annotations

import numpy as np
import pytest

import netc
from conftest import EXAMPLES
from netc.backends.base import UnsupportedOp
from netc.spec.errors import SpecError

torch = pytest.importorskip("torch")


def _load(tmp_path, body: str, shape="[2, 5, 6]", name="net.yaml"):
    path = tmp_path / name
    path.write_text(f"netc: 1\nname: dense\ninput: {{shape: {shape}}}\nbody:\n{body}")
    return netc.load(path)


def _run(graph, x: np.ndarray) -> np.ndarray:
    model = netc.build(graph, "torch").eval()
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# -- numpy references, written from the definitions -----------------------------------------------

def _conv_transpose(x, w, b, stride, pad, out_pad):
    """Each input value scatters kernel * value into the full output; torch's `padding` then cuts
    `pad` from each side and output_padding keeps extra rows at the bottom and right."""
    n, _, h, wd = x.shape
    _, o, kh, kw = w.shape
    full = np.zeros((n, o, (h - 1) * stride + kh + out_pad, (wd - 1) * stride + kw + out_pad))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += np.einsum(
                "nc,cohw->nohw", x[:, :, i, j], w)
    cut = full[:, :, pad:full.shape[2] - pad, pad:full.shape[3] - pad]
    return cut + b[None, :, None, None]


def _bilinear_axis(n_in, n_out, align_corners):
    """The (n_out, n_in) matrix that interpolates one axis."""
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        if align_corners:
            src = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        lo = min(int(np.floor(src)), n_in - 1)
        hi = min(lo + 1, n_in - 1)
        m[i, lo] += 1 - (src - lo)
        m[i, hi] += src - lo
    return m


def _bilinear(x, size, align_corners):
    rows = _bilinear_axis(x.shape[2], size[0], align_corners)
    cols = _bilinear_axis(x.shape[3], size[1], align_corners)
    return np.einsum("ih,nchw,jw->ncij", rows, x, cols)


def _nearest(x, size):
    rows = [i * x.shape[2] // size[0] for i in range(size[0])]
    cols = [j * x.shape[3] // size[1] for j in range(size[1])]
    return x[:, :, rows][:, :, :, cols]


# -- rules --------------------------------------------------------------------------------------

def test_conv_transpose_shape_params_and_macs(tmp_path):
    g = _load(tmp_path, "  - conv_transpose2d: {name: up, out: 3, kernel: 3, stride: 2, pad: 1, "
                        "output_pad: 1}\n")
    node = g.node("up")
    assert node.shape == [3, (5 - 1) * 2 - 2 + 3 + 1, (6 - 1) * 2 - 2 + 3 + 1] == [3, 10, 12]
    assert [(p.name, p.shape) for p in node.params] == [("weight", [2, 3, 3, 3]), ("bias", [3])]
    assert node.macs == 5 * 6 * 2 * 3 * 9
    assert g.trainable == 2 * 3 * 9 + 3


def test_resizing_ops_shapes_and_no_weights(tmp_path):
    g = _load(tmp_path, """  - dag:
      name: ""
      nodes:
        - {name: a, body: [upsample: {name: "", scale: [2, 3], mode: bilinear}]}
        - {name: b, from: [a, input], merge: {resize: {mode: bilinear, align_corners: true}}}
        - {name: c, from: [a, b], merge: crop}
        - {name: d, from: [c, b], merge: add}
""", shape="[2, 5, 7]")
    assert g.node("a").shape == [2, 10, 21]
    assert g.node("b.resize").shape == [2, 5, 7]
    assert g.node("c.crop").shape == [2, 5, 7] and g.node("c.crop").attrs["offset"] == [2, 7]
    assert g.trainable == 0 and g.macs == 0


@pytest.mark.parametrize("body, message", [
    ("  - conv_transpose2d: {out: 3, kernel: 2, stride: 2, output_pad: 2}\n", "smaller than the stride"),
    ("  - conv_transpose2d: {out: 3, kernel: 1, pad: 3}\n", "leaves no output"),
    ("  - upsample: {scale: 2, align_corners: true}\n", "bilinear interpolation only"),
    ("  - dag: {nodes: [{name: a, body: [maxpool: {kernel: 2}]},"
     " {name: b, from: [a, input], merge: crop}]}\n", "the reference is larger"),
    ("  - dag: {nodes: [{name: a, from: [input, input], merge: relu}]}\n", "relu"),
    ("  - dag: {nodes: [{name: a, from: input, merge: crop}]}\n", "crop takes 2 inputs, got 1"),
])
def test_bad_dense_specs_are_located_errors(tmp_path, body, message):
    with pytest.raises(SpecError) as info:
        _load(tmp_path, body)
    assert message in str(info.value) and info.value.loc.file.endswith("net.yaml")


def test_a_misspelled_upsample_is_offered_upsample(tmp_path):
    with pytest.raises(SpecError) as info:
        _load(tmp_path, "  - upsampel: {scale: 2}\n")
    assert info.value.hint == "did you mean 'upsample'?"
    assert _load(tmp_path, "  - upsample: {scale: 2}\n").outputs  # `upsample` itself is an op


# -- the torch backend against numpy ---------------------------------------------------------------

@pytest.mark.parametrize("stride, pad, out_pad", [(2, 0, 0), (2, 1, 1), (3, 1, 2), (1, 0, 0)])
def test_torch_conv_transpose_is_the_definition(tmp_path, stride, pad, out_pad):
    g = _load(tmp_path, f"  - conv_transpose2d: {{name: up, out: 3, kernel: 3, stride: {stride}, "
                        f"pad: {pad}, output_pad: {out_pad}}}\n")
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(3)
    model = netc.build(g, "torch").eval()
    model.load_state_dict({"up.weight": torch.tensor(w, dtype=torch.float32),
                           "up.bias": torch.tensor(b, dtype=torch.float32)})
    x = rng.standard_normal((2, 2, 5, 6)).astype(np.float32)
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    want = _conv_transpose(x.astype(np.float64), w, b, stride, pad, out_pad)
    assert got.shape == want.shape == (2, *g.node("up").shape)
    assert np.abs(got - want).max() < 1e-5


@pytest.mark.parametrize("mode, corners", [("bilinear", False), ("bilinear", True), ("nearest", False)])
def test_torch_upsample_and_resize_are_the_definition(tmp_path, mode, corners):
    flag = str(corners).lower()
    g = _load(tmp_path, f"""  - dag:
      name: ""
      nodes:
        - {{name: up, body: [upsample: {{name: "", scale: [2, 3], mode: {mode}, align_corners: {flag}}}]}}
        - {{name: small, from: input, body: [maxpool: {{kernel: 2}}]}}
        - {{name: back, from: [up, small], merge: {{resize: {{mode: {mode}, align_corners: {flag}}}}}}}
""", shape="[2, 5, 7]")
    x = np.random.default_rng(1).standard_normal((1, 2, 5, 7)).astype(np.float32)
    up = (_bilinear(x.astype(np.float64), (10, 21), corners) if mode == "bilinear"
          else _nearest(x, (10, 21)))
    want = _bilinear(up, (2, 3), corners) if mode == "bilinear" else _nearest(up, (2, 3))
    got = _run(g, x)
    assert got.shape == (1, 2, 2, 3)
    assert np.abs(got - want).max() < 1e-5


def test_torch_crop_takes_the_centre(tmp_path):
    g = _load(tmp_path, """  - dag:
      name: ""
      nodes:
        - {name: small, body: [maxpool: {kernel: 3, stride: 2}]}
        - {name: cut, from: [input, small], merge: crop}
""", shape="[1, 8, 7]")
    x = np.arange(56, dtype=np.float32).reshape(1, 1, 8, 7)
    # 8x7 -> 3x3: top (8 - 3) // 2 = 2 rows, left (7 - 3) // 2 = 2 columns; the odd row goes below
    np.testing.assert_array_equal(_run(g, x), x[:, :, 2:5, 2:5])


# -- Keras: the same values, or a refusal ---------------------------------------------------------

KERAS_SPEC = """  - dag:
      name: ""
      nodes:
        - {name: enc, body: [conv2d: {out: 4, kernel: 3}, relu]}
        - {name: down, body: [maxpool: {kernel: 2}, conv2d: {out: 8, kernel: 3}, relu]}
        - {name: up, body: [conv_transpose2d: {out: 4, kernel: 2, stride: 2, output_pad: 1}]}
        - {name: skip, from: [enc, up], merge: crop}
        - {name: dec, from: [skip, up], merge: concat, body: [conv2d: {out: 4, kernel: 1}]}
        - {name: big, body: [upsample: {scale: 2, mode: bilinear}, upsample: {scale: [1, 2]}]}
        - {name: fit, from: [big, input], merge: {resize: {mode: bilinear}}}
        - {name: twice, from: [up, big], merge: {resize: {mode: nearest}}}
        - {name: same, from: [twice, fit], merge: {resize: {mode: bilinear}}}
        - {name: out, from: [fit, same], merge: add}
"""


def test_keras_matches_torch_node_by_node(tmp_path):
    from netc.crosscheck import numeric_check, param_diff

    g = _load(tmp_path, KERAS_SPEC, shape="[3, 20, 20]")
    assert {n.op for n in g.nodes} >= {"conv_transpose2d", "crop", "upsample", "resize"}
    assert g.node("twice.resize").shape == [4, 30, 60]  # 15x15 -> 30x60: whole factors 2 and 4
    assert param_diff(g)["ok"]
    report = numeric_check(g)
    assert report["ok"], report["failed"]


@pytest.mark.parametrize("body, message", [
    ("  - upsample: {scale: 2, mode: bilinear, align_corners: true}\n", "cannot align corners"),
    ("  - dag: {name: '', nodes: [{name: a, body: [maxpool: {kernel: 2}]},"
     " {name: b, from: [a, input], merge: {resize: {mode: bilinear, align_corners: true}}}]}\n",
     "cannot align corners"),
    ("  - dag: {name: '', nodes: [{name: a, body: [maxpool: {kernel: 2, stride: 1}]},"
     " {name: b, from: [a, input], merge: resize}]}\n", "whole upsampling factors"),
    ("  - conv_transpose2d: {out: 3, kernel: 3, stride: 2, pad: 1}\n", "cannot crop torch's padding"),
])
def test_keras_refuses_what_it_cannot_match(tmp_path, body, message):
    g = _load(tmp_path, body)
    netc.emit(g, "torch")  # torch takes each of them
    with pytest.raises(UnsupportedOp) as info:
        netc.emit(g, "keras")
    assert message in str(info.value)


# -- U-Net ----------------------------------------------------------------------------------------

def _unet_count(in_channels=1, classes=2, widths=(64, 128, 256, 512, 1024)) -> int:
    """Ronneberger et al. 2015, Fig. 1: per level two 3x3 convolutions with biases; going up, a
    2x2 up-convolution halves the channels and the concatenation doubles them back."""
    def double(i, o):
        return 9 * i * o + o + 9 * o * o + o

    count, previous = 0, in_channels
    for w in widths:
        count += double(previous, w)
        previous = w
    for w in reversed(widths[:-1]):
        count += 4 * (2 * w) * w + w + double(2 * w, w)
    return count + widths[0] * classes + classes


def test_unet_is_the_papers():
    g = netc.load(EXAMPLES / "unet.yaml")
    assert _unet_count() == 31_030_658
    assert g.trainable == _unet_count()
    assert g.input_shape == [1, 572, 572] and g.shape_of(g.outputs[0]) == [2, 388, 388]
    # the paper's Fig. 1: the crops cut 568 -> 392, 280 -> 200, 136 -> 104, 64 -> 56
    assert [g.node(f"skip{k}.crop").shape[1] for k in (1, 2, 3, 4)] == [392, 200, 104, 56]
    assert [g.shape_of(g.value_of(f"down{k}"))[1] for k in (1, 2, 3, 4)] == [568, 280, 136, 64]


def test_unet_same_keeps_the_size_with_the_same_weights():
    g = netc.load(EXAMPLES / "unet_same.yaml", {"size": 64})
    assert g.trainable == _unet_count()
    assert g.shape_of(g.outputs[0]) == [2, 64, 64]
    assert all(n.attrs["offset"] == [0, 0] for n in g.nodes if n.op == "crop")


def test_unet_torch_source_has_one_class_per_block():
    source = netc.emit(netc.load(EXAMPLES / "unet.yaml", {"size": 188}), "torch")
    for line in ("class DoubleConv(nn.Module):", "class Down(nn.Module):",
                 "self.down2 = Down(in_channels=64, out=128)",
                 "self.dec4 = DoubleConv(in_channels=1024, out=512)",
                 "self.up4 = nn.ConvTranspose2d(1024, 512, kernel_size=(2, 2), stride=(2, 2), bias=True)"):
        assert line in source
    model = netc.build(netc.load(EXAMPLES / "unet.yaml", {"size": 188}), "torch").eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 188, 188)).shape == (1, 2, 4, 4)  # 16 * 4 + 124 -> 4


# -- several outputs --------------------------------------------------------------------------------

OUTPUTS_SPEC = """  - conv2d: {name: stem, out: 4, kernel: 3, stride: 2, pad: 1}
  - relu: {name: act}
  - dag:
      name: ""
      nodes:
        - {name: deep, body: [conv2d: {name: "", out: 6, kernel: 3, stride: 2, pad: 1}]}
        - {name: aux, from: stem, body: [conv2d: {name: "", out: 2, kernel: 1}]}
        - {name: out, from: [deep, input], merge: {resize: {mode: bilinear}}}
outputs: [out, aux, deep]
"""


def test_named_outputs_in_order_on_both_backends(tmp_path):
    from netc.crosscheck import numeric_check

    g = _load(tmp_path, OUTPUTS_SPEC, shape="[3, 16, 16]")
    assert g.outputs == ["out.resize", "aux", "deep"]
    assert [(o["name"], o["channels"], o.get("reduction")) for o in g.meta["outputs"]] == [
        ("out", 6, 2), ("aux", 2, 2), ("deep", 6, 4)]  # the dag's `input` is its own: act
    x = np.random.default_rng(2).standard_normal((1, 3, 16, 16)).astype(np.float32)
    with torch.no_grad():
        outs = netc.build(g, "torch").eval()(torch.from_numpy(x))
    assert [tuple(o.shape) for o in outs] == [(1, 6, 8, 8), (1, 2, 8, 8), (1, 6, 4, 4)]
    keras_model = netc.build(g, "keras")
    assert [tuple(o.shape[1:]) for o in keras_model.outputs] == [(8, 8, 6), (8, 8, 2), (4, 4, 6)]
    report = numeric_check(g)
    assert report["ok"], report["failed"]
    assert {"out.resize", "aux", "deep"} <= {r["name"] for r in report["nodes"]}


def test_an_unknown_output_is_a_located_error(tmp_path):
    with pytest.raises(SpecError) as info:
        _load(tmp_path, OUTPUTS_SPEC.replace("[out, aux, deep]", "[out, auxx]"), shape="[3, 16, 16]")
    assert "output 'auxx' names no layer" in str(info.value) and info.value.hint == "did you mean 'aux'?"
    assert info.value.loc.file.endswith("net.yaml")


def test_cli_feature_extractor_reports_channels_and_reduction():
    from click.testing import CliRunner

    from netc.cli import main

    spec = str(EXAMPLES / "resnet18.yaml")
    result = CliRunner().invoke(main, ["summary", spec, "--outputs", "layer2,layer3,layer4"])
    assert result.exit_code == 0, result.output
    assert ("  layer2 (layer2.1.out): 128 channels, reduction 8\n"
            "  layer3 (layer3.1.out): 256 channels, reduction 16\n"
            "  layer4 (layer4.1.out): 512 channels, reduction 32") in result.output
    assert "fc" not in result.output.split("outputs:")[0].split()  # the classifier is dropped
    result = CliRunner().invoke(main, ["build", spec, "--outputs", "layer2,layer4"])
    assert result.exit_code == 0 and "self.fc" not in result.output
    model_globals = {}
    exec(compile(result.output, "feature_extractor.py", "exec"), model_globals)
    with torch.no_grad():
        f2, f4 = model_globals["build_model"]().eval()(torch.zeros(1, 3, 64, 64))
    assert f2.shape == (1, 128, 8, 8) and f4.shape == (1, 512, 2, 2)
    result = CliRunner().invoke(main, ["summary", spec, "--outputs", "layer9"])
    assert result.exit_code == 2 and "did you mean 'layer4'?" in result.output
