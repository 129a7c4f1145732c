"""The segmentation zoo against torchvision.models.segmentation (weights=None,
weights_backbone=None, aux_loss=True where the entry has an auxiliary head): the trainable count
exact, torchvision's state_dict loads with strict=True, and every output ("out", and the
auxiliary head's "aux") equal in eval mode.

The expectations live in the `segmentation:` section of examples/REFERENCES.yaml.
"""
from __future__ import annotations

import pytest
import yaml

import netc
from conftest import EXAMPLES

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

REFERENCES = yaml.safe_load((EXAMPLES / "REFERENCES.yaml").read_text())["segmentation"]
SPECS = sorted(s for s, e in REFERENCES.items() if "builder" in e)
SIZE = 64  # output stride 8: an 8x8 map, large enough for every atrous rate's padding to matter
TOLERANCE = 1e-5
CLASSES = 21


def _reference(spec):
    builder = getattr(torchvision.models.segmentation, REFERENCES[spec]["builder"])
    aux = {"aux_loss": True} if REFERENCES[spec]["aux"] else {}
    return builder(weights=None, weights_backbone=None, **aux)


def _calibrate(model, generator):
    """Fresh batch norms are the identity in eval mode; give each the statistics of a random
    batch and a random scale and shift, then scale each head's convolutions to the classes so the
    outputs are about 1 and the tolerance is relative to them."""
    batch = torch.randn(4, 3, SIZE, SIZE, generator=generator)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    with torch.no_grad():
        model.train()(batch)
        for norm in norms:
            norm.momentum = 0.1
            norm.weight.copy_(torch.rand(norm.num_features, generator=generator) + 0.5)
            norm.bias.copy_(torch.randn(norm.num_features, generator=generator) * 0.1)
        outputs = model.eval()(batch)
        for key, head in (("out", model.classifier), ("aux", getattr(model, "aux_classifier", None))):
            if head is None:
                continue
            scale = outputs[key].abs().max()
            for conv in head.modules():
                if isinstance(conv, torch.nn.Conv2d) and conv.out_channels == CLASSES:
                    conv.weight /= scale
                    conv.bias /= scale


def test_every_builder_spec_is_named_after_it():
    assert SPECS
    for spec in SPECS:
        assert spec == f"{REFERENCES[spec]['builder']}.yaml"


@pytest.mark.parametrize("spec", SPECS)
def test_segmentation_model_is_torchvisions(spec):
    reference = _reference(spec)
    graph = netc.load(EXAMPLES / spec, {"size": SIZE})
    count = sum(p.numel() for p in reference.parameters())
    assert graph.trainable == count == REFERENCES[spec]["params"]
    assert [o["name"] for o in graph.meta["outputs"]] == list(reference.eval()(torch.zeros(1, 3, SIZE, SIZE)))
    generator = torch.Generator().manual_seed(0)
    _calibrate(reference, generator)
    model = netc.build(graph, "torch").eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, SIZE, SIZE, generator=generator)
    with torch.no_grad():
        want = reference.eval()(x)
        got = model(x)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want) == (2 if REFERENCES[spec]["aux"] else 1)
    for name, value in zip(want, got):
        assert value.shape == want[name].shape == (2, CLASSES, SIZE, SIZE)
        assert want[name].abs().max() > 0.1  # the calibrated outputs are about 1, not faded
        assert (value - want[name]).abs().max() <= TOLERANCE, name
