"""`netc train`, `netc eval` and `netc lesion` through the CLI, on the bundled digits."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from netc.cli import main

# Not `from conftest import EXAMPLES`: beside tests/train/, whose conftest.py is another
# module named conftest, that import finds the wrong one.
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

TINY = """netc: 1
name: tiny
input: {shape: [1, 8, 8]}
body:
  - conv2d: {name: conv, out: 8, kernel: 3, pad: 1}
  - relu
  - global_avgpool
  - linear: {name: fc, out: 10}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    result = CliRunner().invoke(main, ["train", str(EXAMPLES / "digits_resnet.yaml"),
                                       "--epochs", "3", "--out", str(out), "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert f"run folder: {out}" in result.output
    return out


def test_train_writes_a_complete_run_folder(run_dir):
    for name in ("spec.yaml", "recipe.yaml", "metrics.jsonl", "ir.json", "curves.png",
                 "checkpoints/last.pt"):
        assert (run_dir / name).exists(), name
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["test_acc"] > 0.8  # 3 epochs of the digits recipe: far above chance


def test_eval_and_lesion_read_only_the_run_folder(run_dir):
    runner = CliRunner()
    result = runner.invoke(main, ["eval", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "digits test: accuracy" in result.output
    assert (run_dir / "eval-confusion.png").exists()
    result = runner.invoke(main, ["lesion", str(run_dir), "--samples", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads((run_dir / "lesion.json").read_text())
    assert report["blocks"] == ["layer1.0", "layer1.1", "layer2.1"]  # identity shortcuts only
    assert [r["deleted"] for r in report["random"]] == [1, 2, 3]
    assert (run_dir / "lesion.png").exists()


def test_resume_of_a_finished_run_adds_nothing(run_dir):
    before = (run_dir / "metrics.jsonl").read_text()
    result = CliRunner().invoke(main, ["train", str(EXAMPLES / "digits_resnet.yaml"),
                                       "--resume", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert (run_dir / "metrics.jsonl").read_text() == before


def test_data_that_does_not_fit_is_an_error_before_training(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["train", str(EXAMPLES / "resnet20_cifar.yaml"),
                                       "--data", "digits"])
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_recipe_file_and_flags(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("epochs: 1\noptimizer: adamw\nlr: 0.01\nschedule: cosine\nwarmup_epochs: 0.5\n")
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", str(spec), "--recipe", str(recipe), "--out", str(out),
                                       "--label-smoothing", "0.1", "--batch-size", "32"])
    assert result.exit_code == 0, result.output
    used = (out / "recipe.yaml").read_text()
    assert "optimizer: adamw" in used and "label_smoothing: 0.1" in used and "batch_size: 32" in used


def test_two_processes_through_torchrun(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    out = tmp_path / "ddp"
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "netc.cli", "train", str(spec), "--epochs", "1",
                           "--out", str(out), "--nproc-per-node", "2", "--device", "cpu",
                           "--batch-size", "64"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = (out / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 1  # rank 0 alone writes the metrics


def test_keras_backend_trains_through_the_same_cli(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    out = tmp_path / "keras"
    result = CliRunner().invoke(main, ["train", str(spec), "--backend", "keras", "--epochs", "1",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1]
    assert (out / "ir.json").exists() and (out / "checkpoints" / "last.weights.h5").exists()


def test_eval_of_a_folder_with_a_damaged_ir(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"")
    (tmp_path / "ir.json").write_text("{\n")
    result = CliRunner().invoke(main, ["eval", str(tmp_path)])
    assert result.exit_code == 2
    assert f"error: {tmp_path / 'ir.json'}: not a netc IR file (" in result.output


def test_train_into_a_path_under_a_file(tmp_path):
    (tmp_path / "plain").write_text("")
    result = CliRunner().invoke(main, ["train", str(EXAMPLES / "digits_resnet.yaml"),
                                       "--out", str(tmp_path / "plain" / "run")])
    assert result.exit_code == 2
    assert result.output == f"{tmp_path / 'plain' / 'run'}: error: Not a directory\n"


def test_without_matplotlib_every_output_but_the_figures(tmp_path, monkeypatch):
    import netc.train.plots as plots

    monkeypatch.setattr(plots, "can_plot", lambda: False)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(spec), "--epochs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "matplotlib is not installed" in result.output
    assert (out / "metrics.jsonl").exists() and (out / "checkpoints" / "last.pt").exists()
    assert not (out / "curves.png").exists()
    result = runner.invoke(main, ["eval", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'eval.json'}\n" in result.output and "pip install" in result.output
    assert not (out / "eval-confusion.png").exists()


def test_digits_without_scikit_learn_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import fails
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    result = CliRunner().invoke(main, ["train", str(spec), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "scikit-learn is not installed" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_eval_reads_a_run_started_from_python(tmp_path):
    """A run started through the Python API is the run `netc train` writes."""
    from netc.train import make_recipe, resume, train
    from netc.train.progress import Progress

    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    out = tmp_path / "run"
    train(spec, make_recipe({"epochs": 1}), out, progress=Progress(enabled=False))
    for name in ("spec.yaml", "ir.json", "recipe.yaml", "backend.txt", "checkpoints/last.pt"):
        assert (out / name).exists(), name
    assert (out / "spec.yaml").read_text() == TINY
    runner = CliRunner()
    result = runner.invoke(main, ["eval", str(out)])
    assert result.exit_code == 0, result.output
    assert "digits test: accuracy" in result.output
    result = runner.invoke(main, ["train", str(spec), "--resume", str(out), "--threads",
                                  "100000"])
    assert result.exit_code == 2 and "recipe key 'threads' must be at most" in result.output
    result = runner.invoke(main, ["train", str(spec), "--resume", str(out), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    resume(out, overrides={"epochs": 3}, progress=Progress(enabled=False))  # from its ir.json
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3


def test_a_recipe_mistake_is_shown_with_a_caret(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("epochs: 3\nlr: fast\n")
    result = CliRunner().invoke(main, ["train", str(spec), "--recipe", str(recipe),
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert result.output == (f"{recipe}:2:5: error: recipe key 'lr' must be a number, got "
                             "'fast' (str)\n  lr: fast\n      ^\n")
    assert not (tmp_path / "run").exists()


def test_a_crop_padding_wider_than_the_images_is_located(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("epochs: 1\ncrop_padding: 100000\n")
    result = CliRunner().invoke(main, ["train", str(spec), "--recipe", str(recipe),
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(
        f"{recipe}:2:15: error: recipe key 'crop_padding' must be at most 8 (the side of the "
        "model's 8x8 images), got 100000\n  crop_padding: 100000\n")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags, message", [
    (["--threads", "100000"], "recipe key 'threads' must be at most "),
    (["--seed", "-1"], "recipe key 'seed' must lie in [0, 4294967295], got -1"),
    (["--nproc-per-node", "0"], "'--nproc-per-node': 0 is not in the range x>=1"),
    (["--nnodes", "0"], "'--nnodes': 0 is not in the range x>=1"),
])
def test_out_of_range_flags_are_refused_before_training(tmp_path, flags, message):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    result = CliRunner().invoke(main, ["train", str(spec), "--epochs", "1",
                                       "--out", str(tmp_path / "run"), *flags])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_eval_of_a_file_that_is_not_a_checkpoint(run_dir):
    result = CliRunner().invoke(main, ["eval", str(run_dir / "spec.yaml")])
    assert result.exit_code == 2
    assert (f"error: {run_dir / 'spec.yaml'} is a file but not a checkpoint of a run folder; "
            "expected a run folder or a checkpoint in its checkpoints/ folder") in result.output
    assert f"give the run folder ({run_dir}?)" in result.output


def test_low_precision_on_the_cpu_says_it_is_slow(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    result = CliRunner().invoke(main, ["train", str(spec), "--data", "synthetic:16", "--epochs",
                                       "1", "--batch-size", "8", "--device", "cpu", "--precision",
                                       "bf16", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "note: precision bf16 on the CPU is much slower than fp32" in result.output
