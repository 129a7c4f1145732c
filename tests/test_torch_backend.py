"""The torch backend: emitted source is standalone, compiles as one graph, runs channels_last."""
import ast
import subprocess
import sys

import pytest
import torch

import netc
from conftest import EXAMPLES
from netc.backends.torch.ops import EMITTERS
from netc.compiler.ops import REGISTRY


def test_every_op_has_an_emitter():
    assert sorted(set(REGISTRY) - set(EMITTERS)) == []


def test_emitted_source_imports_only_torch_and_stdlib(tmp_path):
    source = netc.emit(EXAMPLES / "resnet50.yaml")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported == {"torch"}
    path = tmp_path / "model.py"
    path.write_text(source)
    # The written file runs on its own, with no netc on the path.
    code = (f"import runpy; m = runpy.run_path({str(path)!r})['build_model'](); "
            "print(sum(p.numel() for p in m.parameters()))")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    assert out.stdout.strip() == "25557032"


def test_build_returns_the_module_of_the_emitted_source():
    model = netc.build(EXAMPLES / "resnet20_cifar.yaml")
    assert type(model).__module__.startswith("netc_torch_resnet20_cifar_")
    keys = list(model.state_dict())
    assert "layer2.0.conv1.weight" in keys and "fc.bias" in keys


@pytest.mark.parametrize("spec", ["resnet50.yaml", "resnet20_cifar.yaml"])
def test_fullgraph_compile_and_channels_last(spec):
    graph = netc.load(EXAMPLES / spec, {"num_classes": 10} if "cifar" not in spec else None)
    model = netc.build(graph).eval()
    size = [3, 64, 64] if spec == "resnet50.yaml" else graph.input_shape
    x = torch.randn(2, *size)
    with torch.no_grad():
        expected = model(x)
        compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
        assert torch.allclose(compiled(x), expected, atol=1e-5)
        cl = model.to(memory_format=torch.channels_last)
        assert torch.allclose(cl(x.to(memory_format=torch.channels_last)), expected, atol=1e-5)


def test_compiled_training_step_matches_eager():
    torch.manual_seed(0)
    model = netc.build(EXAMPLES / "digits_resnet.yaml")
    twin = netc.build(EXAMPLES / "digits_resnet.yaml")
    twin.load_state_dict(model.state_dict())
    compiled = torch.compile(twin, fullgraph=True, backend="aot_eager")
    x = torch.randn(4, 1, 8, 8)
    model(x).square().mean().backward()
    compiled(x).square().mean().backward()
    assert torch.allclose(model.conv1.weight.grad, twin.conv1.weight.grad, atol=1e-5)


def test_inplace_ops_keep_gradients_exact():
    """In-place relu/add are emitted only where autograd does not need the overwritten value:
    gradients equal those of an out-of-place reference implementation."""
    from reference.cifar_resnet import CifarResNet

    torch.manual_seed(0)
    reference = CifarResNet(3)
    model = netc.build(EXAMPLES / "resnet20_cifar.yaml")
    model.load_state_dict(reference.state_dict())
    x = torch.randn(4, 3, 32, 32)
    model(x).square().sum().backward()
    reference(x).square().sum().backward()
    grads = dict(reference.named_parameters())
    for name, p in model.named_parameters():
        assert torch.allclose(p.grad, grads[name].grad, rtol=1e-4, atol=1e-5), name
