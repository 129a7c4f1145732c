"""The zoo's specs that torchvision ships, checked against torchvision itself: parameter counts
exact (IR and live model), torchvision's state_dict loads with strict=True, and eval outputs equal.

The expectations live in the `torchvision:` section of examples/REFERENCES.yaml; the entries
marked `meta: true` are too large to build on the CPU here and are compared on the meta device.
"""
from __future__ import annotations

import textwrap

import pytest
import yaml

import netc
from conftest import EXAMPLES

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

REFERENCES = yaml.safe_load((EXAMPLES / "REFERENCES.yaml").read_text())["torchvision"]
SPECS = sorted(REFERENCES)
ON_META = [s for s in SPECS if REFERENCES[s].get("meta")]
BUILT = [s for s in SPECS if s not in ON_META]
TOLERANCE = 1e-5


@pytest.fixture(autouse=True, scope="module")
def _flush_denormals():
    """Random deep nets produce denormal floats, which x86 CPUs handle up to 20x slower."""
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


def _graph(spec):
    return netc.load(EXAMPLES / spec, {"size": REFERENCES[spec]["size"]})


def _reference(spec):
    ref = REFERENCES[spec]
    model = getattr(torchvision.models, ref["builder"])(weights=None, **ref["kwargs"])
    _calibrate_norms(model, ref["size"])
    return model.eval()


def _calibrate_norms(model, size):
    """Fresh batch norms are the identity in eval mode (mean 0, var 1, scale 1, shift 0), which
    would hide a wrong eps, a missing norm or swapped statistics, and let activations fade until
    the output no longer depends on the input. Give each norm the statistics of a random batch, as
    training would, and a random scale and shift; then scale the classifier so the outputs are
    about 1 and the 1e-5 tolerance is relative to them."""
    generator = torch.Generator().manual_seed(0)
    batch = torch.randn(4, 3, size, size, generator=generator)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: after one batch, that batch's statistics
    with torch.no_grad():
        model.train()(batch)
        for norm in norms:
            norm.momentum = 0.1
            norm.weight.copy_(torch.rand(norm.num_features, generator=generator) + 0.5)
            norm.bias.copy_(torch.randn(norm.num_features, generator=generator) * 0.1)
        scale = model.eval()(batch).abs().max()
        # the classifier: a Linear, or SqueezeNet's 1x1 convolution (then ReLU and pooling,
        # which a positive factor passes through)
        last = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))][-1]
        last.weight /= scale
        last.bias /= scale


def test_every_torchvision_spec_is_listed():
    assert SPECS, "REFERENCES.yaml lists no torchvision specs"
    for spec in SPECS:
        assert (EXAMPLES / spec).is_file(), f"REFERENCES.yaml lists {spec}, which does not exist"
        assert spec == f"{REFERENCES[spec]['builder']}.yaml", \
            f"{spec}: torchvision specs are named after their builder"


@pytest.fixture
def on_meta(monkeypatch):
    """Build on the meta device, which allocates and initialises nothing. RegNet's BlockParams
    computes its stage table with tensors and reads them back (.tolist()), which a meta tensor
    cannot do: that step alone runs on the CPU."""
    plan = torchvision.models.regnet.BlockParams.from_init_params.__func__

    def plan_on_cpu(cls, *args, **kwargs):
        with torch.device("cpu"):
            return plan(cls, *args, **kwargs)

    monkeypatch.setattr(torchvision.models.regnet.BlockParams, "from_init_params",
                        classmethod(plan_on_cpu))
    with torch.device("meta"):
        yield


def _counted(spec):
    """Counts read from the reference itself (built on the meta device: counting needs no
    values), for builders zoo-params.json does not list."""
    model = getattr(torchvision.models, REFERENCES[spec]["builder"])(weights=None,
                                                                      **REFERENCES[spec]["kwargs"])
    return {"params": sum(p.numel() for p in model.parameters()),
            "bn_buffers": sum(b.numel() for k, b in model.named_buffers()
                              if k.endswith(("running_mean", "running_var")))}


@pytest.mark.parametrize("spec", BUILT)
def test_ir_counts_match_torchvision(spec, zoo_params, on_meta):
    graph, ref = _graph(spec), REFERENCES[spec]
    assert graph.trainable == ref["params"], \
        f"{spec}: the IR has {graph.trainable:,} trainable parameters, torchvision {ref['params']:,}"
    stats = graph.count(("norm-statistic",))
    expected = zoo_params.get(f"torchvision.{ref['builder']}") or _counted(spec)
    assert expected["params"] == ref["params"], f"{spec}: REFERENCES.yaml and zoo-params.json differ"
    assert stats == expected["bn_buffers"], \
        f"{spec}: the IR has {stats:,} batch-norm statistics, torchvision {expected['bn_buffers']:,}"


@pytest.mark.parametrize("spec", BUILT)
def test_torchvision_weights_load_and_outputs_match(spec):
    graph, ref = _graph(spec), REFERENCES[spec]
    size = ref["size"]
    assert graph.input_shape == [3, size, size], "the spec's input does not follow its `size` param"
    reference = _reference(spec)
    with torch.device("meta"):  # its values come from the reference: initialising them is waste
        model = netc.build(graph)
    assert sum(p.numel() for p in model.parameters()) == ref["params"]
    assert sum(p.numel() for p in reference.parameters()) == ref["params"]
    model.load_state_dict(reference.state_dict(), strict=True, assign=True)
    model.eval()
    generator = torch.Generator().manual_seed(1)
    x, other = (torch.randn(1, 3, size, size, generator=generator) for _ in range(2))
    with torch.no_grad():
        ours, theirs = model(x), reference(x)
        spread = (theirs - reference(other)).abs().max().item()
    assert spread > 0.01, f"the reference's output hardly depends on its input ({spread:.3g})"
    assert ours.shape == theirs.shape
    diff = (ours - theirs).abs().max().item()
    assert diff <= TOLERANCE, f"{spec}: outputs differ by {diff:.3g} at {size}x{size}"


@pytest.mark.parametrize("spec", ON_META)
def test_large_specs_count_and_key_on_meta(spec, on_meta):
    """Specs too large to build on the CPU here (regnet_y_128gf: 645M parameters): the reference
    and netc's model are built on the meta device; their counts, the IR's, and every state_dict
    key and shape must be equal."""
    graph, ref = _graph(spec), REFERENCES[spec]
    reference = getattr(torchvision.models, ref["builder"])(weights=None, **ref["kwargs"])
    model = netc.build(graph)
    assert graph.trainable == ref["params"], \
        f"{spec}: the IR has {graph.trainable:,} trainable parameters, torchvision {ref['params']:,}"
    assert sum(p.numel() for p in reference.parameters()) == ref["params"]
    assert sum(p.numel() for p in model.parameters()) == ref["params"]
    stats = sum(b.numel() for k, b in reference.named_buffers()
                if k.endswith(("running_mean", "running_var")))
    assert graph.count(("norm-statistic",)) == stats
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert ours.keys() == theirs.keys(), (sorted(ours.keys() - theirs.keys())[:5],
                                          sorted(theirs.keys() - ours.keys())[:5])
    assert ours == theirs, [k for k in ours if ours[k] != theirs[k]][:5]


# -- the spec features these specs rely on, on small nets whose names are worked out by hand ------

def _load(tmp_path, text, overrides=None):
    path = tmp_path / "net.yaml"
    path.write_text(textwrap.dedent(text))
    return netc.load(str(path), overrides)


def _names(graph, op=None):
    return [n.name for n in graph.nodes if op is None or n.op == op]


def test_input_shape_follows_a_network_param(tmp_path):
    text = """
        netc: 1
        params: {size: 32}
        input: {shape: [3, $size, "${size // 2}"]}
        body: [conv2d: {out: 4, kernel: 3}]
    """
    assert _load(tmp_path, text).input_shape == [3, 32, 16]
    graph = _load(tmp_path, text, {"size": 20})
    assert graph.input_shape == [3, 20, 10] and graph.nodes[0].shape == [4, 18, 8]
    with pytest.raises(netc.SpecError, match="positive whole number") as err:
        _load(tmp_path, text, {"size": 1})
    assert err.value.loc.line == 4


def test_when_skips_a_layer_and_its_index(tmp_path):
    text = """
        netc: 1
        params: {norm: false}
        input: {shape: [3, 8, 8]}
        body:
          - conv2d: {out: 4, kernel: 3, pad: 1}
          - batchnorm: {when: $norm}
          - relu
    """
    assert _names(_load(tmp_path, text)) == ["0", "1"]  # relu takes index 1, as layers.append does
    assert _names(_load(tmp_path, text, {"norm": True})) == ["0", "1", "2"]
    with pytest.raises(netc.SpecError, match="'when' must be true or false"):
        _load(tmp_path, text.replace("$norm", "\"${norm + 2}\""))


def test_an_empty_name_opens_no_namespace(tmp_path):
    graph = _load(tmp_path, """
        netc: 1
        input: {shape: [3, 8, 8]}
        blocks:
          unit:
            params: {out: int}
            body: [conv2d: {name: conv, out: $out, kernel: 1}, relu: {name: act}]
        body:
          - parallel:
              name: mix
              branches:
                - [unit: {name: a, out: 2}]
                - - unit: {name: b, out: 3}
                  - parallel:
                      name: ""
                      branches: [[unit: {name: b1, out: 4}], [unit: {name: b2, out: 5}]]
                - [unit: {name: "", out: 6}]
    """)
    assert _names(graph, "conv2d") == ["mix.a.conv", "mix.b.conv", "mix.b1.conv", "mix.b2.conv",
                                       "mix.conv"]
    # the inner parallel's concat came first; the outer one gets the next free name
    assert _names(graph, "concat") == ["mix.concat", "mix.concat1"]
    assert graph.shape_of(graph.outputs[0]) == [2 + 4 + 5 + 6, 8, 8]


def test_stage_table_name_column_layer_rows_and_empty_names(tmp_path):
    graph = _load(tmp_path, """
        netc: 1
        input: {shape: [3, 8, 8]}
        blocks:
          unit:
            params: {out: int}
            body: [conv2d: {name: conv, out: $out, kernel: 1}]
        body:
          - stages:
              block: unit
              block_name: ""
              columns: [name, out]
              rows:
                - [first, 4]
                - maxpool: {name: pool, kernel: 2}
                - [second, 6]
          - stages:
              block: unit
              name: ""
              block_name: "{index + 1}"
              columns: [repeat, out]
              rows: [[2, 8], [1, 10]]
    """)
    assert _names(graph) == ["first.conv", "pool", "second.conv", "1.conv", "2.conv", "3.conv"]
    assert graph.node("second.conv").shape == [6, 4, 4]


def test_flat_numbering_names_layers_by_position(tmp_path):
    text = """
        netc: 1
        input: {shape: [3, 8, 8]}
        blocks:
          unit:
            params: {out: int}
            body: [conv2d: {out: $out, kernel: 3, pad: 1}, relu]
        body:
          - seq:
              name: features
              numbering: flat
              body:
                - stages: {block: unit, columns: [repeat, out], rows: [[2, 4], [1, 8]],
                           between: {maxpool: {kernel: 2}}}
                - maxpool: {kernel: 2}
          - flatten
    """
    graph = _load(tmp_path, text)
    assert _names(graph) == [f"features.{k}" for k in range(8)] + ["1"]
    assert [graph.node(f"features.{k}").op for k in (0, 1, 4, 5, 6, 7)] == \
        ["conv2d", "relu", "maxpool", "conv2d", "relu", "maxpool"]
    assert graph.node("1").inputs == ["features.7"]
    assert [s["blocks"] for s in graph.meta["stages"]] == [["features.0", "features.2"],
                                                          ["features.5"]]
    model = netc.build(graph)
    assert sorted(k for k in model.state_dict()) == [
        "features.0.bias", "features.0.weight", "features.2.bias", "features.2.weight",
        "features.5.bias", "features.5.weight"]
    with pytest.raises(netc.SpecError, match="already exists"):
        _load(tmp_path, text.replace("          - flatten", "          - relu: {name: features.3}")
              .replace("          - seq:", "          - relu: {name: features.3}\n          - seq:"))
