"""Canonical weights: layouts in and out of Keras, and `netc weights` between framework files."""
import numpy as np
import pytest
from click.testing import CliRunner

import netc
from netc.backends import get_backend
from netc.cli import main
from netc.weights import random_weights
from tests.keras_cases import CASES

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

SPEC = """
netc: 1
name: small
input: {shape: [3, 8, 8]}
body:
  - conv2d: {name: conv, out: 8, kernel: 3, pad: 1, bias: false}
  - batchnorm: {name: bn}
  - relu
  - conv2d: {name: dw, out: 16, kernel: 3, groups: 8, pad: 1}
  - conv2d: {name: grouped, out: 8, kernel: 1, groups: 2}
  - flatten: {name: flat}
  - linear: {name: fc, out: 5}
"""


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "small.yaml"
    path.write_text(SPEC)
    return path


def test_round_trip_through_keras_is_exact():
    graph = netc.load("convs.yaml", text=CASES["convs"])
    backend = get_backend("keras")
    model = netc.build(graph, backend="keras")
    weights = random_weights(graph, seed=3)
    backend.import_weights(model, graph, weights)
    back = backend.export_weights(model, graph)
    assert sorted(back) == sorted(weights)
    for key in weights:
        np.testing.assert_array_equal(back[key], weights[key], err_msg=key)


def test_layouts_put_each_value_where_keras_reads_it():
    graph = netc.load("small.yaml", text=SPEC)
    model = netc.build(graph, backend="keras")
    weights = {k: np.arange(v.size, dtype="float32").reshape(v.shape)
               for k, v in random_weights(graph).items()}
    get_backend("keras").import_weights(model, graph, weights)
    conv = model.get_layer("conv").kernel.numpy()  # HWIO
    assert conv[1, 2, 0, 5] == weights["conv.weight"][5, 0, 1, 2]
    dw = model.get_layer("dw").kernel.numpy()  # (H, W, in, multiplier); out channel = in*2 + m
    assert dw.shape == (3, 3, 8, 2)
    assert dw[2, 0, 3, 1] == weights["dw.weight"][3 * 2 + 1, 0, 2, 0]
    grouped = model.get_layer("grouped").kernel.numpy()  # (1, 1, in/groups, out)
    assert grouped[0, 0, 7, 6] == weights["grouped.weight"][6, 7, 0, 0]
    fc = model.get_layer("fc").kernel.numpy()  # (in, out)
    assert fc[100, 4] == weights["fc.weight"][4, 100]
    bn = model.get_layer("bn")
    np.testing.assert_array_equal(bn.moving_variance.numpy(), weights["bn.running_var"])
    np.testing.assert_array_equal(bn.gamma.numpy(), weights["bn.weight"])


def test_import_refuses_a_wrong_shape():
    graph = netc.load("small.yaml", text=SPEC)
    model = netc.build(graph, backend="keras")
    weights = random_weights(graph)
    weights["fc.weight"] = weights["fc.weight"].T
    with pytest.raises(ValueError, match="fc.weight"):
        get_backend("keras").import_weights(model, graph, weights)


def test_netc_weights_converts_torch_to_keras_and_back(spec_file, tmp_path):
    graph = netc.load(spec_file)
    net = netc.build(graph, backend="torch")
    get_backend("torch").import_weights(net, graph, random_weights(graph, seed=5))
    torch.save(net.state_dict(), tmp_path / "small.pt")  # with num_batches_tracked, as users save
    runner = CliRunner()
    done = runner.invoke(main, ["weights", str(tmp_path / "small.pt"), str(tmp_path / "small.weights.h5"),
                                "--spec", str(spec_file)])
    assert done.exit_code == 0, done.output
    done = runner.invoke(main, ["weights", str(tmp_path / "small.weights.h5"), str(tmp_path / "back.pt"),
                                "--spec", str(spec_file)])
    assert done.exit_code == 0, done.output
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    state = net.state_dict()
    assert len(back) == 11  # conv 1, bn 4, dw 2, grouped 2, fc 2
    for key, value in back.items():
        assert torch.equal(value, state[key]), key

    model = netc.build(graph, backend="keras")
    model.load_weights(tmp_path / "small.weights.h5")
    x = np.random.default_rng(0).normal(size=(2, 3, 8, 8)).astype("float32")
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(x)).numpy()
    got = keras.ops.convert_to_numpy(model(x.transpose(0, 2, 3, 1), training=False))
    assert np.max(np.abs(got - expected)) < 1e-5


def test_netc_weights_names_what_a_checkpoint_lacks(spec_file, tmp_path):
    torch.save({"conv.weight": torch.zeros(8, 3, 3, 3)}, tmp_path / "partial.pt")
    done = CliRunner().invoke(main, ["weights", str(tmp_path / "partial.pt"), str(tmp_path / "o.weights.h5"),
                                     "--spec", str(spec_file)])
    assert done.exit_code == 2
    assert "lacks 10 of the spec's 11 parameters" in done.output


def test_netc_weights_refuses_a_file_that_is_not_a_checkpoint(spec_file, tmp_path):
    (tmp_path / "notes.pt").write_text("hello\n")
    done = CliRunner().invoke(main, ["weights", str(tmp_path / "notes.pt"), str(tmp_path / "o.weights.h5"),
                                     "--spec", str(spec_file)])
    assert done.exit_code == 2
    assert f"cannot read '{tmp_path / 'notes.pt'}' as a torch state_dict" in done.output


class _NotTensors:
    pass


def test_netc_weights_refuses_a_pickle_with_objects(spec_file, tmp_path):
    torch.save({"model": _NotTensors()}, tmp_path / "evil.pt")
    done = CliRunner().invoke(main, ["weights", str(tmp_path / "evil.pt"), str(tmp_path / "o.weights.h5"),
                                     "--spec", str(spec_file)])
    assert done.exit_code == 2
    assert "weights_only=True" in done.output


@pytest.fixture
def state(spec_file):
    """The spec's torch state_dict, as users save it (with num_batches_tracked)."""
    graph = netc.load(spec_file)
    net = netc.build(graph, backend="torch")
    get_backend("torch").import_weights(net, graph, random_weights(graph, seed=5))
    return dict(net.state_dict())


def _convert(spec_file, tmp_path, state, *flags):
    torch.save(state, tmp_path / "in.pt")
    return CliRunner().invoke(main, ["weights", str(tmp_path / "in.pt"),
                                     str(tmp_path / "out.weights.h5"), "--spec", str(spec_file),
                                     *flags])


def test_netc_weights_reports_the_counters_it_skips(spec_file, tmp_path, state):
    done = _convert(spec_file, tmp_path, state)
    assert done.exit_code == 0, done.output
    assert "skipped 1 batch-norm step counters (num_batches_tracked): bn.num_batches_tracked" \
        in done.output


def test_netc_weights_refuses_another_architectures_keys(spec_file, tmp_path, state):
    state = {**state, "head.weight": torch.zeros(5, 5), "head.bias": torch.zeros(5)}
    done = _convert(spec_file, tmp_path, state)
    assert done.exit_code == 2
    assert "holds 2 keys the spec does not have: 'head.bias', 'head.weight'" in done.output
    assert not (tmp_path / "out.weights.h5").exists()
    done = _convert(spec_file, tmp_path, state, "--ignore-extra-keys")
    assert done.exit_code == 0, done.output
    assert "skipped 2 keys the spec does not have: head.bias, head.weight" in done.output
    assert (tmp_path / "out.weights.h5").exists()


def test_netc_weights_refuses_integer_tensors(spec_file, tmp_path, state):
    state["fc.bias"] = torch.arange(5)
    done = _convert(spec_file, tmp_path, state)
    assert done.exit_code == 2
    assert "'fc.bias' holds int64 values, not floats" in done.output
    done = _convert(spec_file, tmp_path, state, "--cast-non-float")
    assert done.exit_code == 0, done.output
    assert "cast 1 non-float tensors to float32: fc.bias" in done.output
    model = netc.build(netc.load(spec_file), backend="keras")
    model.load_weights(tmp_path / "out.weights.h5")
    np.testing.assert_array_equal(model.get_layer("fc").bias.numpy(), np.arange(5.0))


def test_netc_weights_refuses_non_finite_values(spec_file, tmp_path, state):
    state["bn.running_var"] = state["bn.running_var"].clone()
    state["bn.running_var"][2] = float("nan")
    done = _convert(spec_file, tmp_path, state)
    assert done.exit_code == 2
    assert "1 tensors hold NaN or infinite values: 'bn.running_var'" in done.output
    done = _convert(spec_file, tmp_path, state, "--allow-non-finite")
    assert done.exit_code == 0, done.output
    assert "kept 1 tensors holding NaN or infinite values: bn.running_var" in done.output


def test_netc_weights_reads_half_precision(spec_file, tmp_path, state):
    done = _convert(spec_file, tmp_path, {k: v.bfloat16() if v.is_floating_point() else v
                                          for k, v in state.items()})
    assert done.exit_code == 0, done.output


def test_netc_weights_reads_a_legacy_keras_h5_and_writes_only_keras_3_files(spec_file, tmp_path):
    graph = netc.load(spec_file)
    model = netc.build(graph, backend="keras")
    weights = random_weights(graph, seed=2)
    get_backend("keras").import_weights(model, graph, weights)
    model.save(tmp_path / "legacy.h5")  # Keras 2's whole-model HDF5 file
    runner = CliRunner()
    done = runner.invoke(main, ["weights", str(tmp_path / "legacy.h5"), str(tmp_path / "w.pt"),
                                "--spec", str(spec_file)])
    assert done.exit_code == 0, done.output
    back = torch.load(tmp_path / "w.pt", weights_only=True)
    for key, value in weights.items():
        np.testing.assert_array_equal(back[key].numpy(), value, err_msg=key)
    done = runner.invoke(main, ["weights", str(tmp_path / "w.pt"), str(tmp_path / "out.h5"),
                                "--spec", str(spec_file)])
    assert done.exit_code == 2
    assert "writes weight files named .pt, .pth (torch); .weights.h5 (keras)" in done.output



@pytest.mark.parametrize("layout", ["sparse", "quantized"])
def test_netc_weights_refuses_sparse_and_quantized_tensors(spec_file, tmp_path, state, layout):
    weight = state["fc.weight"]
    state = {**state, "fc.weight": weight.to_sparse() if layout == "sparse"
             else torch.quantize_per_tensor(weight, 0.1, 0, torch.qint8)}
    done = _convert(spec_file, tmp_path, state)
    assert done.exit_code == 2 and "Traceback" not in done.output
    assert f"'fc.weight' is a {'sparse_coo' if layout == 'sparse' else 'quantized'} tensor" \
        in done.output
