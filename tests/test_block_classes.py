"""Emitted torch source has one class per block (and structural variant), loops for stage
tables, the same weight keys and values as the flat form, and a meta that only ever groups nodes."""
from __future__ import annotations

import json

import pytest

import netc
from conftest import EXAMPLES
from netc.backends import get_backend
from netc.compiler.ir import Graph
from netc.compiler.lint import LintError, lint
from netc.spec.errors import SpecError

torch = pytest.importorskip("torch")


def _emit(spec, **kw):
    return netc.emit(EXAMPLES / spec, **kw)


@pytest.mark.parametrize("spec,classes", [("resnet50.yaml", 2), ("resnet1202_cifar.yaml", 2),
                                          ("resnet18.yaml", 2), ("densenet201.yaml", 2)])
def test_source_grows_with_blocks_not_depth(spec, classes):
    source = _emit(spec)
    assert len(source.splitlines()) < 200
    assert source.count("\nclass ") == classes + 1  # the blocks' classes and the model's
    assert spec == "resnet18.yaml" or " in range(" in source  # two blocks a stage: no loop


def test_flat_form_is_kept_and_unrolled():
    flat = _emit("resnet18.yaml", flat=True)
    assert flat.count("\nclass ") == 1 and "self.layer1['0']['conv1'] = nn.Conv2d" in flat


@pytest.mark.parametrize("spec,size", [("resnet20_cifar.yaml", 32), ("mobilenet_v2.yaml", 64),
                                       ("densenet121.yaml", 64), ("googlenet.yaml", 64),
                                       ("papers/inception_v4.yaml", None),
                                       ("papers/highway_conv_cifar.yaml", 32),
                                       ("papers/stochastic_depth_resnet110_cifar.yaml", 32),
                                       ("keras/xception.yaml", 71)])
def test_classes_compute_what_the_flat_form_computes(spec, size):
    graph = netc.load(EXAMPLES / spec, {"size": size} if size not in (None, 32) else None)
    flat, ours = netc.build(graph, flat=True), netc.build(graph)
    assert list(ours.state_dict()) != [] and sorted(ours.state_dict()) == sorted(flat.state_dict())
    ours.load_state_dict(flat.state_dict(), strict=True)
    x = torch.randn(2, *graph.input_shape)
    with torch.no_grad():
        assert torch.allclose(flat.eval()(x), ours.eval()(x), atol=1e-5)


def test_arguments_are_what_differs():
    source = _emit("resnet50.yaml")
    assert "class Bottleneck(nn.Module)" in source and "class BottleneckDownsample(" in source
    assert "def __init__(self, in_channels, width, stride=2)" in source
    assert "nn.Conv2d(width, width * 4," in source
    assert "*[Bottleneck(in_channels=512, width=128) for _ in range(3)]" in source


def test_relu6_in_place_as_torchvision():
    assert "F.relu6(x, inplace=True)" in _emit("mobilenet_v2.yaml")


def test_meta_records_block_instances():
    graph = netc.load(EXAMPLES / "resnet50.yaml")
    blocks = graph.meta["blocks"]
    assert [b["name"] for b in blocks[:2]] == ["layer1.0", "layer1.1"]
    assert blocks[0]["block"] == "bottleneck" and blocks[0]["args"]["width"] == 64
    again = Graph.from_json(json.loads(json.dumps(graph.to_json())))
    assert again.meta["blocks"] == blocks


UNNAMED_INNER = """
netc: 1
input: {shape: [3, 8, 8]}
blocks:
  inner:
    params: {out: int}
    body: [conv2d: {name: conv, out: $out, kernel: 3, pad: 1}, relu: {name: act}]
  outer:
    params: {out: int}
    body:
      - inner: {name: "", out: $out}
      - conv2d: {name: proj, out: $out, kernel: 1}
body:
  - outer: {name: a, out: 4}
  - outer: {name: b, out: 6}
  - global_avgpool
  - linear: {name: fc, out: 3}
"""


def test_a_block_called_without_a_name_belongs_to_the_block_that_calls_it(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(UNNAMED_INNER)
    graph = netc.load(spec)
    assert [(e["block"], e["name"]) for e in graph.meta["blocks"]] == [("outer", "a"), ("outer", "b")]
    source = netc.emit(spec)
    assert "class Outer(nn.Module)" in source and "class Inner" not in source
    assert "self.a = Outer(" in source and "self.b = Outer(" in source
    model = netc.build(graph)
    assert sorted(model.state_dict()) == ["a.conv.bias", "a.conv.weight", "a.proj.bias",
                                          "a.proj.weight", "b.conv.bias", "b.conv.weight",
                                          "b.proj.bias", "b.proj.weight", "fc.bias", "fc.weight"]
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 3)


def test_flat_numbering_drops_the_instances_it_renames():
    graph = netc.load(EXAMPLES / "vgg16_bn.yaml")
    names = [b["name"] for b in graph.meta["blocks"]]
    assert not any(n.startswith("features") for n in names)
    assert graph.meta["stages"][0]["blocks"][0] == "features.0"


def _tampered(change):
    graph = netc.load(EXAMPLES / "resnet20_cifar.yaml")
    data = json.loads(json.dumps(graph.to_json()))
    change(data["meta"]["blocks"])
    return data


PAYLOAD = "__import__('os').system('echo MARK')"
LINT_TAMPERINGS = {
    "block_name": lambda b: b[0].update(block=PAYLOAD),
    "instance_name": lambda b: b[0].update(name="layer9.0"),
    "argument_name": lambda b: b[0]["args"].update({PAYLOAD: 1}),
    "keyword_argument": lambda b: b[0]["args"].update({"class": 1}),
}
STRUCTURE_TAMPERINGS = {
    "argument_value": lambda b: b[0]["args"].update(width=[PAYLOAD]),
    "extra_field": lambda b: b[0].update(code=PAYLOAD),
    "not_a_list": lambda b: b.clear() or b.append(PAYLOAD),
}


@pytest.mark.parametrize("how", LINT_TAMPERINGS, ids=str)
def test_tampered_block_meta_is_a_lint_error(how):
    graph = Graph.from_json(_tampered(LINT_TAMPERINGS[how]))
    with pytest.raises(LintError):
        lint(graph, origin="ir.json")


@pytest.mark.parametrize("how", STRUCTURE_TAMPERINGS, ids=str)
def test_tampered_block_meta_structure_is_refused(how):
    with pytest.raises(ValueError):
        Graph.from_json(_tampered(STRUCTURE_TAMPERINGS[how]))


@pytest.mark.parametrize("how", [*LINT_TAMPERINGS, "swapped"], ids=str)
def test_block_meta_past_every_check_never_becomes_code(how):
    """Straight into the backend, skipping lint: a meta that does not describe the graph only
    changes which nodes are grouped, never the text."""
    data = _tampered(LINT_TAMPERINGS.get(how) or (lambda b: b.reverse()))
    graph = Graph.from_json(data)
    try:
        source = get_backend("torch").emit(graph)
    except SpecError:
        return
    assert PAYLOAD not in source
    model = get_backend("torch").load(source, graph)
    assert sum(p.numel() for p in model.parameters()) == graph.trainable


def test_repeat_limit_is_expand_max_repeat(tmp_path, monkeypatch):
    from netc.spec import expand

    monkeypatch.setattr(expand, "MAX_REPEAT", 2)
    spec = tmp_path / "net.yaml"
    spec.write_text("netc: 1\nname: n\ninput: {shape: [4]}\n"
                    "body:\n  - repeat: {times: 3, body: [relu]}\n")
    with pytest.raises(SpecError, match="limit of 2"):
        netc.load(str(spec))


def test_content_hash_is_computed_once_per_build(monkeypatch):
    import hashlib

    graph = netc.load(EXAMPLES / "resnet20_cifar.yaml")
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    netc.build(graph)
    assert len(calls) == 1
