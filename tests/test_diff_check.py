"""`netc diff` and `netc check` through the CLI: clean on a correct backend, and exit 1 when a
backend miscounts or miscomputes."""
import json
import re

import pytest
from click.testing import CliRunner

from netc.backends.keras import KerasBackend, layout
from netc.cli import main

pytest.importorskip("keras")
pytest.importorskip("torch")

SPEC = """
netc: 1
name: tiny
params: {size: 12}
input: {shape: [3, $size, $size]}
body:
  - conv2d: {name: conv, out: 8, kernel: 3, stride: 2, pad: 1, bias: false}
  - batchnorm: {name: bn}
  - relu
  - maxpool: {name: pool, kernel: 3, stride: 2, pad: 1}
  - flatten: {name: flat}
  - linear: {name: fc, out: 4}
"""
# By hand: conv 8*3*3*3 = 216 weights; bn 8 + 8 affine, 8 + 8 statistics;
# at 12x12 the pool gives 8x3x3 = 72 features, fc 72*4 = 288 weights + 4 biases.


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC)
    return str(path)


def test_diff_json_counts_by_kind_and_explains_keras_total(spec):
    done = CliRunner().invoke(main, ["diff", spec, "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    expected = {"weight": 504, "bias": 4, "norm-affine": 16, "norm-statistic": 16}
    assert report["totals"] == {"ir": expected, "torch": expected, "keras": expected}
    assert report["headlines"]["torch"]["value"] == 524
    assert report["headlines"]["keras"]["value"] == 540
    assert "keras count_params() counts batch-norm moving statistics: +16" in report["headlines"]["keras"]["notes"]
    assert report["ok"] and not report["problems"]


def test_diff_text_table(spec):
    done = CliRunner().invoke(main, ["diff", spec, "--set", "size=20"])
    assert done.exit_code == 0, done.output
    assert re.search(r"\nfc +linear +804 +804 +804\n", done.output)  # 8x5x5 = 200 features: 800 + 4
    assert "ok: every backend holds exactly the IR's parameters" in done.output


def test_diff_exits_1_when_a_backend_miscounts(spec, monkeypatch):
    real = KerasBackend.count

    def lossy(self, model, graph):
        counts = real(self, model, graph)
        counts["fc"] = {"weight": counts["fc"]["weight"]}  # a backend that lost fc's bias
        return counts

    monkeypatch.setattr(KerasBackend, "count", lossy)
    done = CliRunner().invoke(main, ["diff", spec])
    assert done.exit_code == 1
    assert "DISAGREEMENT fc: keras holds 0 bias values, the IR 4" in done.output


def test_check_passes_node_by_node(spec):
    done = CliRunner().invoke(main, ["check", spec, "--input-size", "10", "10"])
    assert done.exit_code == 0, done.output
    assert "tiny: input 1x3x10x10" in done.output
    for node in ("conv", "bn", "pool", "flat", "fc"):
        assert f"\n{node} " in done.output
    assert "ok: worst node error" in done.output


def test_check_json_and_exit_1_on_a_wrong_layout(spec, monkeypatch):
    # A conv layout that swaps the kernel's H and W: a 3x3 kernel transposed is a different
    # kernel, so the outputs differ from conv on, and the check blames conv alone.
    swapped = layout.Slot("kernel", lambda w: w.transpose(3, 2, 1, 0), lambda k: k.transpose(3, 2, 1, 0))
    monkeypatch.setitem(layout.RULES, "conv2d", lambda attrs: {"weight": swapped})
    done = CliRunner().invoke(main, ["check", spec, "--json"])
    assert done.exit_code == 1
    report = json.loads(done.output)
    alone = {row["name"]: row["max_abs_error"]["keras"] for row in report["nodes"]}
    chained = {row["name"]: row["chained_error"]["keras"] for row in report["nodes"]}
    assert report["failed"] == ["conv"]  # located: every node after it is right given its inputs
    assert alone["conv"] > 1e-3 and alone["fc"] < 1e-5
    assert chained["fc"] > 1e-3 and report["final"]["keras"] == chained["fc"]
    assert not report["ok"]


def _check_json(spec):
    done = CliRunner().invoke(main, ["check", spec, "--json"])
    return done.exit_code, json.loads(done.output)


def test_check_limits_follow_float32_rounding(spec):
    code, report = _check_json(spec)
    assert code == 0 and report["ok"]
    rows = {row["name"]: row for row in report["nodes"]}
    unit = 2.0 ** -24
    # conv sums 3*3*3 = 27 products per output, fc 72; two implementations, LAMBDA 4, +4 roundings
    assert rows["conv"]["limit"] == pytest.approx(2 * 4 * unit * (27 + 4) * rows["conv"]["scale"])
    assert rows["fc"]["limit"] == pytest.approx(2 * 4 * unit * (72 + 4) * rows["fc"]["scale"])
    assert rows["conv"]["limit"] < 2e-5 * rows["conv"]["scale"]
    for backend in ("torch", "keras"):
        assert 0 < report["final_exact"][backend] <= report["final_limit"]
    assert report["final_limit"] < 1e-3 * rows["fc"]["scale"]


def test_check_catches_one_slightly_wrong_kernel_element(spec, monkeypatch):
    # One of conv's 216 weights off by 1% of the largest: a few outputs move by ~1e-3 of the
    # node's scale, against a limit of ~1.5e-5 of it.
    real = KerasBackend.import_weights

    def nudged(self, model, graph, weights):
        weights = dict(weights)
        kernel = weights["conv.weight"].copy()
        kernel[3, 1, 1, 1] += 0.01 * abs(kernel).max()
        real(self, model, graph, {**weights, "conv.weight": kernel})

    monkeypatch.setattr(KerasBackend, "import_weights", nudged)
    code, report = _check_json(spec)
    assert code == 1 and not report["ok"]
    assert report["failed"] == ["conv"]
    assert report["drifted"] == ["keras"]


def test_check_catches_a_different_batchnorm_epsilon(spec, monkeypatch):
    # Keras's default epsilon (1e-3) where the IR says 1e-5: outputs move by ~5e-4 / variance.
    from netc.backends.keras import keras_name

    real = KerasBackend.load

    def other_eps(self, source, graph):
        model = real(self, source, graph)
        model.get_layer(keras_name("bn")).epsilon = 1e-3
        return model

    monkeypatch.setattr(KerasBackend, "load", other_eps)
    code, report = _check_json(spec)
    assert code == 1 and not report["ok"]
    assert report["failed"] == ["bn"]
