"""Every spec of the zoo on both backends, at a reduced input size: `netc diff` is clean (each
backend holds exactly the parameters the IR predicts, kind by kind) and `netc check` passes
(on shared random weights, torch and Keras agree node by node within what two float32
implementations of each op can differ by, and each backend's output is within float32 rounding,
propagated through the network, of the graph run in float64: netc.crosscheck.tolerance). The
paper specs, which have no reference implementation, also take a Keras training step (forward +
backward).

`netc check` on all of the zoo's specs costs more than the suite's time: its ImageNet families
repeat one block library at many widths and depths (ResNet-18 to -152, RegNet 400MF to 128GF),
up to 645M parameters. A width or a depth adds no op configuration to check (an op with the
attributes that choose its computation: kernel, stride, padding, groups, eps), so the suite
checks `CHECKED`, the smallest specs that between them hold every op configuration of the zoo
(test_checked_specs_hold_every_op_of_the_zoo), and `make zoo-check` checks every spec."""
import numpy as np
import pytest

import netc
from conftest import EXAMPLES, example_specs
from netc.crosscheck import build_models, numeric_check, param_diff
from zoo_coverage import EVERY_SPEC, uncovered

SPECS = [s for s in example_specs() if s != "vit_h_14.yaml"]  # 632M parameters: tests/test_vit.py
CHECKED = ["alexnet.yaml", "convnext_tiny.yaml", "deeplabv3_mobilenet_v3_large.yaml",
           "digits_resnet.yaml", "digits_vit.yaml", "efficientnet_b0.yaml", "fcn_resnet50.yaml",
           "googlenet.yaml", "inception_v3.yaml", "keras/convnext_tiny.yaml",
           "keras/densenet121.yaml", "keras/efficientnet_b0.yaml", "keras/efficientnet_b1.yaml",
           "keras/efficientnet_v2_b0.yaml", "keras/efficientnet_v2_s.yaml",
           "keras/inception_resnet_v2.yaml", "keras/inception_v3.yaml",
           "keras/mobilenet_v3_small.yaml", "keras/nasnet_mobile.yaml",
           "keras/regnet_x002.yaml", "keras/regnet_y002.yaml",
           "keras/resnet50.yaml", "keras/resnet50_v2.yaml", "keras/vgg16.yaml",
           "keras/xception.yaml", "lraspp_mobilenet_v3_large.yaml", "mnasnet0_5.yaml",
           "mobilenet_v2.yaml", "mobilenet_v3_small.yaml", "papers/densenet_bc100_cifar.yaml",
           "papers/highway_fc_mnist.yaml", "papers/resnet9_dawnbench_cifar.yaml",
           "papers/stochastic_depth_resnet110_cifar.yaml", "regnet_y_400mf.yaml",
           "resnet20_cifar.yaml", "shufflenet_v2_x0_5.yaml", "squeezenet1_0.yaml",
           "squeezenet1_1.yaml", "swin_t.yaml", "unet.yaml", "unet_same.yaml", "unet_small.yaml",
           "vgg11.yaml", "vit_b_16.yaml", "vit_b_32.yaml"]
CHECK_SPECS = SPECS if EVERY_SPEC else CHECKED
# Smallest sizes at which each family's every layer still sees a map larger than 1x1 where the
# flatten order matters, and which its pooling arithmetic accepts.
SIZES = {"inception": 96, "googlenet": 96, "xception": 96, "alexnet": 96,
         "unet.yaml": 188,  # U-Net's unpadded convolutions take 16k + 124 (k >= 4) only
         "nasnet": 32}  # Keras's smallest; its maps (15, 8, 4, 2, 1) are odd and even


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


def _at_check_size(spec: str):
    probe = netc.load(EXAMPLES / spec)
    size = size_for(spec, probe.input_shape)
    return netc.load(EXAMPLES / spec, input_size=(size, size)) if size else probe


@pytest.mark.parametrize("spec", CHECK_SPECS)
def test_diff_is_clean_and_check_passes_node_by_node(spec):
    g = _at_check_size(spec)
    models = build_models(g)  # one build per backend serves both reports
    report = param_diff(g, models=models)
    assert report["ok"], report["problems"]
    report = numeric_check(g, models=models)
    assert not report["failed"], [(r["name"], r["max_abs_error"], r["limit"]) for r in report["nodes"]
                                  if r["name"] in report["failed"][:5]]
    # End to end, float32 rounding compounds with depth and a plain deep net amplifies it (plain56
    # ends ~1e-3 from float64 on a 0.4 output); each backend must stay within that rounding as
    # this network propagates it, so the two backends within twice that of each other.
    assert not report["drifted"], (report["final_exact"], report["final_limit"])
    assert report["final"]["keras"] <= 2 * report["final_limit"], (report["final"], report["final_limit"])
    assert report["ok"]


PAPER_SPECS = [s for s in SPECS if s.startswith("papers/")]
# A step's gradients are computed op by op: a deeper or wider sibling of a spec below adds no op
# to it (test_every_paper_op_takes_a_keras_training_step), only minutes.
SIBLINGS = {"papers/preact_resnet1001_cifar.yaml", "papers/resnext29_16x64d_cifar.yaml",
            "papers/densenet_bc250_cifar.yaml"}
STEP_SPECS = [s for s in PAPER_SPECS if s not in SIBLINGS]


def test_every_paper_op_takes_a_keras_training_step():
    assert SIBLINGS < set(PAPER_SPECS)
    missing = uncovered(SIBLINGS, STEP_SPECS)
    assert not missing, f"ops no stepped spec has: {missing}"


@pytest.mark.parametrize("spec", STEP_SPECS)
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


def test_checked_specs_hold_every_op_of_the_zoo():
    assert set(CHECKED) <= set(SPECS)
    missing = uncovered(sorted(set(SPECS) - set(CHECKED)), CHECKED)
    assert not missing, f"op configurations no checked spec has: {missing}"
