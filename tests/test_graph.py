"""`netc graph`: the DOT structure of ResNet-50 collapsed to stages and opened to its blocks'
layers with their residual adds, of a DenseNet block with its concatenations, the escaping of
names, and pictures rendered by Graphviz (or, without it, a clear error)."""
import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

import netc
from netc.cli import main
from netc.graph.dot import quote, to_dot

from conftest import EXAMPLES

NODE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)" \[label=("(?:[^"\\]|\\.)*"|[^,]*), shape=(\w+)', re.M)
EDGE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)" \[label="([^"]*)"\]', re.M)
CLUSTER = re.compile(r'subgraph "cluster:((?:[^"\\]|\\.)*)"')
ENDS = {"netc:input", "netc:output"}


def parse(text: str):
    """(node id -> (label, shape), [(tail, head, label)], [cluster names]) of netc's DOT text."""
    nodes = {m.group(1): (m.group(2), m.group(3)) for m in NODE.finditer(text)}
    return nodes, [m.groups() for m in EDGE.finditer(text)], CLUSTER.findall(text)


@pytest.fixture(scope="module")
def resnet50():
    return netc.load(EXAMPLES / "resnet50.yaml")


@pytest.fixture(scope="module")
def densenet121():
    return netc.load(EXAMPLES / "densenet121.yaml")


def test_resnet50_collapsed_shows_its_stages(resnet50):
    text = to_dot(resnet50)
    nodes, edges, clusters = parse(text)
    assert set(nodes) - ENDS == {"conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3",
                                 "layer4", "avgpool", "fc"}
    assert clusters == []
    chain = [("netc:input", "conv1", "3x224x224"), ("conv1", "bn1", "64x112x112"),
             ("bn1", "relu", "64x112x112"), ("relu", "maxpool", "64x112x112"),
             ("maxpool", "layer1", "64x56x56"), ("layer1", "layer2", "256x56x56"),
             ("layer2", "layer3", "512x28x28"), ("layer3", "layer4", "1024x14x14"),
             ("layer4", "avgpool", "2048x7x7"), ("avgpool", "fc", "2048"),
             ("fc", "netc:output", "1000")]
    assert edges == chain
    label = nodes["layer3"][0]
    assert "6 x bottleneck" in label and "residual add" in label
    # Table 1 of He et al. 2016: the first block projects 512 -> 1024 (conv and batch norm),
    # five more take 1024; each is 1x1 -> 256, 3x3 256, 1x1 -> 1024, with three batch norms.
    first = 512 * 256 + 256 * 256 * 9 + 256 * 1024 + 2 * (256 + 256 + 1024) + 512 * 1024 + 2 * 1024
    rest = 1024 * 256 + 256 * 256 * 9 + 256 * 1024 + 2 * (256 + 256 + 1024)
    assert "7.1M params" in label
    assert f"params {first + 5 * rest:,}" in re.search(r'"layer3" \[.*tooltip="([^"]*)"', text).group(1)


def test_the_tooltip_holds_params_and_macs(resnet50):
    text = to_dot(resnet50)
    tip = re.search(r'"conv1" \[.*tooltip="([^"]*)"', text).group(1)
    assert tip == "conv1: 1 node, output 64x112x112\\nparams 9,408\\nMACs 118,013,952"
    stage = re.search(r'"layer1" \[.*tooltip="([^"]*)"', text).group(1)
    layer1 = [n for n in resnet50.nodes if n.name.startswith("layer1.")]
    assert f"params {sum(n.param_count(('weight', 'bias', 'norm-affine')) for n in layer1):,}" in stage
    assert f"MACs {sum(n.macs for n in layer1):,}" in stage


def test_resnet50_at_depth_2_shows_each_block_and_its_add(resnet50):
    nodes, edges, clusters = parse(to_dot(resnet50, depth=2))
    assert clusters[:2] == ["layer1", "layer1.0"]
    assert len([c for c in clusters if c.count(".") == 1]) == 16  # 3 + 4 + 6 + 3 blocks
    adds = {name for name, (label, shape) in nodes.items() if shape == "circle"}
    assert len(adds) == 16 and all(a.endswith(".add") for a in adds)
    into = {a: sorted(t for t, h, _ in edges if h == a) for a in adds}
    # A projection shortcut is collapsed (third level); an identity one comes from the last block.
    assert into["layer1.0.add"] == ["layer1.0.bn3", "layer1.0.downsample"]
    assert into["layer1.1.add"] == ["layer1.0.out", "layer1.1.bn3"]
    assert into["layer3.5.add"] == ["layer3.4.out", "layer3.5.bn3"]
    assert ("layer1.0.out", "layer1.1.add", "256x56x56") in edges


def test_a_densenet_block_shows_its_concatenations(densenet121):
    nodes, edges, clusters = parse(to_dot(densenet121))
    # `features` holds most of the network: opened without counting as a level.
    assert clusters == ["features"]
    assert {"features.denseblock1", "features.transition1", "classifier"} <= set(nodes)
    assert "6 x dense_layer" in nodes["features.denseblock1"][0]
    assert "concat" in nodes["features.denseblock1"][0]

    nodes, edges, _ = parse(to_dot(densenet121, depth=2))
    concats = sorted((n for n, (_, shape) in nodes.items() if shape == "invtrapezium"),
                     key=lambda n: int(n.split(".")[2].removeprefix("denselayer")))
    block1 = [n for n in concats if ".denseblock1." in n]
    assert len(block1) == 6
    # Each layer concatenates its 32 new maps onto everything before it (growth rate 32).
    for i, name in enumerate(block1, start=1):
        sources = sorted((t, label) for t, h, label in edges if h == name)
        before = "features.pool0" if i == 1 else block1[i - 2]
        assert sources == sorted([(before, f"{64 + 32 * (i - 1)}x56x56"),
                                  (f"features.denseblock1.denselayer{i}.conv2", "32x56x56")])


def test_names_are_escaped():
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    graph = netc.load(EXAMPLES / "resnet20_cifar.yaml")
    graph.rename({"fc": 'f"c\\N'})
    nodes, edges, _ = parse(to_dot(graph))
    assert 'f\\"c\\\\N' in nodes
    assert ("4", 'f\\"c\\\\N', "64") in edges  # from the unnamed global pool


def test_an_escaped_name_survives_graphviz(tmp_path):
    from netc.graph.render import write

    graph = netc.load(EXAMPLES / "resnet20_cifar.yaml")
    graph.rename({"fc": 'f"c\\N}; x -> y'})
    out = tmp_path / "odd.svg"
    if shutil.which("dot") is None:
        with pytest.raises(netc.SpecError, match="needs Graphviz"):
            write(to_dot(graph), str(out))
        return
    write(to_dot(graph), str(out))
    # Graphviz keeps an ID's backslashes as written; a label shows the name itself.
    assert 'f"c\\\\N}; x -> y' in _svg_nodes(out)
    texts = [t.text for t in ET.parse(out).getroot().iter("{http://www.w3.org/2000/svg}text")]
    assert 'f"c\\N}; x -> y' in texts
    assert len(_svg_nodes(out)) == len(parse(to_dot(graph))[0])


def _svg_nodes(path) -> list[str]:
    root = ET.parse(path).getroot()
    ns = {"svg": "http://www.w3.org/2000/svg"}
    return [g.find("svg:title", ns).text for g in root.iter("{http://www.w3.org/2000/svg}g")
            if g.get("class") == "node"]


def test_an_svg_of_resnet50(resnet50, tmp_path, monkeypatch):
    out = tmp_path / "r50.svg"
    done = CliRunner().invoke(main, ["graph", str(EXAMPLES / "resnet50.yaml"), "-o", str(out)])
    if shutil.which("dot") is None:  # the picture needs Graphviz; without it, a clear error
        assert done.exit_code == 2 and "apt-get install graphviz" in done.output
        return
    assert done.exit_code == 0, done.output
    titles = _svg_nodes(out)
    assert len(titles) == 12 and "layer3" in titles
    assert 'xlink:title="conv1: 1 node, output 64x112x112&#10;params 9,408' in out.read_text()


def test_a_png_and_dot_text(tmp_path):
    spec = str(EXAMPLES / "resnet20_cifar.yaml")
    runner = CliRunner()
    done = runner.invoke(main, ["graph", spec, "-o", str(tmp_path / "r20.dot"), "--depth", "1"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "r20.dot").read_text() == to_dot(netc.load(spec), depth=1)
    done = runner.invoke(main, ["graph", spec, "-o", str(tmp_path / "r20.png")])
    if shutil.which("dot") is None:
        assert done.exit_code == 2
        return
    assert done.exit_code == 0, done.output
    assert (tmp_path / "r20.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_graphviz_dot_text_is_written_and_pictures_say_how(tmp_path, monkeypatch):
    import netc.graph.render as render

    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    spec = str(EXAMPLES / "resnet20_cifar.yaml")
    runner = CliRunner()
    done = runner.invoke(main, ["graph", spec, "-o", str(tmp_path / "r20.svg")])
    assert done.exit_code == 2 and "Traceback" not in done.output
    assert "needs Graphviz's 'dot' program, which is not installed" in done.output
    assert "apt-get install graphviz" in done.output and "-o NAME.dot" in done.output
    assert not (tmp_path / "r20.svg").exists()
    assert runner.invoke(main, ["graph", spec, "-o", str(tmp_path / "r20.dot")]).exit_code == 0


def test_an_unknown_picture_suffix_is_refused(tmp_path):
    done = CliRunner().invoke(main, ["graph", str(EXAMPLES / "resnet20_cifar.yaml"),
                                     "-o", str(tmp_path / "net.jpg")])
    assert done.exit_code == 2
    assert "netc graph writes .svg, .png, .dot, .gv files" in done.output
