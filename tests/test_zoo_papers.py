"""The zoo's specs that no framework ships, checked against their papers: parameter count at the
paper's rounding, depth and per-stage widths, and a forward and backward pass on the torch backend.

The expectations live in the `paper:` section of examples/REFERENCES.yaml, written from the papers.
"""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
import yaml

import netc
from conftest import EXAMPLES

REFERENCES = yaml.safe_load((EXAMPLES / "REFERENCES.yaml").read_text())["paper"]
SPECS = sorted(REFERENCES)
COUNTED = {"trainable": ("weight", "bias", "norm-affine"), "weights": ("weight", "bias")}
SHORTCUT_PARTS = {"shortcut", "downsample"}  # the namespaces our libraries give projections


def _graph(spec, _cache={}):
    if spec not in _cache:
        _cache[spec] = netc.load(EXAMPLES / spec)
    return _cache[spec]


def _bounds(stated) -> tuple[int, int]:
    """"1.7M" -> (1,650,000, 1,750,000): the paper's rounding; an integer is exact."""
    if isinstance(stated, int):
        return stated, stated
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?M", stated)
    assert match, f"cannot read the count {stated!r}"
    value = Decimal(stated[:-1]) * 10**6
    half = Decimal(5) * 10 ** (6 - len(match.group(2) or "") - 1)
    return int(value - half), int(value + half)


def test_bounds_read_the_papers_rounding():
    assert _bounds("1.7M") == (1_650_000, 1_750_000)
    assert _bounds("6.57M") == (6_565_000, 6_575_000)
    assert _bounds(123) == (123, 123)


@pytest.mark.parametrize("spec", SPECS)
def test_parameter_count_matches_the_paper(spec):
    ref = REFERENCES[spec]
    low, high = _bounds(ref["params"])
    count = _graph(spec).count(COUNTED[ref.get("counted", "trainable")])
    assert low <= count <= high, f"{spec}: {count:,} parameters, the paper says {ref['params']}"


def _main_path_layers(graph) -> int:
    return sum(1 for n in graph.nodes if n.op in ("conv2d", "linear")
               and not SHORTCUT_PARTS & set(n.name.split("."))
               and ".gate." not in n.name)


@pytest.mark.parametrize("spec", SPECS)
def test_structure_matches_the_paper(spec):
    ref, graph = REFERENCES[spec], _graph(spec)
    assert _main_path_layers(graph) == ref["layers"]
    stages = graph.meta["stages"]
    if "widths" in ref:
        assert [s["shape"][0] for s in stages] == ref["widths"]
        assert [s["shape"][1] for s in stages] == ref["sizes"]
        assert [s["shape"][2] for s in stages] == ref["sizes"]


@pytest.mark.parametrize("spec", SPECS)
def test_forward_and_backward_on_torch(spec):
    torch = pytest.importorskip("torch")
    graph = _graph(spec)
    model = netc.build(graph, "torch").train()
    batch = REFERENCES[spec].get("batch", 2)
    torch.manual_seed(0)
    out = model(torch.randn(batch, *REFERENCES[spec].get("input", graph.input_shape)))
    assert list(out.shape) == [batch, *graph.shape_of(graph.outputs[0])]
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    first = next(n.name for n in graph.nodes if n.params)
    assert dict(model.named_parameters())[f"{first}.weight"].grad.abs().sum() > 0


def test_densenet264_is_torchvisions_densenet_class():
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    spec = "papers/densenet264.yaml"
    kwargs = REFERENCES[spec]["torchvision_class"]
    reference = torchvision.models.DenseNet(**{**kwargs, "block_config": tuple(kwargs["block_config"])})
    assert sum(p.numel() for p in reference.parameters()) == REFERENCES[spec]["params"]
    model = netc.build(_graph(spec), "torch")
    model.load_state_dict(reference.state_dict(), strict=True)
    model.eval(), reference.eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max() <= 1e-5


def test_stochastic_depth_decays_linearly_to_half():
    # Huang et al. 2016, eq. 4: block l of L = 54 is dropped with probability l / L * 0.5.
    graph = _graph("papers/stochastic_depth_resnet110_cifar.yaml")
    drops = [n for n in graph.nodes if n.op == "drop_path"]
    assert len(drops) == 54
    assert drops[0].name == "layer1.0.drop_path" and drops[-1].name == "layer3.17.drop_path"
    assert [n.attrs["p"] for n in drops] == pytest.approx([l / 54 * 0.5 for l in range(1, 55)])
    assert {n.attrs["scale"] for n in drops} == {"test"}


def test_stochastic_depth_keeps_every_block_at_test_time_scaled_by_survival():
    torch = pytest.importorskip("torch")
    graph = _graph("papers/stochastic_depth_resnet110_cifar.yaml")
    model = netc.build(graph, "torch").eval()
    last = dict(model.named_modules())["layer3.17.drop_path"]
    x = torch.ones(2, 64, 8, 8)
    assert torch.equal(last(x), x * 0.5)  # survival probability 0.5 at the last block (eq. 5)


def _from_timm(key: str) -> str:
    """timm's inception_v4 numbers its modules features.0..21; the spec names them by stage."""
    stages = ["conv1", "conv2", "conv3", "mixed_3a.0", "mixed_4a.0", "mixed_5a.0",
              *(f"inception_a.{i}" for i in range(4)), "reduction_a.0",
              *(f"inception_b.{i}" for i in range(7)), "reduction_b.0",
              *(f"inception_c.{i}" for i in range(3))]
    head, _, rest = key.partition(".")
    if head != "features":
        return key
    index, _, rest = rest.partition(".")
    return f"{stages[int(index)]}.{rest}"


def test_inception_v4_is_the_common_port():
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    reference = timm.create_model("inception_v4", pretrained=False).eval()
    spec = "papers/inception_v4.yaml"
    assert sum(p.numel() for p in reference.parameters()) == REFERENCES[spec]["params"]
    model = netc.build(_graph(spec), "torch").eval()
    model.load_state_dict({_from_timm(k): v for k, v in reference.state_dict().items()}, strict=True)
    x = torch.randn(1, *REFERENCES[spec]["input"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max() <= 1e-5
