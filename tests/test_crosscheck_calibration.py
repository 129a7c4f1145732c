"""`calibrated_weights` on a deep residual net with small maps, where statistics measured on other
inputs than the checked one let activations grow by a factor per block (EfficientNet V2-L to
1e6): every batch norm stays within what its measured statistics allow, and `netc check` on
these weights still passes a correct backend and locates a wrong weight or a batch norm that
normalises with the checked input's own statistics."""
import numpy as np
import pytest

import netc
from conftest import EXAMPLES
from netc.backends.keras import KerasBackend
from netc.crosscheck import build_models, numeric_check
from netc.crosscheck.check import calibrated_weights, exact_values

pytest.importorskip("keras")
pytest.importorskip("torch")

# EfficientNetV2's blocks at 16x16: 12 MBConv blocks with squeeze-and-excitation on a 2x2 map.
SPEC = """
netc: 1
name: deep_mbconv
input: {shape: [3, 16, 16]}
include: [%s]
body:
  - conv_norm_act: {name: stem, out: 16, stride: 2, act: silu, eps: 0.001}
  - stages:
      block: mbconv
      name: "stage{stage}"
      columns: [fused, expand, kernel, stride, out, repeat]
      first: [stride]
      args: {eps: 0.001}
      rows:
        - [true,  4, 3, 2, 24, 2]
        - [false, 6, 3, 2, 32, 12]
  - global_avgpool: {name: avgpool}
  - linear: {name: fc, out: 10}
"""
LAST = "stage2.11.block"  # the last block's layers


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("calibration") / "deep_mbconv.yaml"
    path.write_text(SPEC % (EXAMPLES / "lib" / "efficientnet.yaml"))
    return netc.load(str(path))


@pytest.fixture(scope="module")
def models(graph):
    return build_models(graph)


def test_every_batch_norm_stays_within_its_measured_statistics(graph):
    x = np.random.default_rng(1).standard_normal((1, *graph.input_shape)).astype(np.float32)
    weights = calibrated_weights(graph, seed=0, batch=4, x=x)
    values = exact_values(graph, weights, x)
    norms = [n for n in graph.nodes if n.op == "batchnorm"]
    for node in norms:
        # Measured on x and 3 other inputs: n values per channel. Each lies within
        # (n - 1) / sqrt(n) unbiased standard deviations of their mean (Samuelson's inequality);
        # the stored mean is off by 0.1 std times a normal draw (< 6), the stored variance at
        # least 0.9 of the measured one; then gamma (< 1.5) and beta.
        n = 4 * int(np.prod(node.shape[1:]))
        beta = np.abs(weights[f"{node.name}.bias"]).max()
        bound = ((n - 1) / np.sqrt(n) + 0.6) / np.sqrt(0.9) * 1.5 + beta
        assert np.abs(values[node.name]).max() <= bound, node.name
    # The residual stream sums one branch per block: without calibration on the checked input
    # the last blocks reach ~120-220 here (and V2-L 1e6), where float32 rounding is the output's size.
    assert max(np.abs(v).max() for v in values.values()) < 64
    assert np.abs(values["fc"]).max() < 16


def test_check_passes_a_deep_residual_net_end_to_end(graph, models):
    report = numeric_check(graph, models=models)
    assert report["ok"], (report["failed"][:3], report["final_exact"], report["final_limit"])
    assert max(report["final_exact"].values()) < 1e-3 * max(r["scale"] for r in report["nodes"]
                                                             if r["name"] == "fc")


def _keras_weights_changed(monkeypatch, change):
    real = KerasBackend.import_weights

    def changed(self, model, graph, weights):
        real(self, model, graph, change(graph, dict(weights)))

    monkeypatch.setattr(KerasBackend, "import_weights", changed)


def test_check_locates_one_wrong_weight_in_the_last_block(graph, models, monkeypatch):
    def nudged(graph, weights):  # one depthwise weight of the last block off by 1% of the largest
        kernel = weights[f"{LAST}.1.0.weight"].copy()
        kernel[5, 0, 1, 1] += 0.01 * np.abs(kernel).max()
        return {**weights, f"{LAST}.1.0.weight": kernel}

    _keras_weights_changed(monkeypatch, nudged)
    report = numeric_check(graph, models=models)
    assert report["failed"] == [f"{LAST}.1.0"] and not report["ok"]


def test_check_catches_a_batch_norm_on_the_checked_inputs_own_statistics(graph, models, monkeypatch):
    # A backend whose last projection batch norm normalised with its batch's statistics (training
    # mode) instead of the running ones: the running statistics, measured on a batch that holds
    # the checked input, must still differ from that input's own.
    def batch_statistics(graph, weights):
        x = np.random.default_rng(1).standard_normal((1, *graph.input_shape)).astype(np.float32)
        seen = exact_values(graph, weights, x)[f"{LAST}.3.0"]
        node = f"{LAST}.3.1"
        return {**weights, f"{node}.running_mean": seen.mean(axis=(0, 2, 3)).astype(np.float32),
                f"{node}.running_var": seen.var(axis=(0, 2, 3)).astype(np.float32)}

    _keras_weights_changed(monkeypatch, batch_statistics)
    report = numeric_check(graph, models=models)
    assert report["failed"] == [f"{LAST}.3.1"] and not report["ok"]
