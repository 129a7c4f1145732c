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


# torch.compile loads triton, which crashes in a process that has loaded TensorFlow (the Keras
# tests share pytest's processes), so compiled checks run in a fresh interpreter.
COMPILE_CHECK = """
import sys, torch, netc
spec, size = sys.argv[1], [int(v) for v in sys.argv[2:]]
graph = netc.load(spec, {"num_classes": 10} if "resnet50" in spec else None)
model = netc.build(graph).eval()
x = torch.randn(2, *size)
# float32 rounding grows with the values compared (ResNet-50's declared Kaiming initialisation
# gives outputs of order 10): 1e-5 of the largest, and at least 1e-5
def close(a, b):
    return torch.allclose(a, b, rtol=0, atol=1e-5 * max(1.0, b.abs().max().item()))
with torch.no_grad():
    expected = model(x)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    assert close(compiled(x), expected)
    cl = model.to(memory_format=torch.channels_last)
    assert close(cl(x.to(memory_format=torch.channels_last)), expected)
torch.manual_seed(0)
train, twin = netc.build(graph), netc.build(graph)
twin.load_state_dict(train.state_dict())
step = torch.compile(twin, fullgraph=True, backend="aot_eager")
train(x).square().mean().backward()
step(x).square().mean().backward()
for (name, a), b in zip(train.named_parameters(), twin.parameters()):
    assert close(a.grad, b.grad), name
print("ok")
"""


@pytest.mark.parametrize("spec,size", [("resnet50.yaml", "3 64 64"),
                                       ("resnet20_cifar.yaml", "3 32 32"),
                                       ("digits_resnet.yaml", "1 8 8")])
def test_fullgraph_compile_channels_last_and_training_step(spec, size):
    out = subprocess.run([sys.executable, "-c", COMPILE_CHECK, str(EXAMPLES / spec), *size.split()],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


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
