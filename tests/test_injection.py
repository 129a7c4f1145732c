"""Injection attempts: no text from a spec, the command line or a run folder becomes code.

Every attempt writes a file named MARK if it ever runs. Each must end in a located error (exit 2)
on both backends, with no MARK; and the last line of defence, the renderer emitters write values
through, must keep a value quoted even when every check before it is bypassed.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import netc
from netc.backends import get_backend
from netc.backends.render import UnsafeValue, lit
from netc.cli import main
from netc.compiler.lint import LintError
from netc.runs import IR_FILE, run_graph

BAD = Path(__file__).resolve().parent / "bad"
ATTEMPTS = sorted(p for p in BAD.glob("*.yaml") if "touch MARK" in p.read_text(encoding="utf-8"))
PAYLOAD = "__import__('os').system('touch MARK')"
SMALL = """\
netc: 1
name: small
params: {width: 4, flag: {type: any, default: false}}
input: {shape: [3, 8, 8]}
body:
  - conv2d: {name: conv, out: $width, kernel: 3, pad: 1, bias: $flag}
  - relu
  - global_avgpool: {name: pool}
  - linear: {name: fc, out: 2}
"""


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert not (tmp_path / "MARK").exists(), "an injected command ran"


def _refused(args) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "error: " in result.output, result.output
    return result.output


def test_the_attempts_cover_each_way_in():
    names = {p.stem for p in ATTEMPTS}
    assert {"block_op_definition_string_bias", "block_op_form_string_bias", "defaults_string_bias",
            "block_param_string_to_bias", "stage_args_string", "name_code", "network_name_code",
            "pad_mode_code", "drop_path_scale_code"} <= names


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("path", ATTEMPTS, ids=lambda p: p.stem)
def test_spec_attempts_are_refused_by_build(path, backend, tmp_path):
    output = _refused(["build", str(path), "--backend", backend, "-o", str(tmp_path / "m.py")])
    assert output.startswith(f"{path}:"), output  # located in the spec
    assert not (tmp_path / "m.py").exists()


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_set_attempt_is_refused(backend, tmp_path):
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL)
    output = _refused(["build", str(spec), "--backend", backend, "--set", f"flag={PAYLOAD}"])
    assert "bias" in output


def test_doc_text_never_reaches_source(tmp_path):
    spec = tmp_path / "doc.yaml"
    spec.write_text(f'doc: "\\"\\"\\"; {PAYLOAD}; \\"\\"\\""\n' + SMALL)
    for backend in ("torch", "keras"):
        assert "MARK" not in netc.emit(str(spec), backend)
    netc.build(str(spec))(__import__("torch").zeros(1, 3, 8, 8))


def _tampered_run(tmp_path, edit) -> Path:
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL)
    data = netc.load(str(spec)).to_json()
    edit(data)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / IR_FILE).write_text(json.dumps(data))
    (run / "checkpoints" / "best.pt").write_bytes(b"not read before the IR is checked")
    return run


def _node(data, name):
    return next(n for n in data["nodes"] if n["name"] == name)


TAMPERINGS = {
    "attribute": lambda d: _node(d, "conv")["attrs"].update(bias=PAYLOAD),
    "attribute_list": lambda d: _node(d, "conv")["attrs"].update(kernel=[3, PAYLOAD]),
    "extra_attribute": lambda d: _node(d, "conv")["attrs"].update(code=PAYLOAD),
    "node_name": lambda d: d["nodes"][0].update(name=f"x'](x); {PAYLOAD}; ('"),
    "network_name": lambda d: d.update(name=f'n"""; {PAYLOAD}; """'),
    "input_name": lambda d: d["input"].update(name=f'i", {PAYLOAD}, "'),
    "op": lambda d: _node(d, "conv").update(op=PAYLOAD),
    "shape": lambda d: _node(d, "conv").update(shape=[4, 9, 9]),
    "param_shape": lambda d: _node(d, "conv")["params"][0].update(shape=[4, 3, 3, 4]),
    "float_channels": lambda d: _node(d, "conv")["attrs"].update(out_channels=4.0),
    "not_finite": lambda d: _node(d, "conv")["attrs"].update(out_channels=float("inf")),
    "structure": lambda d: d.update(nodes={"conv": PAYLOAD}),
    "residual_meta": lambda d: d["meta"].update(residuals=[{"name": [PAYLOAD]}]),
}


@pytest.mark.parametrize("how", TAMPERINGS, ids=str)
def test_tampered_run_folder_is_refused(how, tmp_path):
    run = _tampered_run(tmp_path, TAMPERINGS[how])
    with pytest.raises(Exception) as info:
        run_graph(run)
    assert isinstance(info.value, netc.SpecError) or type(info.value).__name__ == "TrainError"
    output = _refused(["eval", str(run)])
    assert str(run / IR_FILE) in output


def test_untouched_run_folder_reads_back(tmp_path):
    run = _tampered_run(tmp_path, lambda d: None)
    graph, _ = run_graph(run)
    assert graph.content_hash() == netc.load(str(tmp_path / "small.yaml")).content_hash()


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_a_graph_built_in_python_is_linted_again(backend, tmp_path):
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL)
    graph = netc.load(str(spec))
    graph.node("conv").attrs["bias"] = PAYLOAD
    with pytest.raises(LintError, match="bias"):
        netc.emit(graph, backend)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_emitters_quote_text_even_past_every_check(backend, tmp_path):
    """Straight into the backend, skipping lint: the value arrives as a string constant."""
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL)
    graph = netc.load(str(spec))
    graph.node("conv").attrs["bias"] = PAYLOAD
    source = get_backend(backend).emit(graph)
    assert f"bias={PAYLOAD}" not in source and f"use_bias={PAYLOAD}" not in source
    assert repr(PAYLOAD) in source
    compile(source, "<emitted>", "exec")  # still one valid module; the value is data


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), {"a": 1}, b"x", None])
def test_renderer_refuses_what_is_not_a_plain_value(value):
    with pytest.raises(UnsafeValue):
        lit(value)


def test_renderer_writes_plain_values():
    assert lit([1, 2]) == "(1, 2)" and lit((3,)) == "(3,)" and lit(True) == "True"
    assert lit(1e-05) == "1e-05" and lit("it's") == '"it\'s"'
    assert ast.literal_eval(lit(PAYLOAD)) == PAYLOAD
