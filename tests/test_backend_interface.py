"""The Backend interface is the whole of a backend: a third backend registered as a plug-in takes
part in `netc diff`, `netc check` and `netc weights` with no change to netc, and nothing outside
netc/backends/ names a framework."""
import ast
import json
import re
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import netc
import netc.backends
from netc.cli import main
from netc.weights import random_weights

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
SPEC = """
netc: 1
name: tiny
input: {shape: [3, 12, 12]}
body:
  - conv2d: {name: conv, out: 8, kernel: 3, stride: 2, pad: 1, bias: false}
  - batchnorm: {name: bn}
  - relu
  - flatten: {name: flat}
  - linear: {name: fc, out: 4}
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC)
    return str(path)


@pytest.fixture
def mirror(monkeypatch):
    """The `mirror` backend registered under the entry-point group, as an installed plug-in is."""
    real = netc.backends.entry_points
    plugin = EntryPoint(name="mirror", value="tests.mirror_backend:MirrorBackend",
                        group="netc.backends")
    monkeypatch.setattr(netc.backends, "entry_points",
                        lambda group: [*real(group=group), plugin])
    return plugin


def test_a_plugin_backend_takes_part_in_diff(spec, mirror):
    done = CliRunner().invoke(main, ["diff", spec, "--backends", "torch,mirror", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    # conv 216 + bn 16 affine + 16 statistics + fc 8*6*6*4 = 1152 weights and 4 biases
    assert report["headlines"]["mirror"]["value"] == 216 + 32 + 1152 + 4
    assert report["headlines"]["mirror"]["notes"] == ["mirror numel() counts batch-norm moving "
                                                       "statistics: +16"]
    assert report["totals"]["mirror"] == report["totals"]["ir"]
    assert report["ok"]


def test_a_plugin_backend_takes_part_in_check(spec, mirror):
    done = CliRunner().invoke(main, ["check", spec, "--backends", "mirror,torch"])
    assert done.exit_code == 0, done.output
    assert "mirror as reference" in done.output


def test_a_plugin_backend_takes_part_in_weights(spec, mirror, tmp_path):
    graph = netc.load(spec)
    net = netc.build(graph, backend="torch")
    netc.backends.get_backend("torch").import_weights(net, graph, random_weights(graph, seed=1))
    torch.save(net.state_dict(), tmp_path / "a.pt")
    runner = CliRunner()
    for src, dst in [("a.pt", "b.npz"), ("b.npz", "c.pt")]:
        done = runner.invoke(main, ["weights", str(tmp_path / src), str(tmp_path / dst),
                                    "--spec", spec])
        assert done.exit_code == 0, done.output
    with np.load(tmp_path / "b.npz") as data:
        assert sorted(data.files) == sorted(f"{n.name}.{p.name}" for n in graph.nodes for p in n.params)
    back = torch.load(tmp_path / "c.pt", weights_only=True)
    for key, value in back.items():
        assert torch.equal(value, net.state_dict()[key]), key


def test_weight_files_are_routed_by_the_suffixes_backends_read(spec, mirror, tmp_path):
    (tmp_path / "w.bin").write_bytes(b"")
    done = CliRunner().invoke(main, ["weights", str(tmp_path / "w.bin"), str(tmp_path / "o.npz"),
                                     "--spec", spec])
    assert done.exit_code == 2
    assert ".npz (mirror)" in done.output and ".pt, .pth (torch)" in done.output


def test_check_at_a_smaller_input_size_through_load(spec):
    graph = netc.load(spec, input_size=(8, 10))
    assert graph.input_shape == [3, 8, 10]
    assert netc.load(spec).input_shape == [3, 12, 12]
    with pytest.raises(netc.SpecError, match="two positive whole numbers"):
        netc.load(spec, input_size=(8,))


def test_an_input_size_needs_an_image_input(tmp_path):
    path = tmp_path / "flat.yaml"
    path.write_text("netc: 1\nname: mlp\ninput: {shape: [16]}\nbody:\n  - linear: {out: 4}\n")
    with pytest.raises(netc.SpecError, match="applies to an image input"):
        netc.load(path, input_size=(8, 8))


# -- nothing outside the backends names a framework ------------------------------------------------

FRAMEWORKS = {"torch", "tensorflow", "keras"}
# Backend-specific by design: the backends, and each backend's training modules.
BACKEND_SPECIFIC = re.compile(r"netc/backends/.*|netc/train/(torch|keras)_\w+\.py")


def _modules():
    for path in sorted((ROOT / "netc").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if not BACKEND_SPECIFIC.fullmatch(rel):
            yield path


def _docstrings(tree) -> set[int]:
    """Strings standing alone as statements: docstrings, and prose between definitions."""
    return {id(node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}


def _framework_uses(source: str) -> list[str]:
    tree = ast.parse(source)
    docs, found = _docstrings(tree), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in FRAMEWORKS]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if FRAMEWORKS & set(node.module.split(".")):
                found.append(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            words = {w.strip("'\".,:;()[]") for w in node.value.replace(",", " ").split()}
            found += sorted(words & FRAMEWORKS)
        elif isinstance(node, (ast.Name, ast.Attribute)):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in FRAMEWORKS:
                found.append(name)
    return found


@pytest.mark.parametrize("path", list(_modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_names_no_framework(path):
    assert _framework_uses(path.read_text()) == [], f"{path.relative_to(ROOT)} names a framework"


def test_the_scan_sees_imports_names_and_strings_but_not_prose():
    source = ('"""About torch."""\nimport torch.nn\nfrom ..backends.keras import x\n'
              'B = {"keras": 1}\n"""keras, in prose"""\nif backend == "torch, tensorflow": tf = keras\n')
    assert sorted(_framework_uses(source)) == sorted(
        ["torch.nn", "backends.keras", "keras", "tensorflow", "torch", "keras"])


def test_each_backend_names_its_trainer(mirror):
    from netc.backends import Unsupported, get_backend

    assert get_backend("torch").trainer().__name__ == "TorchTrainer"
    assert get_backend("keras").trainer().__name__ == "KerasTrainer"
    with pytest.raises(Unsupported, match="the mirror backend does not support training"):
        get_backend("mirror").trainer()
