"""`${...}` expressions: what they compute, and that everything else is refused with a message
(never evaluated by Python, never a traceback, never a memory blow-up)."""
from __future__ import annotations

import pytest

from netc.spec.errors import ExprError, Location
from netc.spec.expressions import Namespace, evaluate, format_name, is_expression, resolve

ENV = {"width": 64, "stride": 2, "rate": 0.5, "stage": 3, "name": "conv",
       "in": Namespace(channels=256, height=28, width=28, shape=[256, 28, 28])}
LOC = Location("net.yaml", 7, 12)


@pytest.mark.parametrize("text, value", [
    ("$width", 64),
    ("${width * 4}", 256),
    ("${width // 3}", 21),
    ("${width / 128}", 0.5),
    ("${width % 5}", 4),
    ("${2 ** 10}", 1024),
    ("${-width + 1}", -63),
    ("${in.channels // 2}", 128),  # a DenseNet transition halves the incoming channels
    ("${in.height * in.width}", 784),
    ("${min(width, 32)}", 32),
    ("${max(1, floor(width * rate))}", 32),
    ("${ceil(width / 3)}", 22),
    ("${int(rate * 10)}", 5),
    ("${1 if stride == 2 else 0}", 1),
    ("${1 < stride <= 2}", True),
    ("${1 < stride < 2}", False),
    ("${stride == 2 and width > 10}", True),
    ("${not True or False}", False),
    ("${name + '_dw'}", "conv_dw"),
    ("${ width*2 }", 128),
])
def test_values(text, value):
    assert resolve(text, ENV) == value


def test_non_expressions_pass_through():
    assert resolve(64, ENV) == 64
    assert resolve("same", ENV) == "same"
    assert resolve([1, "$width"], ENV) == [1, "$width"]  # lists are resolved item by item upstream
    assert is_expression("$width") and is_expression("${1}") and not is_expression("width")


def test_name_templates():
    assert format_name("layer{stage}", ENV) == "layer3"
    assert format_name("block${stage - 1}", ENV) == "block2"
    assert format_name("s{width / 32}", ENV) == "s2"  # 2.0 names as 2
    assert format_name("plain", ENV) == "plain"


def test_a_name_template_is_bounded():
    with pytest.raises(ExprError, match="a name of 1,002 characters") as info:
        format_name("{i}" * 334, {"i": 1}, LOC)
    assert info.value.loc == LOC


def test_an_expression_at_the_depth_limit_evaluates():
    assert resolve("${" + "-(" * 30 + "1" + ")" * 30 + "}", ENV) == 1


@pytest.mark.parametrize("text, message, hint", [
    ("${width / (stride - 2)}", "division by zero", "divisor"),
    ("${width // 0}", "division by zero", None),
    ("${widht * 2}", "unknown name 'widht'", "did you mean 'width'?"),
    ("${zzz}", "unknown name 'zzz'", "known names: in, name, rate, stage, stride, width"),
    ("${in.chanels}", "'in' has no 'chanels'", "did you mean 'channels'?"),
    ("${width.real}", "'.real' is only allowed on 'in'", None),
    ("${in.__class__}", "'in' has no '__class__'", None),
    ("${__import__('os')}", "unknown function '__import__'", "available: abs, ceil"),
    ("${__import__('os').system('true')}", "unknown function '__import__('os').system'", None),
    ("${open('/etc/passwd')}", "unknown function 'open'", None),
    ("${mx(1, 2)}", "unknown function 'mx'", "did you mean 'max'?"),
    ("${max(1, key=2)}", "max() takes no keyword arguments", None),
    ("${(lambda: 1)}", "Lambda is not allowed", None),
    ("${[1, 2][0]}", "is not allowed", None),
    ("${width if}", "cannot parse expression", None),
    ("${2 ** 100}", "exponent 100 is too large", None),
    ("${10 ** 10 * 10 ** 10}", "out of range", None),
    ("${ceil(float('inf'))}", "not a finite number", None),
    ("${sqrt(-1)}", "sqrt(): math domain error", None),
    ("${(-8) ** 0.5}", "is not a real number", None),
    ("${'ab' * 1000000000000}", "cannot apply Mult to 'ab' and 1000000000000", None),
    ("${name * 3}", "cannot apply Mult", None),
    ("${name < 3}", "cannot compare 'conv' with 3", None),
    ("${-name}", "cannot apply USub to 'conv'", None),
    ("${width is 64}", "comparison Is is not allowed", None),
    ("${width @ 2}", "operator MatMult is not allowed", None),
    ("${width in [64]}", "is not allowed", None),
    ("${" + "1 + " * 200 + "1}", "an expression of 801 characters is past netc's limit of 500",
     "compute it in steps"),
    ("${" + "-(" * 33 + "1" + ")" * 33 + "}", "nests deeper than 32 levels", "compute it in steps"),
    ("${" + "(" * 201 + "1" + ")" * 201 + "}", "cannot parse expression", None),  # Python's limit
    ("${" + "9" * 400 + "}", "out of range", None),  # a literal, before any arithmetic
    ("${10000000000000001 - 2}", "out of range", None),
    ("${1e300 * 1e300}", "out of range", None),
    ("${float('nan')}", "the result nan is not a finite number", None),
    ("${int('9' * 4)}", "cannot apply Mult to '9' and 4", None),
    ("${int('" + "9" * 450 + "')}", "out of range", None),
    ("${2 ** 2 ** 2 ** 2 ** 2}", "exponent 65536 is too large", None),
    ("${(2 ** 60) ** 60}", "out of range", None),
])
def test_refused_with_a_located_message(text, message, hint):
    with pytest.raises(ExprError) as info:
        resolve(text, ENV, LOC)
    assert message in info.value.message
    assert info.value.loc == LOC
    if hint:
        assert hint in (info.value.hint or "")


def test_nothing_is_evaluated_by_python(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(ExprError):
        evaluate(f"__import__('pathlib').Path('{marker}').touch()", ENV)
    assert not marker.exists()
