"""Small-network helpers shared by the combinator tests."""
from __future__ import annotations

import textwrap

import pytest

import netc


def load(tmp_path, text: str, overrides: dict | None = None, name: str = "net.yaml"):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return netc.load(str(path), overrides)


def by_name(graph) -> dict:
    return {n.name: n for n in graph.nodes}


def run_torch(graph, batch: int = 2):
    """Build the emitted torch model; its parameters must be the IR's, and it must train."""
    torch = pytest.importorskip("torch")
    model = netc.build(graph, backend="torch")
    assert sum(p.numel() for p in model.parameters()) == graph.trainable
    ir_keys = {f"{n.name}.{p.name}" for n in graph.nodes for p in n.params}
    keys = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert keys == ir_keys
    x = torch.randn(batch, *graph.input_shape, requires_grad=True)
    y = model(x)
    assert tuple(y.shape) == (batch, *graph.shape_of(graph.outputs[0]))
    y.square().sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    return model


def conv_params(cin, cout, k, bias=True, groups=1):
    return cout * (cin // groups) * k * k + (cout if bias else 0)
