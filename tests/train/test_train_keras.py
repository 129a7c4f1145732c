"""The Keras trainer: tiny specs on digits, in this process on TensorFlow and in a subprocess on
torch. Expected numbers are written by hand from the data set and the recipe: digits has 1,500
training images, of which the recipe's default val_fraction 0.1 holds out 150 for validation, so
batch 64 gives 21 steps per epoch."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")
if keras.backend.backend() != "tensorflow":
    pytest.skip("these tests run Keras on TensorFlow in-process", allow_module_level=True)
tf = pytest.importorskip("tensorflow")

import netc  # noqa: E402
from netc import runs  # noqa: E402
from netc.train import TrainError, make_recipe  # noqa: E402
from netc.train.data import load_data  # noqa: E402
from netc.train.keras_data import (crop_numpy, crop_tf, plan_epoch,  # noqa: E402
                                   training_stream)
from netc.train.keras_checkpoint import checkpoint_path, read_checkpoint_state  # noqa: E402
from netc.train import keras_trainer  # noqa: E402
from netc.train import resume, train  # noqa: E402
from netc.train.progress import Progress  # noqa: E402
from netc.train.run_folder import RunFolder, read_metrics  # noqa: E402

from netc_train_helpers import REPO, Interrupt, stops_in_epoch, worker_env  # noqa: E402

# Keras's HDF5 writer calls np.array on TensorFlow variables, which numpy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

STEPS = (1500 - 150) // 64
ROW_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
            "lr", "images_per_s", "time_s"}

RESIDUAL_SPEC = """\
netc: 1
name: tiny_residual
input: {shape: [1, 8, 8]}
defaults: {conv2d: {bias: false}}
body:
  - conv2d: {name: conv1, out: 16, kernel: 3, pad: 1}
  - batchnorm: {name: bn1}
  - relu
  - residual:
      name: block
      body:
        - conv2d: {name: conv1, out: 16, kernel: 3, pad: 1}
        - batchnorm: {name: bn1}
        - relu
        - conv2d: {name: conv2, out: 16, kernel: 3, pad: 1}
        - batchnorm: {name: bn2}
  - relu
  - global_avgpool
  - linear: {name: fc, out: 10}
"""

PLAIN_SPEC = """\
netc: 1
name: tiny_plain
input: {shape: [1, 8, 8]}
body:
  - conv2d: {name: conv1, out: 8, kernel: 3, pad: 1}
  - relu
  - global_avgpool
  - linear: {name: fc, out: 10}
"""

# The variables weight decay acts on: kernels only (the spec's convs have no bias).
DECAYED = {"conv1/kernel", "block-conv1/kernel", "block-conv2/kernel", "fc/kernel"}


def _model(tmp_path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    graph = netc.load(str(path))
    return runs.model_source(graph, text, "keras"), graph


@pytest.fixture(scope="module")
def residual(tmp_path_factory):
    return _model(tmp_path_factory.mktemp("spec"), RESIDUAL_SPEC)


@pytest.fixture(scope="module")
def three_epochs(residual, tmp_path_factory):
    source, graph = residual
    recipe = make_recipe({"epochs": 3})
    return recipe, train(source, recipe, tmp_path_factory.mktemp("run") / "run",
                               progress=Progress(enabled=False))


def test_trains_digits_into_a_run_folder(three_epochs):
    recipe, result = three_epochs
    rows = read_metrics(result.run_dir)
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert all(set(row) == ROW_KEYS for row in rows)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert rows[-1]["test_acc"] > 0.5  # chance is 0.1
    chosen = max(rows, key=lambda row: (row["val_acc"], -row["val_loss"], -row["epoch"]))
    assert result.best_accuracy == chosen["val_acc"]
    assert read_checkpoint_state(checkpoint_path(result.run_dir, "best"))["epoch"] == \
        chosen["epoch"]
    # digits' recipe is one-cycle: the last step's rate is lr / 25 / 1e4 (torch's OneCycleLR).
    assert rows[-1]["lr"] == pytest.approx(0.1 / 25 / 1e4)
    assert (result.run_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "name: tiny_residual" in (result.run_dir / "spec.yaml").read_text()
    assert "epochs: 3" in (result.run_dir / "recipe.yaml").read_text()
    assert checkpoint_path(result.run_dir, "best").is_file()
    state = read_checkpoint_state(checkpoint_path(result.run_dir))
    assert (state["epoch"], state["keras_backend"]) == (3, "tensorflow")
    assert int(result.model.optimizer.iterations) == 3 * STEPS
    # SGD's coupled L2: one penalty per decayed variable, none on BN or bias variables.
    assert sorted(v.path for v in result.model.trainable_variables
                  if v.regularizer is not None) == sorted(DECAYED)


def test_resume_continues_at_the_next_epoch(residual, three_epochs, tmp_path):
    source, graph = residual
    recipe, uninterrupted = three_epochs
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupt):
        train(source, recipe, run_dir, progress=stops_in_epoch(3))
    assert read_checkpoint_state(checkpoint_path(run_dir))["epoch"] == 2
    # A kill after the metrics row but before the checkpoint's rename leaves both behind.
    RunFolder(run_dir).append_metrics({"epoch": 3, "train_loss": 9.0})
    stale = checkpoint_path(run_dir).parent / ".last.weights.h5-dead.tmp.weights.h5"
    stale.write_bytes(b"half a file")

    result = resume(run_dir, source, progress=Progress(enabled=False))
    rows = read_metrics(run_dir)
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert int(result.model.optimizer.iterations) == 3 * STEPS
    assert not stale.exists()
    expected = read_metrics(uninterrupted.run_dir)[2]
    assert rows[2]["train_loss"] == pytest.approx(expected["train_loss"], rel=1e-3)
    assert rows[2]["test_acc"] == pytest.approx(expected["test_acc"], abs=2 / 297)


def test_resume_refuses_another_network(three_epochs, tmp_path):
    source, graph = _model(tmp_path, PLAIN_SPEC)
    with pytest.raises(TrainError, match="different network"):
        resume(three_epochs[1].run_dir, source)


def test_adamw_label_smoothing_step_schedule_and_bf16(residual, tmp_path):
    source, graph = residual
    recipe = make_recipe({"epochs": 2, "optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.05,
                          "label_smoothing": 0.1, "schedule": "step", "step_milestones": [1],
                          "step_gamma": 0.5, "warmup_epochs": 0.5, "precision": "bf16",
                          "device": "cpu"})
    result = train(source, recipe, tmp_path / "run", progress=Progress(enabled=False))
    rows = read_metrics(result.run_dir)
    assert [row["lr"] for row in rows] == pytest.approx([3e-3, 1.5e-3])
    # Warm-up over round(0.5 * 21) = 10 steps: step s runs at lr * (s + 1) / 10.
    schedule = result.model.optimizer._learning_rate
    assert [float(schedule(s)) for s in (0, 4, 9, 10, STEPS - 1, STEPS)] == pytest.approx(
        [3e-4, 1.5e-3, 3e-3, 3e-3, 3e-3, 1.5e-3])
    # Cross-entropy against targets smoothed by 0.1 over 10 classes never falls below their
    # entropy: -(0.91 ln 0.91 + 9 * 0.01 ln 0.01) = 0.500.
    assert all(row["train_loss"] > 0.50 for row in rows)
    assert rows[-1]["test_acc"] > 0.2
    optimizer = result.model.optimizer
    assert {v.path for v in result.model.trainable_variables
            if optimizer._use_weight_decay(v)} == DECAYED
    assert result.model.dtype_policy.name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"


def test_non_finite_loss_names_epoch_and_step(tmp_path):
    source, graph = _model(tmp_path, PLAIN_SPEC)
    recipe = make_recipe({"epochs": 2, "lr": 1e12, "schedule": "constant", "augment": False})
    with pytest.raises(TrainError, match=rf"the loss became (nan|inf) at epoch 1, step \d+ "
                                         rf"of {STEPS}"):
        train(source, recipe, tmp_path / "run", progress=Progress(enabled=False))
    assert read_metrics(tmp_path / "run") == []


def test_data_that_does_not_fit_is_refused_before_training(tmp_path):
    source, graph = _model(tmp_path, PLAIN_SPEC.replace("[1, 8, 8]", "[3, 8, 8]"))
    with pytest.raises(TrainError, match="1x8x8 images but the model expects 3x8x8"):
        train(source, make_recipe({"epochs": 1}), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_mid_epoch_checkpoints_are_refused(tmp_path):
    source, graph = _model(tmp_path, PLAIN_SPEC)
    with pytest.raises(TrainError, match="epoch ends only"):
        train(source, make_recipe({"checkpoint_every_steps": 5}), tmp_path / "run")


def _crop_by_loop(images: np.ndarray, offsets: np.ndarray, padding: int) -> np.ndarray:
    height, width = images.shape[1:3]
    out = []
    for image, (top, left) in zip(images, offsets):
        padded = np.pad(image, ((padding, padding), (padding, padding), (0, 0)))
        out.append(padded[top:top + height, left:left + width])
    return np.stack(out)


def test_batched_crops_match_a_per_image_crop():
    rng = np.random.default_rng(0)
    images = rng.random((6, 5, 7, 3), dtype=np.float32)
    offsets = rng.integers(0, 5, size=(6, 2), dtype=np.int32)
    expected = _crop_by_loop(images, offsets, 2)
    np.testing.assert_array_equal(crop_numpy(images, offsets, 2), expected)
    np.testing.assert_array_equal(crop_tf(tf.constant(images), tf.constant(offsets), 2).numpy(),
                                  expected)


def test_epoch_plans_depend_on_seed_and_epoch_only():
    recipe = make_recipe({"flip": True, "crop_padding": 2})
    first = plan_epoch(100, 3, 32, recipe, epoch=4)
    again = plan_epoch(100, 3, 32, recipe, epoch=4)
    other = plan_epoch(100, 3, 32, recipe, epoch=5)
    np.testing.assert_array_equal(first.order, again.order)
    assert not np.array_equal(first.order, other.order)
    assert len(set(first.order.ravel())) == 96  # drawn without replacement
    assert first.offsets.min() == 0 and first.offsets.max() == 4 and first.flips.any()
    assert not plan_epoch(100, 3, 32, make_recipe({"flip": False}), 4).flips.any()


def test_tf_data_and_numpy_streams_give_the_same_batches():
    recipe = make_recipe({"epochs": 2, "flip": True, "crop_padding": 2})
    data = load_data("digits", (1, 8, 8), 10)
    from_tf = iter(training_stream(data, recipe, STEPS, 1, "tensorflow"))
    from_numpy = training_stream(data, recipe, STEPS, 1, "torch")
    for _ in range(2):
        (tf_images, tf_labels), (np_images, np_labels) = next(from_tf), next(from_numpy)
        assert tf_images.shape == (64, 8, 8, 1)
        np.testing.assert_allclose(tf_images.numpy(), np_images, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(tf_labels.numpy(), np_labels)


_TORCH_RUN = """
import sys
from netc.train import make_recipe, train
from netc.train.progress import Progress
spec, out = sys.argv[1], sys.argv[2]
train(spec, make_recipe({"epochs": 1, "device": "cpu"}), out, backend="keras",
      progress=Progress(enabled=False))
"""


def test_trains_under_keras_on_torch(tmp_path):
    pytest.importorskip("torch")
    spec = tmp_path / "spec.yaml"
    spec.write_text(RESIDUAL_SPEC)
    env = {**worker_env(), "KERAS_BACKEND": "torch"}
    done = subprocess.run([sys.executable, "-c", _TORCH_RUN, str(spec), str(tmp_path / "run")],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text()
            .splitlines()]
    assert [row["epoch"] for row in rows] == [1]
    assert set(rows[0]) == ROW_KEYS and math.isfinite(rows[0]["train_loss"])
    assert rows[0]["train_loss"] < math.log(10)  # below the loss of a uniform guess
    state = read_checkpoint_state(checkpoint_path(tmp_path / "run"))
    assert (state["keras_backend"], state["epoch"]) == ("torch", 1)
    assert os.path.getsize(tmp_path / "run" / "curves.png") > 0


def test_several_gpus_train_under_a_mirrored_strategy(tmp_path, monkeypatch):
    # No GPUs here: claim two, and MirroredStrategy() falls back to one replica on the CPU,
    # which still runs building, compiling and fitting inside the strategy's scope.
    monkeypatch.setitem(keras_trainer._GPU_COUNTS, "tensorflow", lambda: 2)
    source, graph = _model(tmp_path, PLAIN_SPEC)
    result = train(source, make_recipe({"epochs": 1}), tmp_path / "run",
                         progress=Progress(enabled=False))
    assert all(isinstance(v.value, tf.distribute.DistributedValues)
               for v in result.model.trainable_variables)
    assert [row["epoch"] for row in read_metrics(tmp_path / "run")] == [1]


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="a GPU is present")
def test_cuda_without_a_gpu_is_refused(tmp_path):
    source, graph = _model(tmp_path, PLAIN_SPEC)
    with pytest.raises(TrainError, match="sees no GPU"):
        train(source, make_recipe({"device": "cuda"}), tmp_path / "run")
