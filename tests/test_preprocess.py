"""Preprocessing as data: a spec's `input: {normalize: ...}` is carried in the IR and applied by
both backends' data pipelines, giving the numbers torchvision's Normalize and
keras.applications' preprocess_input give on the same pixels."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import netc
from netc.compiler.ir import Graph
from netc.spec.errors import SpecError
from netc.train import as_source
from netc.train.data import input_normalisation, load_data
from netc.train.data.base import declared_normalisation, make_dataset
from netc.train.keras_data import normalised, to_channels_last
from netc.train.torch_batches import DeviceSplit

SPEC = """netc: 1
name: tiny
input: {{shape: [{channels}, 8, 8]{normalize}}}
body:
  - conv2d: {{out: 4, kernel: 3}}
  - relu
  - global_avgpool
  - linear: {{out: 3}}
"""


def spec_file(tmp_path, normalize: str | None, channels: int = 3):
    path = tmp_path / "net.yaml"
    path.write_text(SPEC.format(channels=channels,
                                normalize=f", normalize: {normalize}" if normalize else ""))
    return path


@pytest.fixture(scope="module")
def pixels():
    return np.random.default_rng(0).integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)


def both_backends(graph: Graph, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the torch trainer's batches and the Keras trainer's arrays hold, both as NHWC."""
    labels = np.arange(len(pixels)) % 3
    data = make_dataset("px", ("a", "b", "c"), pixels, labels, pixels, labels, 1 / 255)
    data = declared_normalisation(data, graph.meta["normalize"])
    split = DeviceSplit(data.test_x, data.test_y, data, torch.device("cpu"))
    torch_images, _ = split.batch(torch.arange(len(pixels)))
    keras_images = normalised(to_channels_last(data.test_x), data)
    return torch_images.numpy().transpose(0, 2, 3, 1), keras_images


def test_imagenet_equals_torchvision_normalize(tmp_path, pixels):
    from torchvision.transforms import v2

    graph = netc.load(str(spec_file(tmp_path, "imagenet")))
    reference = v2.Compose([v2.ToDtype(torch.float32, scale=True),
                            v2.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    want = reference(torch.from_numpy(pixels)).numpy().transpose(0, 2, 3, 1)
    for got in both_backends(graph, pixels):
        # values within about +-2.7; float32 rounding of (x - m) / s stays below 1e-6
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode, keras_mode", [("caffe", "caffe"), ("minus_one_one", "tf")])
def test_keras_modes_equal_preprocess_input(tmp_path, pixels, mode, keras_mode):
    from keras.applications.imagenet_utils import preprocess_input

    graph = netc.load(str(spec_file(tmp_path, mode)))
    want = preprocess_input(pixels.transpose(0, 2, 3, 1).astype(np.float32), mode=keras_mode)
    # caffe values reach +-150 (0-255 units): float32 keeps ~1e-5 of that after dividing by
    # 1/255 and subtracting a mean divided by 255; the tf mode stays within [-1, 1]
    atol = 1e-3 if mode == "caffe" else 1e-5
    for got in both_backends(graph, pixels):
        np.testing.assert_allclose(got, np.asarray(want), rtol=0, atol=atol)


def test_explicit_mean_std_and_bgr_order(tmp_path, pixels):
    graph = netc.load(str(spec_file(tmp_path, "{mean: [0.1, 0.2, 0.3], std: [0.5, 0.25, 2], "
                                              "order: bgr}")))
    want = (pixels[:, ::-1].transpose(0, 2, 3, 1) / 255.0 - [0.1, 0.2, 0.3]) / [0.5, 0.25, 2]
    for got in both_backends(graph, pixels):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_the_ir_carries_the_normalisation(tmp_path):
    plain = netc.load(str(spec_file(tmp_path, None)))
    graph = netc.load(str(spec_file(tmp_path, "imagenet")))
    assert "normalize" not in plain.meta
    assert graph.meta["normalize"] == {"order": "rgb", "mean": [0.485, 0.456, 0.406],
                                       "std": [0.229, 0.224, 0.225]}
    assert graph.content_hash() != plain.content_hash()
    again = Graph.from_json(json.loads(json.dumps(graph.to_json())))
    assert again.meta["normalize"] == graph.meta["normalize"]
    assert again.content_hash() == graph.content_hash()


@pytest.mark.parametrize("bad, message", [
    ({"order": "gbr", "mean": [0.5] * 3, "std": [0.5] * 3}, "neither rgb nor bgr"),
    ({"order": "rgb", "mean": [0.5] * 3, "std": [0.5, 0.5, 0]}, "positive"),
    ({"order": "rgb", "mean": [0.5] * 3, "std": [0.5]}, "one positive number per mean"),
    ({"order": "rgb", "mean": ["a"], "std": [0.5]}, "not a list of numbers"),
    ({"order": "rgb", "mean": [0.5]}, "fields"),
    ({"order": "rgb", "mean": [0.5], "std": [0.5]}, "1 channel.s.; the input has 3"),
])
def test_from_json_refuses_a_malformed_normalisation(tmp_path, bad, message):
    data = netc.load(str(spec_file(tmp_path, None))).to_json()
    data["meta"]["normalize"] = bad
    with pytest.raises(ValueError, match=message):
        Graph.from_json(data)


@pytest.mark.parametrize("normalize, channels, message", [
    ("imagenet", 1, "for 3-channel"),
    ("caffe", 1, "for 3-channel"),
    ("{mean: [0.5, 0.5], std: [0.5, 0.5]}", 3, "mean has 2 value"),
    ("{mean: [0.5], std: [0.5], order: bgr}", 1, "bgr needs a 3-channel"),
])
def test_a_normalisation_that_does_not_fit_is_a_located_error(tmp_path, normalize, channels,
                                                             message):
    with pytest.raises(SpecError, match=message) as err:
        netc.load(str(spec_file(tmp_path, normalize, channels)))
    assert err.value.loc is not None and err.value.loc.line == 3


def test_unknown_preset_fails_the_schema(tmp_path):
    with pytest.raises(SpecError) as err:
        netc.load(str(spec_file(tmp_path, "imagenett")))
    assert err.value.loc.line == 3


def test_the_trainer_loads_data_with_the_declared_normalisation(tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text(SPEC.format(channels=1, normalize=", normalize: minus_one_one")
                    .replace("out: 3", "out: 10"))
    source = as_source(path, "torch")
    data = load_data("digits", source.input_shape, source.num_classes,
                     normalize=input_normalisation(source))
    assert data.mean == (0.5,) and data.std == (0.5,)
    measured = load_data("digits", source.input_shape, source.num_classes)
    assert measured.mean != (0.5,)
