"""`netc export`: every format written from a spec with a weight file, a run folder or a fresh
initialisation, run back by the format's own runtime at another batch size than the one traced,
and the parity check failing (exit 2, max error printed) when the file computes something else."""
import re
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import netc
from netc.backends import get_backend
from netc.cli import main
from netc.crosscheck.check import calibrated_weights, exact_values
from netc.export import exporter
from netc.export.parity import rounding_limit

torch = pytest.importorskip("torch")

from conftest import EXAMPLES  # noqa: E402

# A residual block with batch norm, small enough to export in seconds; digits-sized input.
SMALL = """
netc: 1
name: small
input: {shape: [1, 8, 8]}
body:
  - conv2d: {name: stem, out: 8, kernel: 3, pad: 1, bias: false}
  - batchnorm: {name: bn}
  - relu
  - residual:
      name: block
      body:
        - conv2d: {name: conv1, out: 8, kernel: 3, pad: 1, bias: false}
        - batchnorm: {name: bn1}
        - relu
        - conv2d: {name: conv2, out: 8, kernel: 3, pad: 1, bias: false}
        - batchnorm: {name: bn2}
      then: relu
  - global_avgpool
  - linear: {name: fc, out: 10}
"""
PARITY = re.compile(r"parity (ok|FAILED): .* max abs error (\S+) \(limit (\S+), outputs up to (\S+)\)")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The spec, and a torch weight file of calibrated random weights (realistic statistics)."""
    folder = tmp_path_factory.mktemp("small")
    spec = folder / "small.yaml"
    spec.write_text(SMALL)
    graph = netc.load(spec)
    weights = calibrated_weights(graph, seed=3)
    get_backend("torch").write_weights(str(folder / "small.pt"), graph, weights)
    return spec, folder / "small.pt", graph, weights


def _export(*args):
    done = CliRunner().invoke(main, ["export", *map(str, args)])
    return done, PARITY.search(done.output)


def _torch_model(graph, weights):
    model = netc.build(graph, "torch").eval()
    get_backend("torch").import_weights(model, graph, weights)
    return model


def _checked(done, found):
    assert done.exit_code == 0, done.output
    assert found and found.group(1) == "ok", done.output
    error, limit, scale = map(float, found.groups()[1:])
    assert error <= limit < 1e-3 * scale  # the limit is float32 rounding, far below a real fault
    return limit


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "exported_program"])
def test_torch_formats_run_back_at_any_batch_size(small, tmp_path, fmt):
    spec, weight_file, graph, weights = small
    out = tmp_path / f"small.{fmt}"
    done, found = _export(spec, "--format", fmt, "-o", out, "--weights", weight_file)
    limit = _checked(done, found)
    assert f"weights from {weight_file}" in done.output
    # Read back here by the format's own runtime, at a batch size neither the trace nor the
    # parity check used.
    x = np.random.default_rng(9).standard_normal((5, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        want = _torch_model(graph, weights)(torch.from_numpy(x)).numpy()
    got = get_backend("torch").run_exported(fmt, str(out), x)[0]
    assert got.shape == (5, 10)
    assert np.max(np.abs(got - want)) <= limit


def test_the_onnx_file_declares_a_free_batch_size(small, tmp_path):
    import onnx

    spec, weight_file, *_ = small
    out = tmp_path / "small.onnx"
    done, found = _export(spec, "--format", "onnx", "-o", out, "--weights", weight_file)
    _checked(done, found)
    dims = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim
    assert not dims[0].HasField("dim_value") and dims[0].dim_param
    assert [d.dim_value for d in dims[1:]] == [1, 8, 8]


@pytest.mark.parametrize("fmt", ["saved_model", "tflite"])
def test_tensorflow_formats_of_a_cifar_resnet(tmp_path, fmt):
    """A torch weight file exported through the Keras backend: the weights move through the
    canonical dict (kernels transposed) before the file is written."""
    spec = EXAMPLES / "resnet20_cifar.yaml"
    graph = netc.load(spec)
    weights = calibrated_weights(graph, seed=1)
    get_backend("torch").write_weights(str(tmp_path / "r20.pt"), graph, weights)
    out = tmp_path / f"r20.{fmt}"
    done, found = _export(spec, "--format", fmt, "-o", out, "--weights", tmp_path / "r20.pt")
    limit = _checked(done, found)
    assert "by the keras backend" in done.output
    x = np.random.default_rng(4).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = _torch_model(graph, weights)(torch.from_numpy(x)).numpy()
    got = get_backend("keras").run_exported(fmt, str(out), x)[0]
    assert got.shape == (2, 10)
    # Against the torch model: two exports' worth of float32 rounding.
    assert np.max(np.abs(got - want)) <= 2 * limit


@pytest.fixture(scope="module")
def run_dir(small, tmp_path_factory):
    spec = small[0]
    out = tmp_path_factory.mktemp("runs") / "run"
    done = CliRunner().invoke(main, ["train", str(spec), "--epochs", "1", "--out", str(out)])
    assert done.exit_code == 0, done.output
    return out


def test_a_run_folder_exports_its_best_checkpoint(run_dir, tmp_path):
    out = tmp_path / "run.ts"
    done, found = _export(run_dir, "--format", "torchscript", "-o", out)
    limit = _checked(done, found)
    assert f"weights from {run_dir / 'checkpoints' / 'best.pt'}" in done.output
    payload = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)
    graph = netc.load(run_dir / "spec.yaml")
    model = netc.build(graph, "torch").eval()
    model.load_state_dict(payload["model"])
    x = np.random.default_rng(2).standard_normal((4, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    got = get_backend("torch").run_exported("torchscript", str(out), x)[0]
    assert np.max(np.abs(got - want)) <= limit


def test_a_keras_run_exports_to_onnx_through_the_canonical_weights(small, tmp_path):
    """A Keras checkpoint read, then written by the torch backend's ONNX exporter: the trained
    weights cross backends through the canonical dict (kernels transposed back)."""
    from netc.backends.keras import keras_name

    run = tmp_path / "keras-run"
    done = CliRunner().invoke(main, ["train", str(small[0]), "--backend", "keras", "--epochs", "1",
                                     "--out", str(run)])
    assert done.exit_code == 0, done.output
    # In a process of its own, as a user runs it: TensorFlow is loaded to read the checkpoint
    # before the ONNX exporter loads its compiler (the test session preloads that compiler).
    out = tmp_path / "keras.onnx"
    done = subprocess.run([sys.executable, "-m", "netc", "export", str(run), "--format", "onnx",
                           "-o", str(out)], capture_output=True, text=True, timeout=600)
    done.exit_code, done.output = done.returncode, done.stdout + done.stderr
    limit = _checked(done, PARITY.search(done.output))
    assert "by the torch backend" in done.output
    graph = netc.load(run / "spec.yaml")
    model = netc.build(graph, "keras")
    model.load_weights(run / "checkpoints" / "best.weights.h5")
    assert model.get_layer(keras_name("fc")).get_weights()[0].std() > 0
    x = np.random.default_rng(6).standard_normal((4, 1, 8, 8)).astype(np.float32)
    want = np.asarray(model(x.transpose(0, 2, 3, 1), training=False))
    got = get_backend("torch").run_exported("onnx", str(out), x)[0]
    assert np.max(np.abs(got - want)) <= limit


def test_a_file_that_computes_something_else_fails_the_check(small, tmp_path, monkeypatch):
    """A TorchScript file written with batch norm in training mode (batch statistics): the
    check reports the error and exits 2."""
    from netc.backends.torch import export as torch_export

    spec, weight_file, *_ = small
    monkeypatch.setitem(torch_export.WRITERS, "torchscript",
                        lambda model, example, path: torch.jit.script(model.train()).save(path))
    done, found = _export(spec, "--format", "torchscript", "-o", tmp_path / "bad.ts",
                          "--weights", weight_file)
    assert done.exit_code == 2, done.output
    assert found and found.group(1) == "FAILED"
    assert float(found.group(2)) > 100 * float(found.group(3))


def test_a_spec_alone_exports_its_initialisation(small, tmp_path):
    done, found = _export(small[0], "--format", "torchscript", "-o", tmp_path / "init.ts")
    _checked(done, found)
    assert "no weights given" in done.output


def test_no_check_writes_without_running_the_file(small, tmp_path):
    done, found = _export(small[0], "--format", "torchscript", "-o", tmp_path / "x.ts",
                          "--weights", small[1], "--no-check")
    assert done.exit_code == 0, done.output
    assert found is None and "parity" not in done.output and (tmp_path / "x.ts").stat().st_size


def test_a_missing_runtime_is_a_clear_error(small, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    done, _ = _export(small[0], "--format", "onnx", "-o", tmp_path / "x.onnx")
    assert done.exit_code == 2
    assert "exporting to onnx needs onnxruntime, which is not installed" in done.output
    assert "pip install 'netc[export]'" in done.output and "Traceback" not in done.output
    assert not (tmp_path / "x.onnx").exists()


def test_a_saved_model_never_replaces_a_folder_it_did_not_write(small, tmp_path):
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("kept")
    done, _ = _export(small[0], "--format", "saved_model", "-o", keep)
    assert done.exit_code == 2 and "exists and is not a SavedModel folder" in done.output
    assert (keep / "notes.txt").read_text() == "kept"


def test_a_backend_that_does_not_write_the_format(small, tmp_path):
    done, _ = _export(small[0], "--format", "onnx", "-o", tmp_path / "x.onnx", "--backend", "keras")
    assert done.exit_code == 2
    assert "the keras backend does not export onnx; it exports saved_model, tflite" in done.output


def test_each_format_goes_to_the_backend_that_writes_it():
    assert [exporter(f).name for f in ("onnx", "torchscript", "exported_program")] == ["torch"] * 3
    assert [exporter(f).name for f in ("saved_model", "tflite")] == ["keras"] * 2
    assert exporter("tflite", trained_by="torch").name == "keras"


def test_weights_that_do_not_fit_are_refused_before_writing(small, tmp_path):
    other = netc.load(EXAMPLES / "digits_resnet.yaml")
    get_backend("torch").write_weights(str(tmp_path / "other.pt"), other,
                                       calibrated_weights(other))
    done, _ = _export(small[0], "--format", "torchscript", "-o", tmp_path / "x.ts",
                      "--weights", tmp_path / "other.pt")
    assert done.exit_code == 2 and "lacks" in done.output
    assert not (tmp_path / "x.ts").exists()


def test_the_limit_grows_with_the_outputs_and_stays_at_float32_scale(small):
    _, _, graph, weights = small
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    limit = rounding_limit(graph, weights, x)
    scale = np.max(np.abs(exact_values(graph, weights, x)["fc"]))
    doubled = {k: (v * 2 if k.startswith("fc.") else v) for k, v in weights.items()}
    # Ten nodes of float32 rounding (u = 6e-8) on sums of up to 72 terms: about 1e-4 of the
    # outputs' scale, and far above u itself.
    assert 1e-6 * scale < limit < 1e-3 * scale
    assert rounding_limit(graph, doubled, x) == pytest.approx(2 * limit, rel=0.2)
