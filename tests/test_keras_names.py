"""Keras layer names: IR names with '-' written as '--' and '.' as '-', reversibly for every name
lint accepts (RegNet's `trunk_output.block1-0.f`), unchanged for names without dashes; and the
RegNet spec, whose block names hold dashes, builds on Keras and agrees with torch."""
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import netc
from netc.backends.keras import ir_name, keras_name
from netc.backends.keras.names import is_under
from netc.compiler.lint import name_problem
from netc.crosscheck import numeric_check, param_diff
from netc.spec.errors import SpecError
from conftest import ROOT

_RUN = st.text(st.sampled_from("abcXY_019"), min_size=1, max_size=4)
_PART = st.lists(_RUN, min_size=1, max_size=3).map("-".join)
_NAME = st.lists(_PART, min_size=1, max_size=5).map(".".join)
_ANY = st.text(st.sampled_from("ab_.-"), min_size=1, max_size=12)


@given(_NAME)
def test_every_valid_name_maps_reversibly(name):
    assume(name_problem(name) is None)
    layer = keras_name(name)
    assert "." not in layer and ir_name(layer) == name


@given(_ANY, _ANY)
def test_distinct_names_lint_accepts_get_distinct_layer_names(a, b):
    if a != b and name_problem(a) is None and name_problem(b) is None:
        assert keras_name(a) != keras_name(b)


@given(_ANY)
def test_a_name_outside_lints_rule_is_refused_or_maps_back(name):
    try:
        layer = keras_name(name)
    except SpecError:
        assert name_problem(name) is not None
    else:
        assert ir_name(layer) == name


@pytest.mark.parametrize("name, layer", [
    ("layer1.0.downsample.0", "layer1-0-downsample-0"), ("fc", "fc"),
    ("trunk_output.block1.block1-0.f.se", "trunk_output-block1-block1--0-f-se")])
def test_layer_names(name, layer):
    assert keras_name(name) == layer and ir_name(layer) == name


@pytest.mark.parametrize("name", ["conv-", "-conv", "a--b", "a.-b", "a-.b", "a/b", "a..b", ".a"])
def test_a_name_outside_the_mapping_is_refused(name):
    with pytest.raises(SpecError, match="dashes must be single"):
        keras_name(name)


def test_a_longer_dashed_part_is_not_under_a_block():
    assert is_under("block1--0-f", "block1--0")
    assert not is_under("block1--0-f", "block1")
    assert is_under("trunk_output-block1-block1--0", "trunk_output-block1")


def test_regnet_builds_on_keras_and_agrees_with_torch():
    graph = netc.load(ROOT / "tests" / "data" / "regnet_y_400mf.yaml", input_size=(64, 64))
    diff = param_diff(graph)
    assert diff["ok"], diff["problems"]
    report = numeric_check(graph)
    assert report["ok"], (report["failed"], report["drifted"])
