"""The Keras trainer's side of checkpoint safety: checksum, non-finite statistics, a full disk,
the folder lock, and resume's explicit settings. A tiny spec on synthetic data, on TensorFlow."""

from __future__ import annotations

import os

import numpy as np
import pytest

keras = pytest.importorskip("keras")
if keras.backend.backend() != "tensorflow":
    pytest.skip("these tests run Keras on TensorFlow in-process", allow_module_level=True)

import netc  # noqa: E402
from netc import runs  # noqa: E402
from netc.train import TrainError, make_recipe  # noqa: E402
from netc.train import keras_trainer  # noqa: E402
from netc.train.keras_checkpoint import checkpoint_path, read_checkpoint_state  # noqa: E402
from netc.train import resume, train  # noqa: E402
from netc.train.progress import Progress  # noqa: E402
from netc.train.run_folder import RunLock, read_metrics  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

SPEC = """\
netc: 1
name: tiny_bn
input: {shape: [1, 8, 8]}
body:
  - conv2d: {name: conv, out: 4, kernel: 3, pad: 1, bias: false}
  - batchnorm: {name: bn}
  - relu
  - global_avgpool
  - linear: {name: fc, out: 10}
"""
RECIPE = {"data": "synthetic:64", "epochs": 2, "batch_size": 16}
QUIET = Progress(enabled=False)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "tiny_bn.yaml"
    path.write_text(SPEC)
    graph = netc.load(path)
    return runs.model_source(graph, SPEC, "keras"), graph


@pytest.fixture(scope="module")
def finished(model, tmp_path_factory):
    source, graph = model
    out = tmp_path_factory.mktemp("runs") / "run"
    train(source, make_recipe(RECIPE), out, progress=QUIET)
    return out


def test_a_flipped_byte_in_a_weight_is_caught(finished, tmp_path):
    import h5py

    copy = tmp_path / "last.weights.h5"
    copy.write_bytes(checkpoint_path(finished).read_bytes())
    with h5py.File(copy, "r") as handle:
        kernels = []
        handle.visititems(lambda name, item: kernels.append(item.id.get_offset())
                          if isinstance(item, h5py.Dataset) and item.size > 8 else None)
    data = bytearray(copy.read_bytes())
    data[kernels[0] + 1] ^= 0x10
    copy.write_bytes(bytes(data))
    with pytest.raises(TrainError, match="checksum mismatch"):
        read_checkpoint_state(copy)


def test_non_finite_moving_statistics_stop_the_run_before_a_save(model, tmp_path, monkeypatch):
    source, graph = model
    real = keras_trainer._RunLogger.on_train_batch_end

    def poisons_the_statistics_in_epoch_2(self, batch, logs=None):
        real(self, batch, logs)
        if self.run.epochs_done == 1:
            variance = self.run.model.get_layer("bn").moving_variance
            variance.assign(np.full(variance.shape, np.inf, dtype="float32"))

    monkeypatch.setattr(keras_trainer._RunLogger, "on_train_batch_end",
                        poisons_the_statistics_in_epoch_2)
    with pytest.raises(TrainError, match=r"the batch-norm statistic 'bn/moving_variance' became "
                                         r"inf during epoch 2"):
        train(source, make_recipe(RECIPE), tmp_path / "run", progress=QUIET)
    assert read_checkpoint_state(checkpoint_path(tmp_path / "run"))["epoch"] == 1
    assert [row["epoch"] for row in read_metrics(tmp_path / "run")] == [1]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_names_the_intact_checkpoint(model, tmp_path, monkeypatch):
    source, graph = model
    real, calls = keras.Model.save_weights, []

    def fills_the_disk_on_the_second_save(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            with open("/dev/full", "wb") as full:
                full.write(b"\0" * 65536)
                full.flush()
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", fills_the_disk_on_the_second_save)
    with pytest.raises(TrainError) as err:
        train(source, make_recipe(RECIPE), tmp_path / "run", progress=QUIET)
    last = checkpoint_path(tmp_path / "run")
    assert f"the previous last.weights.h5 is intact ({last})" in err.value.message
    assert read_checkpoint_state(last)["epoch"] == 1


def test_a_locked_folder_is_refused(model, tmp_path):
    source, graph = model
    (tmp_path / "run").mkdir()
    with RunLock(tmp_path / "run"):
        with pytest.raises(TrainError, match="is being written by another run"):
            train(source, make_recipe(RECIPE), tmp_path / "run", progress=QUIET)


def test_resume_extends_with_epochs_and_refuses_other_changes(model, finished, tmp_path):
    import shutil

    source, graph = model
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    with pytest.raises(TrainError, match=r"cannot change lr \(0.1 -> 0.5\)"):
        resume(run, source, {"lr": 0.5}, progress=QUIET)
    messages = []
    progress = Progress(enabled=False)
    progress.message = messages.append
    result = resume(run, source, {"epochs": 3}, progress=progress)
    assert messages[0].startswith("resume applies epochs: 2 -> 3")
    assert [row["epoch"] for row in read_metrics(run)] == [1, 2, 3]
    assert read_checkpoint_state(checkpoint_path(run))["epoch"] == 3 == len(result.history)
    assert "epochs: 3" in (run / "recipe.yaml").read_text()


def test_ctrl_c_prints_the_command_that_resumes(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from netc.cli import main

    spec = tmp_path / "tiny_bn.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "run"

    def interrupted_after_the_epoch(self, row, epochs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "epoch", interrupted_after_the_epoch)
    result = CliRunner().invoke(main, ["train", str(spec), "--backend", "keras", "--data",
                                       "synthetic:64", "--batch-size", "16", "--out", str(out)])
    assert result.exit_code == 130 and "Traceback" not in result.output
    assert result.output.rstrip().endswith(
        f"netc train {spec} --backend keras --resume {out}")
    assert read_checkpoint_state(checkpoint_path(out))["epoch"] == 1


def _rewritten(finished, tmp_path, change):
    """A copy of the run whose checkpoint state was edited and re-sealed with a valid checksum,
    as a foreign tool or another netc version could have written it."""
    import json
    import shutil

    import h5py

    from netc.train import keras_checkpoint as kc
    from netc.train.integrity import content_digest

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    with h5py.File(checkpoint_path(run), "a") as handle:
        state = json.loads(handle.attrs[kc.STATE_ATTRIBUTE])
        change(state)
        text = json.dumps(state)
        handle.attrs[kc.STATE_ATTRIBUTE] = text
        handle.attrs[kc.CHECKSUM_ATTRIBUTE] = content_digest([text, kc._datasets(handle)])
    return run


@pytest.mark.parametrize("change, message", [
    (lambda state: state.pop("epoch"), "the checkpoint lacks 'epoch'"),
    (lambda state: state.update(epoch=2.5), "'epoch' must be an integer, got float"),
    (lambda state: state.update(epoch=99), "says 99 epochs are done, but its recipe trains 2"),
    (lambda state: state.update(steps_per_epoch=7), "written with 7 steps an epoch, this run has 3"),
])
def test_a_checkpoint_that_does_not_fit_is_a_clear_error(model, finished, tmp_path, change,
                                                         message):
    source, graph = model
    run = _rewritten(finished, tmp_path, change)
    with pytest.raises(TrainError, match=message):
        resume(run, source, {"epochs": 3}, progress=QUIET)
