"""Property-based mutation of zoo specs: whatever a user (or a fuzzer) writes, netc either builds a
model that constructs and runs, or refuses with a located error. Never a traceback, a hang, a
blow-up, or an exit-0 model that does not run.

Each example takes a zoo spec, changes one to three places in it (a value replaced by a nasty one,
a key deleted or renamed, a list item doubled) and feeds the text to the whole pipeline.
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netc
from conftest import deadline
from netc.backends import get_backend

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BASES = ["resnet20_cifar.yaml", "plain20_cifar.yaml", "digits_resnet.yaml",
         "papers/highway_fc_mnist.yaml", "papers/highway_conv_cifar.yaml",
         "papers/stochastic_depth_resnet110_cifar.yaml", "papers/resnet9_dawnbench_cifar.yaml",
         "papers/densenet_bc100_cifar.yaml", "mobilenet_v2.yaml", "googlenet.yaml",
         "papers/inception_v4.yaml", "keras/resnet50_v2.yaml"]
DATA = {name: yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8")) for name in BASES}
SECONDS = 30  # one example past this hangs, as far as a user can tell
RUN_MACS = 2 * 10**9  # run a forward pass when it is this cheap; always construct and emit

NASTY = st.one_of(
    st.integers(-3, 300), st.sampled_from([0, -1, 2**31, 10**12, 10**30, 2**64 + 1]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.text(max_size=12),
    st.sampled_from(["$width", "${in.channels * 2}", "${2 ** 2 ** 10}", "${1 / 0}", "same",
                     "valid", "identity", "zeropad", "none", "projection", "relu", "conv2d",
                     "add", "concat", "mul", "gated_sum", "${in.height}", "x\n", "layer{stage}",
                     "__import__('os').system('touch MARK')"]),
    st.lists(st.integers(-1, 9), max_size=5), st.just({"relu": None}), st.just([]),
    st.just({}), st.just([["relu"]]),
)


def _places(value, out):
    """Every (container, key) in a YAML tree."""
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for key, child in items:
        out.append((value, key))
        _places(child, out)
    return out


@st.composite
def mutants(draw):
    name = draw(st.sampled_from(BASES))
    data = copy.deepcopy(DATA[name])
    for _ in range(draw(st.integers(1, 3))):
        places = _places(data, [])
        if not places:
            break
        container, key = draw(st.sampled_from(places))
        action = draw(st.sampled_from(["replace", "replace", "delete", "double", "rename"]))
        if action == "replace":
            container[key] = copy.deepcopy(draw(NASTY))  # st.just values are shared
        elif action == "delete":
            del container[key]
        elif action == "double" and isinstance(container, list):
            container.insert(key, copy.deepcopy(container[key]))
        elif action == "rename" and isinstance(container, dict):
            container[draw(st.text(min_size=1, max_size=10))] = container.pop(key)
    return name, yaml.safe_dump(data, sort_keys=False)


def _run(graph) -> None:
    """An exit-0 spec: both backends emit valid source; the torch model constructs and runs."""
    import torch

    compile(get_backend("keras").emit(graph), "<keras>", "exec")
    model = netc.build(graph, "torch").eval()
    if graph.macs <= RUN_MACS:
        with torch.no_grad():
            out = model(torch.zeros(1, *graph.input_shape))
        assert list(out.shape[1:]) == graph.shape_of(graph.outputs[0])


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutants())
def test_mutated_zoo_specs_build_and_run_or_fail_located(case):
    name, text = case
    path = EXAMPLES / name  # includes resolve beside the original
    with deadline(SECONDS):
        try:
            graph = netc.load(str(path), text=text)
        except netc.SpecError as exc:
            assert exc.loc is not None and exc.message, f"unlocated: {exc.message}\n{text}"
            return
        try:
            _run(graph)
        except netc.SpecError as exc:  # a backend that cannot honour an attribute exactly
            assert exc.loc is not None, f"unlocated: {exc.message}\n{text}"
