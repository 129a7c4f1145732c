"""`--set NAME=VALUE`: values read by the spec's YAML rules, mistakes located on the command line.
(The refusals, each through `netc validate`, are corpus cases: tests/bad/set_*.yaml.)"""
from __future__ import annotations

import pytest
from click.testing import CliRunner

import netc
from netc.cli import main
from netc.commands.options import overrides
from netc.spec.errors import Location, SpecError
from netc.spec.loader import key_location, location_of

SPEC = """\
netc: 1
params: {p: float, width: {default: 8}, sizes: {default: [1, 2]}}
input: {shape: [3, 8, 8]}
body:
  - conv2d: {out: $width, kernel: 1}
  - dropout: {p: $p}
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return str(path)


def test_values_are_read_as_in_a_spec():
    values = overrides(("p=1e-1", "width=0x10", "sizes=[3, 4]", "flag=yes", "name='1e-1'"))
    assert values == {"p": 0.1, "width": 16, "sizes": [3, 4], "flag": True, "name": "1e-1"}
    assert isinstance(values["p"], float)


def test_each_value_knows_where_it_was_typed():
    values = overrides(("width=16", " p = 1e-1", "sizes=[3, 4]"))
    assert key_location(values, "width") == Location("--set width=16", 1, 7)
    assert location_of(values, "width") == Location("--set width=16", 1, 13)
    assert key_location(values, "p") == Location("--set  p = 1e-1", 1, 8)
    assert location_of(values, "p") == Location("--set  p = 1e-1", 1, 12)
    assert location_of(values["sizes"], 1) == Location("--set sizes=[3, 4]", 1, 17)


def test_a_float_from_the_command_line_is_a_float(spec):
    result = CliRunner().invoke(main, ["validate", "--set", "p=1e-1", spec])
    assert result.exit_code == 0, result.output  # '1e-1' as text would not be a float
    assert netc.load(spec, overrides(("p=1e-1",))).nodes[1].attrs["p"] == 0.1


def test_a_mistake_in_a_value_names_the_argument_not_the_spec(spec):
    result = CliRunner().invoke(main, ["validate", "--set", "p=0.1", "--set", "width=1e100", spec])
    assert result.exit_code == 2
    assert result.output.startswith("--set width=1e100:1:13: error: ")
    assert "Traceback" not in result.output and "net.yaml" not in result.output


def test_a_type_error_is_located_at_the_value(spec):
    with pytest.raises(SpecError) as info:
        netc.load(spec, overrides(("p=0.1", "width=[1]")))
    assert "parameter 'width' must be int" in info.value.message
    assert info.value.loc == Location("--set width=[1]", 1, 13)


def test_a_plain_dict_from_python_still_works(spec):
    graph = netc.load(spec, {"p": 0.25, "width": 4})
    assert graph.nodes[0].attrs["out_channels"] == 4
