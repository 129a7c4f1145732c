"""Resume is explicit: settings given with --resume are applied and announced, or refused; and
Ctrl-C says how to continue."""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from netc.cli import main
from netc.train import TrainError, load_recipe, resume, train
from netc.train.progress import Progress
from netc.train.run_folder import read_metrics
from netc.train.torch_checkpoint import load_checkpoint
from netc_train_helpers import REPO, TINY, worker_env
from netc_train_models import tiny_cnn_source

SMALL = ["--data", "synthetic:64", "--batch-size", "16"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    train(tiny_cnn_source(), load_recipe(None, {"data": "synthetic:64", "epochs": 1,
                                                "batch_size": 16}),
          out, progress=Progress(enabled=False))
    return out


@pytest.fixture
def run_copy(finished, tmp_path):
    shutil.copytree(finished, tmp_path / "run")
    return tmp_path / "run"


def _listening():
    messages = []
    progress = Progress(enabled=False)
    progress.message = messages.append
    return progress, messages


def test_epochs_extends_a_finished_run_and_says_so(run_copy):
    progress, messages = _listening()
    result = resume(run_copy, tiny_cnn_source(), {"epochs": 3}, progress=progress)
    assert messages[0] == ("resume applies epochs: 1 -> 3 (the cosine learning-rate schedule "
                           "now spans 3 epochs, so the learning rate from here on differs from "
                           "the original run's)")
    assert [row["epoch"] for row in read_metrics(run_copy)] == [1, 2, 3]
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    saved = load_checkpoint(run_copy / "checkpoints" / "last.pt")
    assert saved["epoch"] == 3 and saved["recipe"]["epochs"] == 3
    assert load_recipe(run_copy / "recipe.yaml").epochs == 3


@pytest.mark.parametrize("overrides, message", [
    ({"lr": 0.5}, r"cannot change lr \(0.1 -> 0.5\)"),
    ({"batch_size": 8, "seed": 3}, r"cannot change batch_size \(16 -> 8\), seed \(0 -> 3\)"),
    ({"epochs": 0}, r"recipe key 'epochs' must lie in \[1, inf\]"),
])
def test_other_changes_are_refused(run_copy, overrides, message):
    before = (run_copy / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(TrainError, match=message):
        resume(run_copy, tiny_cnn_source(), overrides, progress=Progress(enabled=False))
    assert (run_copy / "checkpoints" / "last.pt").read_bytes() == before


def test_a_run_cannot_be_shortened_below_what_it_has_done(run_copy, quiet):
    resume(run_copy, tiny_cnn_source(), {"epochs": 2}, progress=quiet)
    with pytest.raises(TrainError, match="cannot resume with epochs 1: the run has finished 2"):
        resume(run_copy, tiny_cnn_source(), {"epochs": 1}, progress=quiet)


def test_a_value_equal_to_the_saved_one_is_no_change(run_copy):
    progress, messages = _listening()
    resume(run_copy, tiny_cnn_source(), {"lr": 0.1, "epochs": 1}, progress=progress)
    assert messages == [f"{run_copy} has finished all 1 epochs; nothing to train (pass --epochs "
                        "to extend it)"]


@pytest.fixture
def spec_run(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", str(spec), *SMALL, "--epochs", "1", "--out",
                                       str(out)])
    assert result.exit_code == 0, result.output
    return spec, out


@pytest.mark.parametrize("flags, message", [
    (["--lr", "0.3"], "a resumed run keeps its recipe; cannot change lr (0.1 -> 0.3)"),
    (["--recipe", "RECIPE"], "--recipe cannot go with it"),
    (["--out", "OTHER"], "--out cannot go with it"),
    (["--backend", "keras"], "is a torch run, and --backend is keras"),
])
def test_the_cli_refuses_what_resume_cannot_honour(spec_run, tmp_path, flags, message):
    spec, out = spec_run
    (tmp_path / "recipe.yaml").write_text("epochs: 4\n")
    flags = [{"RECIPE": str(tmp_path / "recipe.yaml"),
              "OTHER": str(tmp_path / "other")}.get(f, f) for f in flags]
    result = CliRunner().invoke(main, ["train", str(spec), "--resume", str(out), *flags])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert [row["epoch"] for row in read_metrics(out)] == [1]


def test_the_cli_applies_and_announces_epochs(spec_run):
    spec, out = spec_run
    result = CliRunner().invoke(main, ["train", str(spec), "--resume", str(out), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert "resume applies epochs: 1 -> 2" in result.output
    assert [row["epoch"] for row in read_metrics(out)] == [1, 2]


def test_ctrl_c_prints_the_command_that_resumes(tmp_path, monkeypatch):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    out = tmp_path / "run"
    real_epoch = Progress.epoch

    def interrupted_after_epoch_1(self, row, epochs):
        real_epoch(self, row, epochs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "epoch", interrupted_after_epoch_1)
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(spec), *SMALL, "--epochs", "2", "--out", str(out)])
    assert result.exit_code == 130 and "Traceback" not in result.output
    command = result.output.split("Resume with:\n")[1].strip()
    assert command == shlex.join(["netc", "train", str(spec), "--resume", str(out)])
    monkeypatch.undo()
    result = runner.invoke(main, shlex.split(command)[1:])
    assert result.exit_code == 0, result.output
    assert [row["epoch"] for row in read_metrics(out)] == [1, 2]


def test_ctrl_c_before_the_first_checkpoint_leaves_no_folder(tmp_path, monkeypatch):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)

    def interrupted(self, *args):
        raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "step", interrupted)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["train", str(spec), *SMALL, "--epochs", "1"])
    assert result.exit_code == 130, result.output
    assert "interrupted before the first checkpoint; there is nothing to resume" in result.output
    assert not any((tmp_path / "runs").iterdir())


def _interruptible_as_in_a_terminal():
    """A process started from a terminal takes SIGINT by default; one under a shell's background
    job (`cmd &` in a script, as a CI runner may start the suite) inherits it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_in_a_real_run(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("data: synthetic:256\nbatch_size: 16\nepochs: 500\n")
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "netc.cli", "train", str(spec), "--recipe",
                                str(recipe), "--out", str(out)], cwd=REPO, env=worker_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_interruptible_as_in_a_terminal)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoints" / "last.pt").exists():
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().endswith(shlex.join(["netc", "train", str(spec), "--resume", str(out)]))
    load_checkpoint(out / "checkpoints" / "last.pt")  # whole, whenever the signal came


def test_ctrl_c_during_a_resume_repeats_what_it_applied(spec_run, monkeypatch):
    spec, out = spec_run

    def interrupted(self, row, epochs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "epoch", interrupted)
    result = CliRunner().invoke(main, ["train", str(spec), "--resume", str(out), "--epochs", "3",
                                       "--device", "cpu", "--no-compile", "--lr", "0.1"])
    assert result.exit_code == 130, result.output
    assert result.output.rstrip().endswith(shlex.join(
        ["netc", "train", str(spec), "--resume", str(out), "--epochs", "3", "--device", "cpu",
         "--no-compile"]))


@pytest.mark.parametrize("environ, speaks", [
    ({}, True),                                                          # a plain process
    ({"LOCAL_RANK": "0", "WORLD_SIZE": "2", "RANK": "0"}, True),         # user's own torchrun
    ({"LOCAL_RANK": "1", "WORLD_SIZE": "2", "RANK": "1"}, False),
    ({"LOCAL_RANK": "0", "WORLD_SIZE": "2", "RANK": "0", "NETC_LAUNCHED": "1"}, False),
])
def test_one_process_reports_an_interrupted_run(monkeypatch, environ, speaks):
    from netc.train.torch_distributed import speaks_for_the_run

    for key in ("LOCAL_RANK", "WORLD_SIZE", "RANK", "NETC_LAUNCHED"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert speaks_for_the_run() is speaks
