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


def test_resnet50_rows_are_table_1():
    got = [(r.name, r.size, r.layers, r.repeat) for r in rows(netc.load(RESNET50))]
    assert got == RESNET50_TABLE


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
