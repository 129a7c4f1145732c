"""The core commands through click's CliRunner, and `validate`/`summary` without a framework."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from netc.cli import main
from netc.spec.schema import SCHEMA_PATH, build_schema

ROOT = Path(__file__).resolve().parent.parent
SPEC = """\
netc: 1
name: small
params: {width: 4}
input: {shape: [3, 8, 8]}
body:
  - conv2d: {name: conv, out: $width, kernel: 3, pad: 1, bias: false}
  - batchnorm: {name: bn}
  - relu
  - global_avgpool: {name: pool}
  - linear: {name: fc, out: 2}
"""
# by hand: conv 4*3*9 = 108, bn 8 affine + 8 statistics, fc 4*2 + 2 = 10
TRAINABLE = 108 + 8 + 10
MACS = 4 * 8 * 8 * 27 + 8


@pytest.fixture
def spec(tmp_path) -> str:
    path = tmp_path / "small.yaml"
    path.write_text(SPEC)
    return str(path)


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_validate(spec):
    result = invoke("validate", spec)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{spec}: ok (5 nodes, {TRAINABLE} parameters)"


def test_validate_with_set(spec):
    result = invoke("validate", "--set", "width=8", spec)
    assert result.exit_code == 0, result.output
    assert f"{8 * 27 + 16 + 8 * 2 + 2} parameters" in result.output


def test_bad_set_syntax_is_a_usage_error(spec):
    result = invoke("validate", "--set", "width", spec)
    assert result.exit_code == 2 and "expected NAME=VALUE" in result.output


def test_missing_spec_file(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    result = invoke("validate", missing)
    assert result.exit_code == 2
    assert result.output.startswith(f"{missing}: error: no such file")
    assert "Traceback" not in result.output


def test_summary_text(spec):
    result = invoke("summary", spec)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "small: input 3x8x8"
    row = next(line.split() for line in lines if line.startswith("conv "))
    assert row == ["conv", "conv2d", "4x8x8", "108", f"{4 * 8 * 8 * 27:,}"]
    assert f"trainable parameters: {TRAINABLE}" in result.output
    assert "norm statistics:      8" in result.output
    assert f"MACs:                 {MACS:,}" in result.output


def test_summary_json(spec):
    result = invoke("summary", "--json", spec)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [n["name"] for n in data["nodes"]] == ["conv", "bn", "2", "pool", "fc"]
    assert data["nodes"][4] == {"name": "fc", "op": "linear", "shape": [2], "params": 10,
                                "trainable": 10, "macs": 8}
    assert data["totals"]["trainable"] == TRAINABLE
    assert data["totals"]["norm_statistics"] == 8
    assert data["totals"]["macs"] == MACS
    assert len(data["ir_hash"]) == 16


def test_build_writes_source_that_runs(spec, tmp_path):
    torch = pytest.importorskip("torch")
    out = tmp_path / "model.py"
    result = invoke("build", spec, "--backend", "torch", "-o", str(out))
    assert result.exit_code == 0, result.output
    source = out.read_text()
    assert "def build_model()" in source
    namespace = {}
    exec(compile(source, str(out), "exec"), namespace)  # netc's own output, as a user would run it
    model = namespace["build_model"]()
    assert sum(p.numel() for p in model.parameters()) == TRAINABLE
    assert set(model.state_dict()) >= {"conv.weight", "bn.running_mean", "fc.weight", "fc.bias"}
    y = model(torch.randn(2, 3, 8, 8))
    assert tuple(y.shape) == (2, 2)
    y.sum().backward()


def test_build_to_stdout(spec):
    pytest.importorskip("torch")
    result = invoke("build", spec)
    assert result.exit_code == 0 and "def build_model()" in result.output


def test_build_with_an_unknown_backend(spec):
    result = invoke("build", spec, "--backend", "jax")
    assert result.exit_code == 2
    assert result.output == "error: unknown backend 'jax'; available: keras, torch\n"


def test_build_into_a_missing_folder(spec, tmp_path):
    out = tmp_path / "no" / "model.py"
    result = invoke("build", spec, "-o", str(out))
    assert result.exit_code == 2
    assert result.output == f"{out}: error: No such file or directory\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_build_onto_a_full_device_names_it(spec):
    result = invoke("build", spec, "-o", "/dev/full")
    assert result.exit_code == 2
    assert result.output == "/dev/full: error: No space left on device\n"


def test_build_refuses_to_overwrite_the_spec_or_its_includes(tmp_path):
    (tmp_path / "lib").mkdir()
    library = tmp_path / "lib" / "blocks.yaml"
    library.write_text("netc: 1\nblocks:\n  unit:\n    body:\n      - relu\n")
    main_spec = tmp_path / "net.yaml"
    main_spec.write_text(SPEC.replace("netc: 1\n", "netc: 1\ninclude: [lib/blocks.yaml]\n"))
    (tmp_path / "alias.yaml").symlink_to(main_spec)
    before = {path: path.read_text() for path in (main_spec, library)}
    for output, what in ((main_spec, "the spec"), (tmp_path / "alias.yaml", "the spec"),
                         (library, f"{tmp_path / 'lib' / 'blocks.yaml'}, which the spec includes")):
        result = invoke("build", str(main_spec), "-o", str(output))
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"error: -o {output} is {what}; writing the model")
    assert {path: path.read_text() for path in before} == before
    assert invoke("build", str(main_spec), "-o", str(tmp_path / "net.py")).exit_code == 0


def test_an_os_error_names_both_paths():
    import errno

    import click

    from netc.cli import NetcGroup

    @click.group(cls=NetcGroup)
    def group():
        pass

    @group.command()
    def move():
        raise OSError(errno.EXDEV, "Invalid cross-device link", "a.txt", None, "b.txt")

    result = CliRunner().invoke(group, ["move"])
    assert result.exit_code == 2
    assert result.output == "a.txt -> b.txt: error: Invalid cross-device link\n"


def test_schema_command_and_file_match_the_registry():
    result = invoke("schema")
    assert result.exit_code == 0
    assert json.loads(result.output) == build_schema()
    assert json.loads(SCHEMA_PATH.read_text()) == build_schema(), \
        "schema.json is stale: run `python -m netc.spec.schema --write`"


def test_ops_lists_arguments():
    result = invoke("ops")
    assert result.exit_code == 0
    conv = next(line for line in result.output.splitlines() if line.startswith("conv2d "))
    assert conv.split()[1:] == ["out,", "kernel,", "stride=1,", "pad=0,", "dilation=1,",
                                "groups=1,", "bias=True,", "depthwise_layer=True,",
                                "init={'kind':", "'default'},",
                                "bias_init={'kind':", "'default'}"]


FRAMEWORK_PROBE = textwrap.dedent("""
    import sys
    from netc.cli import main
    try:
        main(sys.argv[1:], standalone_mode=False)
    except SystemExit:
        pass
    print("LOADED", "torch" in sys.modules, "tensorflow" in sys.modules, "keras" in sys.modules)
""")


@pytest.mark.parametrize("command", [["validate"], ["summary"], ["summary", "--json"]])
def test_validate_and_summary_import_no_framework(spec, command):
    proc = subprocess.run([sys.executable, "-c", FRAMEWORK_PROBE, *command, spec], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "small" in proc.stdout  # the command ran
    assert proc.stdout.strip().splitlines()[-1] == "LOADED False False False"
