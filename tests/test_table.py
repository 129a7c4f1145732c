"""`netc table`: the architecture table read from the IR, held against the papers' own tables."""
from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

import netc
from conftest import EXAMPLES
from netc.cli import main
from netc.table import latex, markdown, rows

RESNET50 = EXAMPLES / "resnet50.yaml"

# He et al. 2016, Table 1, the 50-layer column, written out by hand; torchvision's names.
RESNET50_TABLE = [
    ("conv1", "112x112", ["7x7, 64, stride 2"], 1),
    ("maxpool", "56x56", ["3x3 max pool, stride 2"], 1),
    ("layer1", "56x56", ["1x1, 64", "3x3, 64", "1x1, 256"], 3),
    ("layer2", "28x28", ["1x1, 128", "3x3, 128", "1x1, 512"], 4),
    ("layer3", "14x14", ["1x1, 256", "3x3, 256", "1x1, 1024"], 6),
    ("layer4", "7x7", ["1x1, 512", "3x3, 512", "1x1, 2048"], 3),
    ("avgpool", "1x1", ["global average pool"], 1),
    ("fc", "1x1", ["fc, 1000"], 1),
]


# Sandler et al. 2018, Table 2, one row per "t, c, n, s" line; a bottleneck is the 1x1 expansion
# to t times its input width (left out at t = 1), the 3x3 depthwise and the 1x1 projection to c,
# and the first block's stride s is read off the output size. Names are torchvision's `features`
# list, which the stages' empty name leaves one level deep.
MOBILENET_V2_TABLE = [
    ("features.0.0", "112x112", ["3x3, 32, stride 2"], 1),                              # conv2d, 32, 1, 2
    ("features.1", "112x112", ["3x3, 32, depthwise", "1x1, 16"], 1),                    # 1, 16, 1, 1
    ("features.2-3", "56x56", ["1x1, 96", "3x3, 96, depthwise", "1x1, 24"], 2),         # 6, 24, 2, 2
    ("features.4-6", "28x28", ["1x1, 144", "3x3, 144, depthwise", "1x1, 32"], 3),       # 6, 32, 3, 2
    ("features.7-10", "14x14", ["1x1, 192", "3x3, 192, depthwise", "1x1, 64"], 4),      # 6, 64, 4, 2
    ("features.11-13", "14x14", ["1x1, 384", "3x3, 384, depthwise", "1x1, 96"], 3),     # 6, 96, 3, 1
    ("features.14-16", "7x7", ["1x1, 576", "3x3, 576, depthwise", "1x1, 160"], 3),      # 6, 160, 3, 2
    ("features.17", "7x7", ["1x1, 960", "3x3, 960, depthwise", "1x1, 320"], 1),         # 6, 320, 1, 1
    ("features.18.0", "7x7", ["1x1, 1280"], 1),                                         # conv2d 1x1, 1280
    ("avgpool", "1x1", ["global average pool"], 1),
    ("classifier.1", "1x1", ["fc, 1000"], 1),
]

# Simonyan & Zisserman 2015, Table 1, configuration D: conv3-64 x 2, maxpool, conv3-128 x 2,
# maxpool, conv3-256 x 3, maxpool, conv3-512 x 3, maxpool, conv3-512 x 3, maxpool, FC-4096,
# FC-4096, FC-1000. torchvision numbers `features` flat, so a stage is named by its first and last
# convolution; the adaptive pool before the classifier is torchvision's.
VGG16_TABLE = [
    ("features.0-2", "224x224", ["3x3, 64"], 2),
    ("features.4", "112x112", ["2x2 max pool, stride 2"], 1),
    ("features.5-7", "112x112", ["3x3, 128"], 2),
    ("features.9", "56x56", ["2x2 max pool, stride 2"], 1),
    ("features.10-14", "56x56", ["3x3, 256"], 3),
    ("features.16", "28x28", ["2x2 max pool, stride 2"], 1),
    ("features.17-21", "28x28", ["3x3, 512"], 3),
    ("features.23", "14x14", ["2x2 max pool, stride 2"], 1),
    ("features.24-28", "14x14", ["3x3, 512"], 3),
    ("features.30", "7x7", ["2x2 max pool, stride 2"], 1),
    ("avgpool", "7x7", ["adaptive average pool to 7x7"], 1),
    ("classifier.0", "1x1", ["fc, 4096"], 1),
    ("classifier.3", "1x1", ["fc, 4096"], 1),
    ("classifier.6", "1x1", ["fc, 1000"], 1),
]


def _rows(path):
    return [(r.name, r.size, r.layers, r.repeat) for r in rows(netc.load(path))]


def test_resnet50_rows_are_table_1():
    assert _rows(RESNET50) == RESNET50_TABLE


def test_mobilenet_v2_rows_are_table_2():
    # its seven stages share one namespace (an empty stage name): blocks, not names, set them apart
    assert _rows(EXAMPLES / "mobilenet_v2.yaml") == MOBILENET_V2_TABLE


def test_vgg16_rows_are_table_1_configuration_d():
    assert _rows(EXAMPLES / "vgg16.yaml") == VGG16_TABLE


def test_vgg16_bn_has_the_same_stages_its_norms_renumbered():
    got = _rows(EXAMPLES / "vgg16_bn.yaml")
    assert [(r[1], r[2], r[3]) for r in got] == [(r[1], r[2], r[3]) for r in VGG16_TABLE]
    assert [r[0] for r in got][:3] == ["features.0-3", "features.6", "features.7-10"]


def test_markdown_prints_the_conv2_x_row_as_the_paper_does():
    text = markdown(netc.load(RESNET50))
    assert "| layer | output size | layers |" in text
    assert "| layer1 | 56x56 | [1x1, 64; 3x3, 64; 1x1, 256] x 3 |" in text
    assert "| conv1 | 112x112 | 7x7, 64, stride 2 |" in text


def test_latex_is_a_tabular_with_stacked_blocks():
    text = latex(netc.load(RESNET50))
    assert text.startswith(r"\begin{tabular}{lll}") and text.rstrip().endswith(r"\end{tabular}")
    assert (r"layer1 & 56$\times$56 & $\left[\begin{tabular}{@{}l@{}}1$\times$1, 64\\ "
            r"3$\times$3, 64\\ 1$\times$1, 256\end{tabular}\right]$ $\times$ 3 \\") in text
    assert r"conv1 & 112$\times$112 & 7$\times$7, 64, stride 2 \\" in text


def test_latex_escapes_names():
    text = latex(netc.load(EXAMPLES / "papers" / "inception_v4.yaml"))
    assert r"inception\_a & 35$\times$35" in text


def test_grouped_convolutions_show_cardinality():
    # Xie et al. 2017, Table 1 writes ResNeXt's grouped 3x3 as "3x3, 128, C=32".
    table = rows(netc.load(EXAMPLES / "papers" / "resnext29_8x64d_cifar.yaml"))
    assert table[1].layers == ["1x1, 512", "3x3, 512, C=8", "1x1, 256"]


def test_transitions_between_stages_are_their_own_rows():
    # Huang et al. 2017, Table 1: "Transition Layer (1) | 56x56 | 1x1 conv; 28x28 | 2x2 average pool"
    table = rows(netc.load(EXAMPLES / "papers" / "densenet264.yaml"))
    names = [(r.name, r.size, r.layers) for r in table]
    assert ("features.denseblock1", "56x56", ["1x1, 128", "3x3, 32"]) in names
    assert ("features.transition1.conv", "56x56", ["1x1, 128"]) in names
    assert ("features.transition1.pool", "28x28", ["2x2 avg pool, stride 2"]) in names
    assert [r.repeat for r in table if r.stage] == [6, 12, 64, 48]


def test_cli_markdown_and_latex():
    runner = CliRunner()
    result = runner.invoke(main, ["table", str(RESNET50)])
    assert result.exit_code == 0, result.output
    assert "| layer4 | 7x7 | [1x1, 512; 3x3, 512; 1x1, 2048] x 3 |" in result.output
    result = runner.invoke(main, ["table", "--latex", "--set", "num_classes=10", str(RESNET50)])
    assert result.exit_code == 0, result.output
    assert r"fc & 1$\times$1 & fc, 10 \\" in result.output


def test_cli_reports_a_spec_error_located(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("netc: 1\nname: bad\ninput: {shape: [3, 8, 8]}\nbody:\n  - conv2: {out: 4, kernel: 3}\n")
    result = CliRunner().invoke(main, ["table", str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml:5" in result.output and "conv2d" in result.output


def test_table_imports_no_framework():
    code = ("import sys, netc; from netc.table import markdown; "
            f"markdown(netc.load({str(RESNET50)!r})); "
            "bad = [m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


FLAT_SPEC = """netc: 1
name: flat
input: {shape: [3, 8, 8]}
blocks:
  pair:
    params: {width: int}
    body:
      - conv2d: {out: $width, kernel: 3, pad: 1}
      - relu
      - conv2d: {out: $width, kernel: 1}
body:
  - seq:
      name: features
      numbering: flat
      body:
        - stages: {block: pair, columns: [repeat, width], rows: [[1, 4], [3, 8]],
                   between: {maxpool: {kernel: 2}}}
  - global_avgpool: {name: pool}
"""


def test_flat_numbered_blocks_of_several_layers(tmp_path):
    # features.0-2 is the one-block stage, 3 the pool, 4-6, 7-9 and 10-12 the three pairs. A block
    # runs up to the next block's first layer, so the three-block stage is whole; the IR does not
    # say where a lone flat block ends, so its second convolution gets a row of its own.
    spec = tmp_path / "flat.yaml"
    spec.write_text(FLAT_SPEC)
    assert _rows(spec) == [
        ("features.0", "8x8", ["3x3, 4"], 1),
        ("features.2", "8x8", ["1x1, 4"], 1),
        ("features.3", "4x4", ["2x2 max pool, stride 2"], 1),
        ("features.4-10", "4x4", ["3x3, 8", "1x1, 8"], 3),
        ("pool", "1x1", ["global average pool"], 1),
    ]


UNNAMED_SPEC = """netc: 1
name: unnamed
input: {shape: [3, 8, 8]}
blocks:
  unit:
    params: {width: int}
    body:
      - conv2d: {name: "conv{index}", out: $width, kernel: 3, pad: 1}
body:
  - stages: {block: unit, name: "", block_name: "", columns: [repeat, width], rows: [[2, 4]]}
"""


def test_blocks_without_names_are_listed_layer_by_layer(tmp_path):
    # Keras's MobileNet names each layer, not each block (conv_dw_1, conv_pw_1, ...)
    spec = tmp_path / "unnamed.yaml"
    spec.write_text(UNNAMED_SPEC)
    assert _rows(spec) == [("conv0", "8x8", ["3x3, 4"], 1), ("conv1", "8x8", ["3x3, 4"], 1)]


# Dosovitskiy et al. 2021, Table 1: layers, hidden size D, MLP size, heads of each ViT; the
# parameter counts are torchvision's (REFERENCES.yaml), printed in millions.
VIT_TABLE = {"vit_b_16": (12, 768, 3072, 12, "86.6M"), "vit_l_32": (24, 1024, 4096, 16, "306.5M"),
             "vit_h_14": (32, 1280, 5120, 16, "632.0M")}


def test_a_vision_transformer_is_tabled_as_the_paper_tables_it():
    for name, (layers, hidden, mlp, heads, params) in VIT_TABLE.items():
        text = markdown(netc.load(EXAMPLES / f"{name}.yaml"))
        assert text.splitlines()[0] == "| Model | Layers | Hidden size D | MLP size | Heads | Params |"
        assert text.splitlines()[2] == f"| {name} | {layers} | {hidden} | {mlp} | {heads} | {params} |"
    tex = latex(netc.load(EXAMPLES / "vit_b_16.yaml"))
    assert r"vit\_b\_16 & 12 & 768 & 3072 & 12 & 86.6M \\" in tex
