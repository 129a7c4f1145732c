"""Every spec of the zoo on both backends, at a reduced input size: `netc diff` is clean (each
backend holds exactly the parameters the IR predicts, kind by kind) and `netc check` passes
(on shared random weights, torch and Keras agree node by node within what two float32
implementations of each op can differ by, and each backend's output is within float32 rounding,
propagated through the network, of the graph run in float64: netc.crosscheck.tolerance). The
paper specs, which have no reference implementation, also take a Keras training step (forward +
backward)."""
import numpy as np
import pytest

import netc
from conftest import EXAMPLES, example_specs
from netc.crosscheck import numeric_check, param_diff

SPECS = [s for s in example_specs() if s != "vit_h_14.yaml"]  # 632M parameters: tests/test_vit.py
# Smallest sizes at which each family's every layer still sees a map larger than 1x1 where the
# flatten order matters, and which its pooling arithmetic accepts.
SIZES = {"inception": 96, "googlenet": 96, "xception": 96, "alexnet": 96,
         "unet.yaml": 188}  # U-Net's unpadded convolutions take 16k + 124 (k >= 4) only


def size_for(spec: str, shape: list[int]):
    if len(shape) != 3 or shape[1] <= 32:
        return None
    return next((s for key, s in SIZES.items() if key in spec), 64)


@pytest.fixture(autouse=True)
def fresh_keras_session():
    """Keras keeps every model it built in a global graph; a zoo of them fills memory."""
    yield
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()


@pytest.fixture(scope="module", params=SPECS)
def graph(request):
    spec = request.param
    return spec, _at_check_size(spec)


def _at_check_size(spec: str):
    probe = netc.load(EXAMPLES / spec)
    size = size_for(spec, probe.input_shape)
    return netc.load(EXAMPLES / spec, input_size=(size, size)) if size else probe


def test_diff_is_clean(graph):
    spec, g = graph
    report = param_diff(g)
    assert report["ok"], report["problems"]


def test_check_passes_node_by_node(graph):
    spec, g = graph
    report = numeric_check(g)
    assert not report["failed"], [(r["name"], r["max_abs_error"], r["limit"]) for r in report["nodes"]
                                  if r["name"] in report["failed"][:5]]
    # End to end, float32 rounding compounds with depth and a plain deep net amplifies it (plain56
    # ends ~1e-3 from float64 on a 0.4 output); each backend must stay within that rounding as
    # this network propagates it, so the two backends within twice that of each other.
    assert not report["drifted"], (report["final_exact"], report["final_limit"])
    assert report["final"]["keras"] <= 2 * report["final_limit"], (report["final"], report["final_limit"])
    assert report["ok"]


@pytest.mark.parametrize("spec", [s for s in SPECS if s.startswith("papers/")])
def test_keras_training_step_on_paper_specs(spec):
    g = _at_check_size(spec)

    model = netc.build(g, backend="keras")
    # Eagerly: tracing a graph of a 1001-layer network costs minutes; the step is the same.
    model.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    x = np.random.default_rng(0).standard_normal((2, *g.input_shape[1:], g.input_shape[0])
                                                if len(g.input_shape) == 3 else (2, *g.input_shape))
    y = np.zeros((2, *model.output_shape[1:]), dtype="float32")
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x.astype("float32"), y)
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
