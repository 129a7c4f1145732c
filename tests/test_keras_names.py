"""Keras layer names: IR names with '-' written as '--' and '.' as '-', reversibly for every name
lint accepts (RegNet's `trunk_output.block1-0.f`), unchanged for names without dashes. RegNet
itself is built on Keras and checked against torch in tests/test_zoo_backends.py."""
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from netc.backends.keras import ir_name, keras_name
from netc.backends.keras.names import is_under
from netc.compiler.lint import name_problem
from netc.spec.errors import SpecError

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

