"""Specs a backend cannot build exactly are refused where they were written; a spec that builds,
runs. Names that would collide with what the emitted source or nn.Module already defines are the
cases here."""
from __future__ import annotations

import pytest
import torch

import netc
from netc.backends.base import UnsupportedOp

HEAD = "netc: 1\ninput: {shape: [3, 8, 8]}\n"


def _spec(tmp_path, body: str, head: str = HEAD) -> str:
    path = tmp_path / "net.yaml"
    path.write_text(head + body)
    return str(path)


@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("name", ["forward", "training", "to", "eval", "_modules", "keys"])
def test_torch_refuses_a_module_named_like_an_nn_module_attribute(tmp_path, name, flat):
    spec = _spec(tmp_path, f"body:\n  - conv2d: {{name: {name}, out: 4, kernel: 1}}\n")
    with pytest.raises(UnsupportedOp, match=f"torch cannot name a module '{name}'") as info:
        netc.build(spec, flat=flat)
    assert (info.value.loc.file, info.value.loc.line, info.value.loc.col) == (spec, 4, 5)


@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("name", ["f", "F", "nn", "torch"])
def test_a_network_named_like_an_import_builds_and_runs(tmp_path, name, flat):
    spec = _spec(tmp_path, "body: [{conv2d: {out: 4, kernel: 1}}, relu]\n",
                 f"name: {name}\n" + HEAD)
    out = netc.build(spec, flat=flat)(torch.ones(1, 3, 8, 8))
    assert out.shape == (1, 4, 8, 8) and bool((out >= 0).all())


def test_keras_refuses_a_negative_leaky_slope_torch_takes(tmp_path):
    spec = _spec(tmp_path, "body: [{leaky_relu: {slope: -0.5}}]\n")
    with pytest.raises(UnsupportedOp, match="no negative slope") as info:
        netc.emit(spec, "keras")
    assert info.value.loc.line == 3
    x = torch.tensor([[-2.0]]).expand(1, 3, 8, 8)
    assert float(netc.build(spec)(x)[0, 0, 0, 0]) == 1.0
