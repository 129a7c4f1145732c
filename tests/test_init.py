"""Reference initialisation: a torchvision network built by netc starts from the distribution its
builder draws (torchvision/models/<family>.py, `_init_weights` or the loop in `__init__`).

Per parameter, the emitted model's mean and standard deviation are compared with a freshly built
reference's. Both are samples of n values from one distribution of standard deviation s; for the
distributions involved (normal, truncated normal, uniform) the kurtosis is at most 3, so the
standard error of a sample standard deviation is at most s / sqrt(2n) and of a mean s / sqrt(n).
Two independent samples differ by at most sqrt(2) of that times z; z = 6 puts the chance of a
false alarm over the few hundred parameters checked below 1e-6, and still rejects PyTorch's
default initialisation for every convolution of more than ~3,000 values (std 0.072 against
0.177 for ResNet-50's layer1.0.conv1: a 59% difference against a 9% bound).
Constants (batch norm's ones and zeros, zero biases) must be equal exactly.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision

import netc
from conftest import EXAMPLES
from keras_reference import REFERENCES, WEIGHTS_FILE, application
from zoo_coverage import EVERY_SPEC

Z = 6.0

# spec -> (builder, kwargs, input size): the references' constructors as REFERENCES.yaml has
# them, with GoogLeNet's and Inception-v3's own initialisation switched on.
CASES = {
    "resnet50": ("resnet50", {}, 64),
    "densenet121": ("densenet121", {}, 64),
    "mobilenet_v2": ("mobilenet_v2", {}, 64),
    "vgg16": ("vgg16", {}, 64),
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": True}, 64),
    "inception_v3": ("inception_v3", {"aux_logits": False, "init_weights": True}, 75),
    "efficientnet_b0": ("efficientnet_b0", {}, 64),
    "efficientnet_v2_s": ("efficientnet_v2_s", {}, 32),  # FusedMBConv
    "mobilenet_v3_small": ("mobilenet_v3_small", {}, 64),
    "squeezenet1_1": ("squeezenet1_1", {}, 64),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", {}, 64),  # torch's defaults throughout
    "convnext_tiny": ("convnext_tiny", {}, 32),  # every Conv2d and Linear, channel_linear's too
    "regnet_x_400mf": ("regnet_x_400mf", {}, 32),
    "regnet_y_400mf": ("regnet_y_400mf", {}, 32),  # SE convolutions: normal weights, torch's biases
    "mnasnet1_0": ("mnasnet1_0", {}, 32),  # classifier: Kaiming uniform, fan_out, sigmoid
    # segmentation: the backbone initialised by its builder, the heads by PyTorch
    "fcn_resnet50": ("fcn_resnet50", {"weights_backbone": None, "aux_loss": True}, 64),
    "deeplabv3_mobilenet_v3_large": ("deeplabv3_mobilenet_v3_large",
                                     {"weights_backbone": None, "aux_loss": True}, 64),
    "lraspp_mobilenet_v3_large": ("lraspp_mobilenet_v3_large", {"weights_backbone": None}, 64),
    # a patch embedding whose std is an expression of the patch, the MLP's and the head's own
    # initialisers, and nn.MultiheadAttention's, which a loop over nn.Linear must not reach
    "vit_b_32": ("vit_b_32", {"image_size": 64}, 64),
    "swin_t": ("swin_t", {}, 64),  # window attention's two linear layers, every other nn.Linear
}


def statistics_problems(ours: dict, reference: dict) -> list[str]:
    """Each parameter whose sample mean or standard deviation differs from the reference's
    by more than the bound above."""
    assert ours.keys() == reference.keys()
    problems = []
    for key, ref in reference.items():
        a, b = ours[key].float().flatten(), ref.float().flatten()
        if torch.all(b == b[0]):
            if not torch.equal(a, b):
                problems.append(f"{key}: expected the constant {b[0].item()}")
            continue
        # float32 sums in torch's cascade: relative error ~1e-6, far inside the bounds
        s, mb = map(float, torch.std_mean(b))
        sa, ma = map(float, torch.std_mean(a))
        n = b.numel()
        std_bound = Z * math.sqrt(2) * s / math.sqrt(2 * n)
        mean_bound = Z * math.sqrt(2) * s / math.sqrt(n)
        if abs(sa - s) > std_bound or abs(ma - mb) > mean_bound:
            problems.append(f"{key} (n={n}): std {sa:.5f} vs {s:.5f} (bound {std_bound:.5f}), "
                            f"mean {ma:.5f} vs {mb:.5f} (bound {mean_bound:.5f})")
    return problems


def _state(model) -> dict:
    return {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def _reference(builder, kwargs) -> dict:
    torch.manual_seed(1)
    models = torchvision.models
    family = models.segmentation if hasattr(models.segmentation, builder) else models
    return _state(getattr(family, builder)(weights=None, **kwargs))


@pytest.mark.parametrize("spec", sorted(CASES))
def test_weight_statistics_match_the_reference_builder(spec):
    builder, kwargs, size = CASES[spec]
    torch.manual_seed(0)
    ours = _state(netc.build(f"examples/{spec}.yaml", "torch", {"size": size}))
    problems = statistics_problems(ours, _reference(builder, kwargs))
    assert not problems, "\n".join(problems[:10])


def test_the_comparison_rejects_pytorch_default_initialisation():
    """GoogLeNet without its own initialisation keeps PyTorch's: every convolution of more than
    a few thousand values is told apart from the reference's truncated normal."""
    reference = _reference("googlenet", CASES["googlenet"][1])
    torch.manual_seed(0)
    plain = _state(torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False))
    problems = statistics_problems(plain, reference)
    big_convs = [k for k, v in reference.items() if k.endswith("conv.weight") and v.numel() > 3000]
    assert big_convs and all(any(p.startswith(k + " ") for p in problems) for k in big_convs)


def test_declared_initialisers_are_written_into_the_source():
    source = netc.emit("examples/resnet50.yaml", "torch", {"size": 64})
    assert ("        for m in self.modules():\n"
            "            if isinstance(m, nn.Conv2d):\n"
            "                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')\n"
            ) in source
    assert "nn.init" not in netc.emit("examples/alexnet.yaml", "torch", {"size": 96})


# Keras: the same comparison on the weights a Keras build starts from, read in the IR's layout.
# MobileNetV2 has depthwise convolutions (whose fans Keras counts otherwise) and a normal
# classifier; GoogLeNet a truncated normal whose bounds lie 200 standard deviations out; Swin-T
# window attention, whose Keras layer takes one initialiser for its two kernels.
@pytest.mark.parametrize("spec", ["mobilenet_v2", "googlenet", "swin_t"])
def test_keras_weight_statistics_match_the_reference_builder(spec):
    from netc.backends import get_backend

    builder, kwargs, size = CASES[spec]
    backend = get_backend("keras")
    graph = netc.load(f"examples/{spec}.yaml", {"size": size})
    model = backend.load(backend.emit(graph), graph)
    ours = {k: torch.from_numpy(np.asarray(v))
            for k, v in backend.export_weights(model, graph).items()}
    # `default` declares the framework's own initialiser (GoogLeNet's classifier bias: torch's
    # uniform, Keras's zeros), so only declared initialisers are compared.
    declared = {f"{n.name}.{p.name}" for n in graph.nodes for p in n.params
                if n.attrs.get("bias_init" if p.name == "bias" else "init", {}).get("kind")
                != "default" or p.kind == "norm-statistic"}
    ours = {k: v for k, v in ours.items() if k in declared}
    reference = {k: v for k, v in _reference(builder, kwargs).items() if k in ours}
    assert len(reference) == len(ours) > 50
    problems = statistics_problems(ours, reference)
    assert not problems, "\n".join(problems[:10])


def test_keras_specs_keep_keras_defaults():
    source = netc.emit("examples/keras/resnet50.yaml", "keras", {"size": 64})
    assert "initializer=" not in source


def test_keras_refuses_a_truncated_normal_it_cannot_draw(tmp_path):
    spec = tmp_path / "trunc.yaml"
    spec.write_text("netc: 1\ninput: {shape: [4]}\nbody:\n"
                    "  - linear: {out: 2, init: {kind: trunc_normal, std: 0.1, a: -0.3, b: 0.3}}\n")
    assert "trunc_normal_(" in netc.emit(str(spec), "torch")
    with pytest.raises(netc.SpecError, match="Keras truncates a normal at two standard deviations"):
        netc.emit(str(spec), "keras")
    spec.write_text(spec.read_text().replace("a: -0.3, b: 0.3", "a: -0.2, b: 0.2"))
    assert "TruncatedNormal(mean=0.0, stddev=0.1)" in netc.emit(str(spec), "keras")


def test_channel_linear_takes_its_initialisers_on_both_backends(tmp_path):
    """ConvNeXt's pointwise layers: a declared truncated normal (its bounds 100 standard
    deviations out, which Keras draws as a normal) and bias reach the weights both backends
    start from; each backend's own default would be three to four times as wide."""
    from netc.backends import get_backend

    spec = tmp_path / "pointwise.yaml"
    spec.write_text("netc: 1\ninput: {shape: [64, 4, 4]}\nbody:\n"
                    "  - channel_linear: {name: fc, out: 256, init: {kind: trunc_normal, std: 0.02},"
                    " bias_init: {kind: constant, value: 0.5}}\n")
    torch.manual_seed(0)
    built = {k: v.numpy() for k, v in netc.build(str(spec), "torch").state_dict().items()}
    backend = get_backend("keras")
    graph = netc.load(str(spec))
    for weights in (built, backend.export_weights(backend.load(backend.emit(graph), graph), graph)):
        values = np.asarray(weights["fc.weight"], dtype=np.float64).ravel()
        n = values.size  # one sample against the exact values, as _mixed_problems bounds it
        assert abs(values.std(ddof=1) - 0.02) <= Z * 0.02 / math.sqrt(2 * n), values.std(ddof=1)
        assert abs(values.mean()) <= Z * 0.02 / math.sqrt(n)
        assert np.all(np.asarray(weights["fc.bias"]) == 0.5)


MIXED = """\
netc: 1
name: mixed
input: {shape: [8, 6, 6]}
defaults: {conv2d: {init: {kind: kaiming_normal, mode: fan_out, nonlinearity: relu}}}
body:
  - conv2d: {name: a, out: 64, kernel: 3, pad: 1}
  - conv2d: {name: b, out: 64, kernel: 3, pad: 1}
  - conv2d: {name: c, out: 64, kernel: 3, pad: 1, init: {kind: default},
             bias_init: {kind: constant, value: 0.5}}
  - batchnorm: {name: bn, init: {kind: zeros}, bias_init: {kind: normal, mean: 1.0, std: 0.5}}
  - global_avgpool
  - linear: {name: fc, out: 100, init: {kind: xavier_uniform, gain: 2.0},
             bias_init: {kind: uniform, low: -3.0, high: -1.0}}
"""


def _expected_mixed() -> dict:
    """(mean, std) or a constant per parameter, from torch.nn.init's formulas: Kaiming normal
    fan_out with ReLU's gain sqrt(2); torch's default for a convolution, Kaiming uniform with
    a = sqrt(5) (bound 1/sqrt(fan_in)) for the weight and uniform +-1/sqrt(fan_in) for the bias;
    Xavier uniform (std gain * sqrt(2 / (fan_in + fan_out))); a uniform's std (b - a) / sqrt(12)."""
    kaiming = (0.0, math.sqrt(2.0) / math.sqrt(64 * 9))
    default_conv = {"a.bias": 1 / math.sqrt(8 * 9), "b.bias": 1 / math.sqrt(64 * 9),
                    "c.weight": 1 / math.sqrt(64 * 9)}
    return {"a.weight": kaiming, "b.weight": kaiming,
            **{k: (0.0, bound / math.sqrt(3.0)) for k, bound in default_conv.items()},
            "c.bias": 0.5, "bn.weight": 0.0, "bn.bias": (1.0, 0.5),
            "fc.weight": (0.0, 2.0 * math.sqrt(2.0 / (64 + 100))),
            "fc.bias": (-2.0, 2.0 / math.sqrt(12.0))}


def _mixed_problems(weights: dict, skip=()) -> list[str]:
    problems = []
    for key, want in _expected_mixed().items():
        if key in skip:
            continue
        values = np.asarray(weights[key], dtype=np.float64).ravel()
        if not isinstance(want, tuple):
            if not np.all(values == want):
                problems.append(f"{key}: expected the constant {want}")
            continue
        mean, std = want
        n = values.size  # one sample against the exact value: the bound of the docstring / sqrt 2
        if abs(values.std(ddof=1) - std) > Z * std / math.sqrt(2 * n) or \
                abs(values.mean() - mean) > Z * std / math.sqrt(n):
            problems.append(f"{key} (n={n}): mean {values.mean():.5f} std {values.std(ddof=1):.5f},"
                            f" expected {mean:.5f} and {std:.5f}")
    return problems


@pytest.mark.parametrize("flat", [False, True])
def test_per_layer_initialisers_on_torch(tmp_path, flat):
    """Most convolutions share the loop's initialiser; the one that declares torch's default,
    and every initialiser of a single layer, are written for that layer alone."""
    spec = tmp_path / "mixed.yaml"
    spec.write_text(MIXED)
    source = netc.emit(str(spec), "torch", flat=flat)
    assert "self.get_submodule('c').weight, a=2.23606797749979)" in source
    torch.manual_seed(0)
    model = netc.build(str(spec), "torch", flat=flat)
    problems = _mixed_problems({k: v.numpy() for k, v in model.state_dict().items()})
    assert not problems, "\n".join(problems)


def test_per_layer_initialisers_on_keras(tmp_path):
    """The same spec on Keras; `default` there is Keras's own (Glorot uniform, zero bias)."""
    from netc.backends import get_backend

    spec = tmp_path / "mixed.yaml"
    spec.write_text(MIXED)
    backend = get_backend("keras")
    graph = netc.load(str(spec))
    model = backend.load(backend.emit(graph), graph)
    weights = backend.export_weights(model, graph)
    assert not _mixed_problems(weights, skip=("a.bias", "b.bias", "c.weight"))
    assert np.all(weights["a.bias"] == 0.0)
    bound = math.sqrt(6.0 / (64 * 9 + 64 * 9))  # Glorot uniform
    assert 0.9 * bound < np.abs(weights["c.weight"]).max() <= bound


# keras.applications specs: the reference is the application (REFERENCES.yaml) built with
# weights=None, its weights loaded into netc's Keras model from the file its package saves (as
# test_keras_weight_files checks they load) and read out in the IR's layout. Ours: the spec built
# on torch (which draws Keras's distributions through variance_scaling_) and on Keras.
# EfficientNet declares every kernel (VarianceScaling(2.0, fan_out, truncated normal) on
# convolutions, the depthwise ones with DepthwiseConv2D's fans; (1/3, fan_out, uniform) on the
# classifier); RegNet he_normal on every convolution (NASNet on every Conv2D); the rest keep
# Keras's layer defaults (Glorot uniform kernels, zero biases), which the specs declare for torch:
# ResNet50 has Conv2D and Dense layers with biases, MobileNet DepthwiseConv2D, Xception
# SeparableConv2D, ConvNeXt Dense layers on NHWC maps and Conv2D(groups=C). With
# NETC_ZOO_CHECK=all (make zoo-check) every Keras spec is compared.
KERAS_INIT_CASES = [f"keras/{stem}.yaml" for stem in (
    "efficientnet_b0", "efficientnet_v2_b0", "regnet_x002", "resnet50", "mobilenet", "xception",
    "convnext_tiny")]
if EVERY_SPEC:
    KERAS_INIT_CASES = sorted(REFERENCES)


@pytest.fixture(scope="module", params=KERAS_INIT_CASES)
def keras_case(request, tmp_path_factory):
    """(spec, input size, the reference's weights, netc's Keras model's), in the IR's layout."""
    from netc.backends import get_backend

    spec = request.param
    size = REFERENCES[spec].get("size", 32)
    backend = get_backend("keras")
    graph = netc.load(f"examples/{spec}", {"size": size})
    model = backend.load(backend.emit(graph), graph)
    as_ir = lambda: {k: torch.from_numpy(np.array(v)) for k, v in  # noqa: E731
                     backend.export_weights(model, graph).items()}
    ours = as_ir()
    reference, package = application(spec, size)
    saved = tmp_path_factory.mktemp("init") / WEIGHTS_FILE[package]
    reference.save_weights(saved)
    model.load_weights(saved)
    return spec, size, as_ir(), ours


def test_keras_spec_on_torch_starts_as_keras_applications(keras_case):
    spec, size, reference, _ = keras_case
    torch.manual_seed(0)
    ours = _state(netc.build(f"examples/{spec}", "torch", {"size": size}))
    problems = statistics_problems({k: v for k, v in ours.items() if k in reference}, reference)
    assert not problems, "\n".join(problems[:10])


def test_keras_spec_on_keras_starts_as_keras_applications(keras_case):
    _, _, reference, ours = keras_case
    problems = statistics_problems(ours, reference)
    assert not problems, "\n".join(problems[:10])


def _assert_both_backends_start_as(text: str, spec, reference: dict) -> None:
    """The spec `text`, written to `spec`, built on torch and on Keras: each parameter of
    `reference` has its weight statistics."""
    from netc.backends import get_backend

    spec.write_text(text)
    torch.manual_seed(0)
    on_torch = _state(netc.build(str(spec), "torch"))
    backend = get_backend("keras")
    graph = netc.load(str(spec))
    on_keras = backend.export_weights(backend.load(backend.emit(graph), graph), graph)
    for ours in (on_torch, on_keras):
        ours = {k: torch.as_tensor(np.asarray(ours[k])) for k in reference}
        problems = statistics_problems(ours, reference)
        assert not problems, "\n".join(problems)


SEPARABLE = """\
netc: 1
input: {shape: [128, 8, 8]}
body:
  - separable_conv2d: {name: sep, out: 256, kernel: 3, pad: 1, bias: true,
                       init: {kind: variance_scaling, scale: 2.0},
                       pointwise_init: {kind: variance_scaling, scale: 2.0},
                       bias_init: {kind: constant, value: 0.5}}
"""


def test_separable_conv_takes_keras_initialisers_on_both_backends(tmp_path):
    """Keras's SeparableConv2D with he_normal kernels: the depthwise kernel's fan-in is
    C x 3 x 3 = 1152 in Keras's count (torch's would be 9, a std 11 times as wide)."""
    import keras

    layer = keras.layers.SeparableConv2D(256, 3, padding="same", depthwise_initializer="he_normal",
                                         pointwise_initializer="he_normal",
                                         bias_initializer=keras.initializers.Constant(0.5))
    layer.build((None, 8, 8, 128))
    depthwise, pointwise, bias = (np.asarray(v) for v in layer.get_weights())
    reference = {"sep.depthwise.weight": torch.from_numpy(depthwise.transpose(2, 3, 0, 1)),
                 "sep.pointwise.weight": torch.from_numpy(pointwise.transpose(3, 2, 0, 1)),
                 "sep.pointwise.bias": torch.from_numpy(bias)}
    spec = tmp_path / "separable.yaml"
    _assert_both_backends_start_as(SEPARABLE, spec, reference)
    # `default` leaves each framework its own: nothing written on either backend
    spec.write_text("netc: 1\ninput: {shape: [8, 8, 8]}\nbody:\n"
                    "  - separable_conv2d: {out: 16, kernel: 3, bias: true}\n")
    assert "initializer" not in netc.emit(str(spec), "keras")
    assert "nn.init" not in netc.emit(str(spec), "torch")


GROUPED = """\
netc: 1
input: {shape: [256, 8, 8]}
defaults: {conv2d: {init: {kind: variance_scaling, scale: 2.0}}}
body:
  - conv2d: {name: depthwise, out: 256, kernel: 3, pad: 1, groups: 256}
  - conv2d: {name: grouped, out: 256, kernel: 3, pad: 1, groups: 256, depthwise_layer: false}
  - conv2d: {name: pointwise, out: 256, kernel: 1}
"""


def test_variance_scaling_counts_fans_as_the_keras_layer_of_each_convolution(tmp_path):
    """he_normal on a depthwise convolution, as DepthwiseConv2D counts it (fan-in 256 x 9) and
    as Conv2D(groups=256) counts it (fan-in 9, as ConvNeXt builds it in Keras): both backends
    draw each as its Keras layer does."""
    import keras

    def kernel(layer, shape):
        layer.build(shape)
        return np.asarray(layer.get_weights()[0])

    he = "he_normal"
    shape = (None, 8, 8, 256)
    reference = {
        "depthwise.weight": kernel(keras.layers.DepthwiseConv2D(3, depthwise_initializer=he), shape
                                   ).transpose(2, 3, 0, 1),
        "grouped.weight": kernel(keras.layers.Conv2D(256, 3, groups=256, kernel_initializer=he),
                                 shape).transpose(3, 2, 0, 1),
        "pointwise.weight": kernel(keras.layers.Conv2D(256, 1, kernel_initializer=he), shape
                                   ).transpose(3, 2, 0, 1)}
    reference = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in reference.items()}
    _assert_both_backends_start_as(GROUPED, tmp_path / "grouped.yaml", reference)


@pytest.mark.parametrize("layer, message", [
    ("linear: {out: 2, bias_init: {kind: variance_scaling}}",
     "linear bias_init: variance_scaling initialises kernels"),
    ("batchnorm: {init: {kind: variance_scaling, scale: 2.0}}",
     "batchnorm init: variance_scaling initialises kernels"),
    ("linear: {out: 2, init: {kind: variance_scaling, mode: fan_sum}}", "fan_sum"),
    ("linear: {out: 2, init: {kind: kaiming_normal, mode: fan_avg}}",
     "kaiming_normal mode is one of fan_in, fan_out, found 'fan_avg'"),
    ("linear: {out: 2, init: {kind: variance_scaling, scale: 0.0}}", "variance_scaling scale"),
    ("linear: {out: 2, bias_init: {kind: glorot_uniform}}",
     "linear bias_init: glorot_uniform initialises kernels"),
    ("linear: {out: 2, init: {kind: he_normal, scale: 1.0}}",
     "Keras's he_normal takes no arguments; found 'scale'"),
    # an argument written as an expression must give a number
    ("linear: {out: 2, init: {kind: normal, std: \"${'x'}\"}}", "normal std is a number, found 'x'"),
    ("linear: {out: 2, init: {kind: normal, std: \"${1 > 0}\"}}", "normal std is a number, found True"),
])
def test_bad_variance_scaling_is_a_located_error(tmp_path, layer, message):
    spec = tmp_path / "bad.yaml"
    spec.write_text(f"netc: 1\ninput: {{shape: [4]}}\nbody:\n  - {layer}\n")
    with pytest.raises(netc.SpecError, match=message) as error:
        netc.load(str(spec))
    assert error.value.loc is not None and error.value.loc.line == 4, error.value.loc


NAMED = """\
netc: 1
input: {shape: [16, 8, 8]}
defaults: {conv2d: {init: {kind: glorot_uniform}}}
body:
  - conv2d: {name: a, out: 16, kernel: 3, pad: 1}
  - conv2d: {name: dw, out: 32, kernel: 3, pad: 1, groups: 16}
  - conv2d: {name: b, out: 16, kernel: 1, init: {kind: he_normal}}
"""


def test_keras_named_initialisers_are_their_variance_scaling(tmp_path):
    """Keras's names stand for the VarianceScaling Keras makes of them; Keras writes none for
    its layers' own default, Glorot uniform (a depthwise kernel's included), and the rest as
    VarianceScaling."""
    spec = tmp_path / "named.yaml"
    spec.write_text(NAMED)
    nodes = {n.name: n for n in netc.load(str(spec)).nodes}
    assert nodes["dw"].attrs["init"] == {"kind": "variance_scaling", "scale": 1.0,
                                         "mode": "fan_avg", "distribution": "uniform"}
    assert nodes["b"].attrs["init"] == {"kind": "variance_scaling", "scale": 2.0,
                                        "mode": "fan_in", "distribution": "truncated_normal"}
    source = netc.emit(str(spec), "keras")
    assert source.count("initializer=") == 1 and ("kernel_initializer=keras.initializers."
        "VarianceScaling(scale=2.0, mode='fan_in', distribution='truncated_normal')") in source


def test_every_keras_spec_declares_its_initialisers():
    """`default` is each framework's own, so a keras.applications spec that left one kernel or
    bias to it would start on torch from torch's: every Keras spec declares them all (the
    comparison above checks what they declare, one spec of each layer kind)."""
    left = []
    for spec in sorted(REFERENCES):
        graph = netc.load(f"examples/{spec}", {"size": REFERENCES[spec].get("size", 32)})
        for node in graph.nodes:
            has_bias = any(p.name.endswith("bias") for p in node.params)
            left += [f"{spec}: {node.name} {attr}" for attr in ("init", "pointwise_init", "bias_init")
                     if node.params and isinstance(node.attrs.get(attr), dict)
                     and node.attrs[attr]["kind"] == "default" and (has_bias or attr != "bias_init")]
    assert set(REFERENCES) == {f"keras/{path.name}" for path in (EXAMPLES / "keras").glob("*.yaml")}
    assert not left, left[:5]


def test_keras_window_attention_takes_one_initialiser_for_both_kernels(tmp_path):
    """Keras's WindowAttention draws its qkv (C x 3C) and proj (C x C) kernels from one
    initialiser: one that does not depend on the shape is written once, a Kaiming one (whose
    spread does) is refused rather than approximated."""
    spec = tmp_path / "window.yaml"
    layer = "  - window_attention: {heads: 2, window: 4, init: %s}\n"
    spec.write_text("netc: 1\ninput: {shape: [16, 8, 8]}\nbody:\n"
                    + layer % "{kind: trunc_normal, std: 0.02}")
    source = netc.emit(str(spec), "keras")
    call = source[source.index("WindowAttention(window_size"):]
    assert call.count("kernel_initializer=keras.") == 1 and "bias_initializer=" not in call
    spec.write_text(spec.read_text().replace("{kind: trunc_normal, std: 0.02}",
                                             "{kind: kaiming_normal}"))
    with pytest.raises(netc.SpecError, match="one kernel_initializer for parameters of different"):
        netc.emit(str(spec), "keras")
