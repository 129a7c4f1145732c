from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from netc.spec.errors import SpecError

from netc.train.errors import TrainError
from netc.train.recipe import (DATA_DEFAULTS, load_recipe, make_recipe, parse_assignments,
                               recipe_from_dict)
from netc.train.schedule import lr_at
from cifar_files import write_cifar10


def write(tmp_path, text):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def test_defaults_follow_the_data_kind():
    digits = load_recipe()
    assert digits.data == "digits"
    assert digits.flip is False and digits.crop_padding == 1
    cifar = load_recipe(None, {"data": "cifar10:/data"})
    assert cifar.flip is True and cifar.crop_padding == 4
    assert cifar.epochs == DATA_DEFAULTS["cifar10"]["epochs"]


def test_file_then_overrides(tmp_path):
    path = write(tmp_path, "epochs: 3\nlr: 1e-3\noptimizer: adamw\n")
    recipe = load_recipe(path, {"epochs": 4, "seed": None})
    assert recipe.epochs == 4          # the flag wins over the file
    assert recipe.lr == pytest.approx(1e-3)  # YAML 1.1 reads 1e-3 as a string; we take it
    assert recipe.optimizer == "adamw"
    assert recipe.seed == 0            # a None override means "flag not given"


def test_unknown_key_suggests_the_close_one(tmp_path):
    path = write(tmp_path, "epochs: 3\nlearning_rat: 0.1\nbatchsize: 4\n")
    with pytest.raises(TrainError) as err:
        load_recipe(path)
    assert "unknown recipe key 'learning_rat'" in err.value.message
    assert (err.value.loc.file, err.value.loc.line, err.value.loc.col) == (str(path), 2, 1)
    with pytest.raises(TrainError) as err:
        load_recipe(None, {"batchsize": 4})
    assert err.value.hint == "did you mean 'batch_size'?"


@pytest.mark.parametrize("text, key, expected", [
    ("epochs: 2.5", "epochs", "an integer"),
    ("epochs: true", "epochs", "an integer"),
    ("nesterov: 1", "nesterov", "true or false"),
    ("lr: fast", "lr", "a number"),
    ("step_milestones: [a]", "step_milestones", "a list of integers"),
    ("data: 3", "data", "a non-empty string"),
    ("step_milestones: {a: 1}", "step_milestones", "a list of integers, got a mapping"),
    ("epochs: [1]", "epochs", "an integer, got a list"),
])
def test_wrong_type_names_the_key(tmp_path, text, key, expected):
    with pytest.raises(TrainError) as err:
        load_recipe(write(tmp_path, text))
    assert f"recipe key '{key}' must be {expected}" in err.value.message


def test_choices_and_ranges(tmp_path):
    with pytest.raises(TrainError) as err:
        load_recipe(None, {"optimizer": "adamx"})
    assert "sgd, adamw" in err.value.message and err.value.hint == "did you mean 'adamw'?"
    with pytest.raises(TrainError, match=r"'lr' must lie in \(0, inf\]"):
        load_recipe(None, {"lr": 0})
    with pytest.raises(TrainError, match=r"'label_smoothing' must lie in \[0, 1\)"):
        load_recipe(None, {"label_smoothing": 1.0})


def test_seed_lies_in_the_range_every_library_takes(tmp_path):
    with pytest.raises(TrainError, match=r"'seed' must lie in \[0, 4294967295\], got 4294967296") \
            as err:
        load_recipe(write(tmp_path, "epochs: 1\nseed: 4294967296\n"))
    assert (err.value.loc.line, err.value.loc.col) == (2, 7)
    with pytest.raises(TrainError, match=r"'seed' must lie in \[0, 4294967295\], got -1"):
        load_recipe(None, {"seed": -1})
    assert load_recipe(None, {"seed": 2**32 - 1}).seed == 2**32 - 1


def test_crop_padding_is_bounded_by_the_image(tmp_path):
    path = write(tmp_path, "epochs: 1\ncrop_padding: 100000\n")
    load_recipe(path)  # without the model's shape the image size is unknown
    with pytest.raises(TrainError, match=r"'crop_padding' must be at most 8 \(the side of the "
                                         r"model's 8x8 images\), got 100000") as err:
        load_recipe(path, input_shape=(1, 8, 8))
    assert (err.value.loc.file, err.value.loc.line, err.value.loc.col) == (str(path), 2, 15)
    with pytest.raises(TrainError, match="'crop_padding' must be at most 6") as err:
        load_recipe(None, {"crop_padding": 7}, input_shape=(3, 6, 9))
    assert err.value.loc.file == "override"
    assert load_recipe(None, {"crop_padding": 8}, input_shape=(1, 8, 8)).crop_padding == 8
    assert load_recipe(path, {"augment": False}, input_shape=(1, 8, 8)).crop_padding == 100000


def test_threads_are_bounded_by_the_machine(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    with pytest.raises(TrainError, match=r"'threads' must be at most 8 \(4 per CPU; this "
                                         r"machine has 2\), got 100000"):
        load_recipe(None, {"threads": 100000}, input_shape=(1, 8, 8))
    path = write(tmp_path, "threads: 9\n")
    with pytest.raises(TrainError, match="at most 8") as err:
        load_recipe(path, input_shape=(1, 8, 8))
    assert (err.value.loc.line, err.value.loc.col) == (1, 10)
    assert load_recipe(None, {"threads": 8}, input_shape=(1, 8, 8)).threads == 8
    # A run saved on a larger machine still reads, so that a resume can lower its threads.
    saved = load_recipe(None, {"threads": 64}).to_dict()
    assert recipe_from_dict(saved).threads == 64


def test_training_checks_what_the_recipe_file_could_not(tmp_path, quiet, monkeypatch):
    """Through the Python API too: refused before any data is loaded or folder written."""
    import netc
    from netc.runs import model_source
    from netc.train import train

    spec = RECIPES.parent / "digits_resnet.yaml"
    source = model_source(netc.load(spec), spec.read_text())
    with pytest.raises(TrainError, match="'crop_padding' must be at most 8"):
        train(source, make_recipe({"epochs": 1, "crop_padding": 100000}), tmp_path / "a",
              progress=quiet)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    with pytest.raises(TrainError, match="'threads' must be at most 4"):
        train(source, make_recipe({"epochs": 1, "threads": 5000}), tmp_path / "b",
              progress=quiet)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_cross_field_rules():
    with pytest.raises(TrainError, match="schedule 'step' needs step_milestones") as err:
        load_recipe(None, {"schedule": "step", "epochs": 8})
    assert "[4, 6]" in err.value.hint
    with pytest.raises(TrainError, match="increase strictly"):
        load_recipe(None, {"schedule": "step", "epochs": 8, "step_milestones": [6, 4]})
    with pytest.raises(TrainError, match="nesterov needs momentum"):
        load_recipe(None, {"momentum": 0.0})
    with pytest.raises(TrainError, match="warmup_epochs"):
        load_recipe(None, {"epochs": 2, "warmup_epochs": 2})


def test_bad_yaml_and_non_mapping(tmp_path):
    with pytest.raises(SpecError, match="YAML syntax") as err:
        load_recipe(write(tmp_path, "epochs: [1\n"))
    assert err.value.loc.line == 2
    with pytest.raises(SpecError, match="duplicate key 'epochs'") as err:
        load_recipe(write(tmp_path, "epochs: 3\nlr: 0.1\nepochs: 4\n"))
    assert (err.value.loc.line, err.value.loc.col) == (3, 1)
    with pytest.raises(TrainError, match=r"recipe.yaml:2:5: recipe key 'lr' must be a number"):
        load_recipe(write(tmp_path, "epochs: 3\nlr: fast\n"))
    with pytest.raises(TrainError, match=r"recipe.yaml:2:1: unknown recipe key 'epohcs'"):
        load_recipe(write(tmp_path, "lr: 0.1\nepohcs: 3\n"))
    with pytest.raises(TrainError, match="a recipe is a mapping of keys to values, got a list$"):
        load_recipe(write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(TrainError, match="cannot read recipe file"):
        load_recipe(tmp_path / "missing.yaml")


def test_saved_recipe_round_trips():
    recipe = load_recipe(None, {"schedule": "step", "step_milestones": [5, 10], "epochs": 12})
    assert recipe_from_dict(recipe.to_dict()) == recipe
    assert make_recipe(recipe.to_dict()) == recipe


def test_parse_assignments():
    assert parse_assignments(["lr=0.05", "nesterov=false", "data=cifar10:/x"]) == {
        "lr": 0.05, "nesterov": False, "data": "cifar10:/x"}
    with pytest.raises(TrainError, match="not KEY=VALUE"):
        parse_assignments(["lr"])


def test_schedules():
    steps = 10
    warm = load_recipe(None, {"schedule": "constant", "warmup_epochs": 1, "epochs": 3, "lr": 1.0})
    assert lr_at(warm, 0, steps) == pytest.approx(0.1)
    assert lr_at(warm, 9, steps) == pytest.approx(1.0)
    assert lr_at(warm, 25, steps) == pytest.approx(1.0)
    cosine = load_recipe(None, {"schedule": "cosine", "epochs": 2, "lr": 1.0})
    assert lr_at(cosine, 0, steps) == pytest.approx(1.0)
    assert lr_at(cosine, 10, steps) == pytest.approx(0.5)
    step = load_recipe(None, {"schedule": "step", "epochs": 3, "step_milestones": [1, 2],
                              "step_gamma": 0.1, "lr": 1.0})
    assert [lr_at(step, s, steps) for s in (9, 10, 20)] == pytest.approx([1.0, 0.1, 0.01])
    onecycle = load_recipe(None, {"schedule": "onecycle", "epochs": 10, "lr": 1.0})
    values = [lr_at(onecycle, s, steps) for s in range(100)]
    assert values[0] == pytest.approx(1 / 25)
    assert max(values) == pytest.approx(1.0) and values.index(max(values)) == 29
    assert values[-1] < 1e-4 and all(math.isfinite(v) for v in values)


RECIPES = Path(__file__).resolve().parents[2] / "examples" / "recipes"


def test_he2016_recipe_is_the_papers_iteration_schedule():
    recipe = load_recipe(RECIPES / "cifar10_he2016.yaml")
    # full batches per epoch of CIFAR-10's 50k training images less the validation split
    steps = round(50_000 * (1 - recipe.val_fraction)) // recipe.batch_size
    assert recipe.val_fraction == 0.1  # the paper's 45k/5k split
    assert [m * steps for m in recipe.step_milestones] == pytest.approx([32_000, 48_000], rel=0.01)
    assert recipe.epochs * steps == pytest.approx(64_000, rel=0.01)
    assert lr_at(recipe, 31_000, steps) == pytest.approx(0.1)
    assert lr_at(recipe, 33_000, steps) == pytest.approx(0.01)
    assert lr_at(recipe, 63_000, steps) == pytest.approx(0.001)


@pytest.mark.parametrize("name, spec, shorter", [
    ("cifar10_fast.yaml", "papers/resnet9_dawnbench_cifar.yaml", {"epochs": 2}),
    ("cifar10_he2016.yaml", "resnet20_cifar.yaml", {"epochs": 2, "step_milestones": [1]}),
])
def test_example_recipes_train_their_networks(tmp_path, quiet, name, spec, shorter):
    """Each recipe with its network on a small CIFAR-10 folder: two short epochs on the CPU."""
    import netc
    from netc.runs import model_source
    from netc.train import train

    data = write_cifar10(tmp_path / "cifar", per_batch=4)
    spec_path = RECIPES.parent / spec
    source = model_source(netc.load(spec_path), spec_path.read_text())
    recipe = load_recipe(RECIPES / name, {"data": f"cifar10:{data}", "batch_size": 10,
                                          "eval_batch_size": 4, "compile": False, **shorter})
    result = train(source, recipe, tmp_path / "run", progress=quiet)
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert all(math.isfinite(row["train_loss"]) for row in result.history)


def test_assignments_are_read_like_set_and_located():
    overrides = parse_assignments(["epochs=3", "lr=fast"])
    assert overrides["epochs"] == 3
    with pytest.raises(TrainError) as err:
        load_recipe(None, overrides)
    loc = err.value.loc
    assert (loc.file, loc.line, loc.col) == ("--set lr=fast", 1, 10)
    shown = err.value.format({loc.file: loc.file}).splitlines()
    assert shown == ["--set lr=fast:1:10: error: recipe key 'lr' must be a number, got 'fast' "
                     "(str)", "  --set lr=fast", "           ^"]
    with pytest.raises(TrainError) as err:
        load_recipe(None, parse_assignments(["  bachsize=4"]))
    assert (err.value.loc.col, err.value.hint) == (9, "did you mean 'batch_size'?")
