"""The training recipe: every knob of a run, loaded from YAML and overridden by flags.

Framework-neutral (no framework import) so that every trainer reads the same recipe. Values are
layered, later wins: built-in defaults < defaults for the data set's kind < the recipe file <
overrides (command-line flags). The recipe saved into a run folder is the fully resolved one, so a
run can be repeated from its folder alone.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from netc.spec.errors import Location
from netc.spec.loader import LocDict, key_location, load_value, load_yaml, location_of
from netc.train.errors import TrainError

# Every trainer seeds its data stream (shuffles, crops, flips) apart from the stream that
# initialises the weights, so that one seed does not give the first epoch's order the same
# random numbers as the first layer.
DATA_SEED_OFFSET = 7919

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "fp16")
# More threads than a few per core only queue for the cores; thousands hang the run or fail to
# start (pthread_create), so ``threads`` stops at this many per CPU of the machine it runs on.
THREADS_PER_CPU = 4
SEED_RANGE = (0, 2**32 - 1)  # what every seeded library takes (numpy, scikit-learn's splits)


@dataclass(frozen=True)
class Recipe:
    data: str = "digits"             # a data source string, see netc.train.data
    epochs: int = 30
    batch_size: int = 128            # global: split over the processes of a distributed run
    eval_batch_size: int = 1000
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    no_decay_on_norm_and_bias: bool = True
    schedule: str = "cosine"
    warmup_epochs: float = 0.0       # linear warm-up, may be fractional
    step_milestones: tuple[int, ...] = ()  # epochs after which lr *= step_gamma
    step_gamma: float = 0.1
    label_smoothing: float = 0.0
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    threads: int = 0                 # CPU threads per process for the framework; 0: its default
    augment: bool = True             # random crop (and flip), drawn per image on the device
    crop_padding: int = 4            # zero padding on each side before the random crop
    flip: bool = True                # random horizontal flip, when augment is on
    val_fraction: float = 0.1        # held out of train; best.pt follows it (0: no best.pt)
    checkpoint_every_steps: int = 0  # also checkpoint mid-epoch; 0: at epoch ends only
    ema: float = 0.0                 # decay of the weights' average kept after each step; 0: none
    patience: int = 0                # stop after this many epochs without a better val; 0: off
    # Transfer learning (netc.transfer): weights to start from, matched by IR name and shape;
    # node globs held fixed, from the start until `unfreeze_epoch` epochs are done (0: always);
    # learning-rate factors per node glob ("layer4.*=0.1x,fc=10x").
    init_weights: str = ""
    init_partial: bool = False       # let shapes differ beyond the head too
    freeze: str = ""
    unfreeze_epoch: int = 0
    lr_groups: str = ""

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["step_milestones"] = list(self.step_milestones)
        return values

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @property
    def data_kind(self) -> str:
        return data_kind(self.data)


# Digits, tuned on a 2-core CPU: residual CNNs of 10k-270k parameters pass 98% test accuracy
# in 15 epochs (57k parameters: about 10 CPU-seconds of training). Flips are wrong for digits (a
# mirrored 2 is not a 2); a one-pixel shift is the augmentation an 8x8 image can take. One
# thread: 8x8 layers are too small for intra-op threads to pay, and two threads per process on a
# busy 2-core machine ran 6-15 times slower than one.
DATA_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"epochs": 15, "batch_size": 64, "lr": 0.1, "weight_decay": 5e-4,
               "schedule": "onecycle", "augment": True, "crop_padding": 1, "flip": False,
               "eval_batch_size": 512, "threads": 1},
    # He et al. 2016, section 4.2: SGD 0.1, momentum 0.9, wd 1e-4 .. 5e-4, pad-4 crop + flip.
    "cifar10": {"epochs": 30, "batch_size": 128, "lr": 0.1, "weight_decay": 5e-4,
                "schedule": "onecycle", "augment": True, "crop_padding": 4, "flip": True},
    "cifar100": {"epochs": 40, "batch_size": 128, "lr": 0.1, "weight_decay": 5e-4,
                 "schedule": "onecycle", "augment": True, "crop_padding": 4, "flip": True},
    "imagefolder": {"augment": True, "flip": True},
    "synthetic": {"epochs": 2, "augment": False},
    # Per-pixel data: a crop's padding is labelled ignore. Digits must not be mirrored.
    "shapes": {"epochs": 12, "batch_size": 16, "optimizer": "adamw", "lr": 0.01,
               "weight_decay": 1e-4, "schedule": "onecycle", "augment": True,
               "crop_padding": 2, "flip": False, "eval_batch_size": 256, "threads": 1},
    "segfolder": {"augment": True, "flip": True},
}


def data_kind(data: str) -> str:
    return data.split(":", 1)[0]


def _expect_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("an integer")
    return value


def _expect_float(value: Any) -> float:
    # PyYAML follows YAML 1.1, which reads `1e-3` (no dot) as a string; users mean a number.
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise TypeError("a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError("a finite number")
    return float(value)


def _expect_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("true or false")
    return value


def _expect_str(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("a non-empty string")
    return value


def _expect_int_list(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise TypeError("a list of integers")
    try:
        return tuple(_expect_int(item) for item in value)
    except TypeError:
        raise TypeError("a list of integers") from None


_CONVERTERS: dict[str, Callable[[Any], Any]] = {  # keyed by the field's annotation
    "int": _expect_int, "float": _expect_float, "bool": _expect_bool, "str": _expect_str,
    "tuple[int, ...]": _expect_int_list,
}

# (low, high, low_inclusive, high_inclusive) for numeric fields; None leaves a side open.
_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "epochs": (1, None, True, True),
    "batch_size": (1, None, True, True),
    "eval_batch_size": (1, None, True, True),
    "lr": (0, None, False, True),
    "momentum": (0, 1, True, False),
    "weight_decay": (0, None, True, True),
    "warmup_epochs": (0, None, True, True),
    "step_gamma": (0, 1, False, True),
    "label_smoothing": (0, 1, True, False),
    "crop_padding": (0, None, True, True),
    "val_fraction": (0, 1, True, False),
    "checkpoint_every_steps": (0, None, True, True),
    "threads": (0, None, True, True),
    "seed": (*SEED_RANGE, True, True),
    "ema": (0, 1, True, False),
    "patience": (0, None, True, True),
    "unfreeze_epoch": (0, None, True, True),
}

_CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "device": DEVICES, "precision": PRECISIONS,
}

FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Recipe))
_UNSET_STRINGS = {f.name: f.default for f in dataclasses.fields(Recipe) if f.default == ""}
_FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(Recipe)}


def _whole(where: str | Location) -> Location:
    """A place with no line: a file as a whole, a checkpoint, or the overrides of a call."""
    return where if isinstance(where, Location) else Location(str(where), 0, 0)


def _unknown_key_error(key: str, where: Location) -> TrainError:
    close = difflib.get_close_matches(key, FIELD_NAMES, n=1)
    hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(FIELD_NAMES)
    return TrainError(f"unknown recipe key '{key}'", hint=hint, loc=where)


def _convert(key: str, value: Any, where: Location) -> Any:
    if value == "" and _UNSET_STRINGS.get(key) == "":
        return value  # an optional path or pattern left unset, as a saved recipe writes it
    try:
        value = _CONVERTERS[_FIELD_TYPES[key]](value)
    except TypeError as expected:
        raise TrainError(f"recipe key '{key}' must be {expected}, got {_found(value)}",
                         loc=where) from None
    if key in _CHOICES and value not in _CHOICES[key]:
        close = difflib.get_close_matches(value, _CHOICES[key], n=1)
        raise TrainError(f"recipe key '{key}' must be one of {', '.join(_CHOICES[key])}; "
                         f"got '{value}'", hint=f"did you mean '{close[0]}'?" if close else None,
                         loc=where)
    if key in _RANGES:
        _check_range(key, value, where)
    return value


def _found(value: Any) -> str:
    """A wrong value as a message shows it; containers in the spec's words."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value!r} ({type(value).__name__})"


def _check_range(key: str, value: float, where: Location) -> None:
    low, high, low_inclusive, high_inclusive = _RANGES[key]
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        bounds = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise TrainError(f"recipe key '{key}' must lie in {bounds}, got {value}", loc=where)


def _check_consistency(recipe: Recipe, where: Location) -> None:
    if recipe.schedule == "step":
        if not recipe.step_milestones:
            raise TrainError("schedule 'step' needs step_milestones",
                             hint=f"e.g. step_milestones: [{recipe.epochs // 2}, "
                                  f"{recipe.epochs * 3 // 4}] (epochs at which lr *= step_gamma)",
                             loc=where)
        milestones = recipe.step_milestones
        if list(milestones) != sorted(set(milestones)) or not 0 < milestones[0] \
                or milestones[-1] > recipe.epochs:
            raise TrainError(f"step_milestones must increase strictly and lie in "
                             f"1..epochs ({recipe.epochs}), got {list(milestones)}", loc=where)
    if recipe.optimizer == "sgd" and recipe.nesterov and recipe.momentum == 0:
        raise TrainError("nesterov needs momentum > 0",
                         hint="set nesterov: false, or a momentum such as 0.9", loc=where)
    if recipe.patience and recipe.val_fraction == 0:
        raise TrainError("patience stops a run when its validation score stops improving, and "
                         "val_fraction 0 holds out no validation split",
                         hint="set val_fraction (e.g. 0.1), or patience: 0", loc=where)
    _check_transfer(recipe, where)
    if recipe.warmup_epochs >= recipe.epochs:
        raise TrainError(f"warmup_epochs ({recipe.warmup_epochs}) must be smaller than "
                         f"epochs ({recipe.epochs})", loc=where)


def _check_transfer(recipe: Recipe, where: Location) -> None:
    from netc.spec.errors import SpecError
    from netc.transfer import parse_globs, parse_lr_groups

    try:
        if recipe.freeze:
            parse_globs(recipe.freeze, "freeze")
        if recipe.lr_groups:
            parse_lr_groups(recipe.lr_groups)
    except SpecError as err:
        raise TrainError(err.message, hint=err.hint, loc=where) from None
    if recipe.unfreeze_epoch and not recipe.freeze:
        raise TrainError("unfreeze_epoch releases the nodes that freeze holds, and freeze is "
                         "empty", hint="set freeze (e.g. 'conv1,bn1,layer1'), or "
                                       "unfreeze_epoch: 0", loc=where)
    if recipe.unfreeze_epoch >= recipe.epochs:
        raise TrainError(f"unfreeze_epoch ({recipe.unfreeze_epoch}) must be smaller than epochs "
                         f"({recipe.epochs})", loc=where)
    if recipe.init_partial and not recipe.init_weights:
        raise TrainError("init_partial says how to load init_weights, and init_weights is "
                         "empty", loc=where)


def _layer(values: dict[str, Any], updates: Mapping[str, Any], where: str | Location) -> None:
    for key, value in updates.items():
        if key not in _FIELD_TYPES:
            raise _unknown_key_error(str(key), _at(key_location, updates, key, where))
        values[key] = _convert(key, value, _at(location_of, updates, key, where))


def _at(locate: Callable, updates: Mapping[str, Any], key: str,
        where: str | Location) -> Location:
    """Where a key or value was written (a recipe file's line and column, or a command-line
    assignment's column), else ``where`` as a whole."""
    loc = locate(updates, key) if isinstance(updates, LocDict) else None
    return loc or _whole(where)


def _build(values: dict[str, Any], where: str | Location) -> Recipe:
    recipe = Recipe(**{**values, "step_milestones": tuple(values["step_milestones"])})
    _check_consistency(recipe, _whole(where))
    return recipe


def make_recipe(file_values: Mapping[str, Any] | None = None,
                overrides: Mapping[str, Any] | None = None,
                where: str = "recipe",
                input_shape: tuple[int, int, int] | None = None) -> Recipe:
    """Resolve a recipe from file values and flag overrides (a None override means 'not given');
    with the model's ``input_shape``, also check that it can run here, located where each
    value was set."""
    file_values = file_values or {}  # kept as loaded: a LocDict knows where each key was written
    overrides = overrides or {}
    if any(value is None for value in overrides.values()):
        overrides = {k: v for k, v in overrides.items() if v is not None}
    values = Recipe().to_dict()
    data = overrides.get("data", file_values.get("data", values["data"]))
    _layer(values, {"data": data}, where)
    values.update(DATA_DEFAULTS.get(data_kind(values["data"]), {}))
    _layer(values, file_values, where)
    _layer(values, overrides, "override")
    recipe = _build(values, where)
    if input_shape is not None:
        def origin(key: str) -> Location:
            if key in overrides:
                return _at(location_of, overrides, key, "override")
            return _at(location_of, file_values, key, where)
        check_runnable(recipe, input_shape, origin)
    return recipe


def load_recipe(path: str | Path | None = None,
                overrides: Mapping[str, Any] | None = None,
                input_shape: tuple[int, int, int] | None = None) -> Recipe:
    """Load a recipe YAML file (or only defaults when ``path`` is None) and apply overrides;
    with the model's ``input_shape``, also check that it can run here (check_runnable)."""
    if path is None:
        return make_recipe(None, overrides, input_shape=input_shape)
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise TrainError(f"cannot read recipe file {path}: {err.strerror}",
                         loc=_whole(str(path))) from None
    # Read like a spec: positions kept, duplicate keys and object-building tags refused.
    loaded = load_yaml(text, str(path)) if text.strip() else {}
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise TrainError(f"a recipe is a mapping of keys to values, got {_found(loaded)}",
                         loc=location_of(loaded) or _whole(str(path)))
    return make_recipe(loaded, overrides, where=str(path), input_shape=input_shape)


def check_runnable(recipe: Recipe, input_shape: tuple[int, int, int],
                   origin: Callable[[str], Location | None] = lambda key: None) -> None:
    """Refuse what this machine and this model cannot run: more threads than THREADS_PER_CPU
    per CPU, and a crop padding wider than the model's images (each padded image would be
    mostly zeros; a huge padding does not fit in memory). A saved recipe is not held to this
    when it is read, so a run moved to a smaller machine can resume with fewer threads.
    ``origin(key)``: where the key's value was set, when known."""
    cpus = os.cpu_count() or 1
    if recipe.threads > THREADS_PER_CPU * cpus:
        raise TrainError(f"recipe key 'threads' must be at most {THREADS_PER_CPU * cpus} "
                         f"({THREADS_PER_CPU} per CPU; this machine has {cpus}), "
                         f"got {recipe.threads}", hint="0 leaves the count to the framework",
                         loc=origin("threads"))
    height, width = input_shape[-2:]
    if recipe.augment and recipe.crop_padding > min(height, width):
        raise TrainError(f"recipe key 'crop_padding' must be at most {min(height, width)} (the "
                         f"side of the model's {height}x{width} images), "
                         f"got {recipe.crop_padding}",
                         hint="a few pixels: 4 is usual for 32x32 images",
                         loc=origin("crop_padding"))


def cpu_precision_note(recipe: Recipe) -> str | None:
    """The note for a run on the CPU at a precision CPUs emulate: bf16 and fp16 autocast ran
    7-24 times slower than fp32 on a 2-core CPU. The run goes on; the user may mean it."""
    if recipe.precision == "fp32":
        return None
    return (f"note: precision {recipe.precision} on the CPU is much slower than fp32 "
            f"(7-24x measured); it pays on a GPU")


def recipe_from_dict(values: Mapping[str, Any], where: str = "checkpoint") -> Recipe:
    """Rebuild a saved, fully resolved recipe (no data-kind defaults are layered in)."""
    resolved = Recipe().to_dict()
    _layer(resolved, values, where)
    return _build(resolved, where)


def override_recipe(recipe: Recipe, overrides: Mapping[str, Any],
                    where: str = "override") -> Recipe:
    """``recipe`` with ``overrides`` applied, each checked as a recipe file's value is."""
    values = recipe.to_dict()
    _layer(values, overrides, where)
    return _build(values, where)


def parse_assignments(assignments: list[str], flag: str = "--set") -> LocDict:
    """Turn ``["lr=0.05", "nesterov=false"]`` into typed overrides. Each value is read by the
    spec's YAML rules (netc.spec.loader.load_value, as ``netc --set`` reads a network
    parameter) and located on its argument, so a mistake is reported with a caret under it."""
    overrides = LocDict()
    overrides.loc, overrides.key_locs, overrides.value_locs = None, {}, {}
    for item in assignments:
        where = f"{flag} {item}"
        start = len(flag) + 2  # the column of KEY in `FLAG KEY=VALUE`
        key, sep, text = item.partition("=")
        name = key.strip()
        if not sep or not name:
            raise TrainError(f"recipe override '{item}' is not KEY=VALUE", hint="e.g. lr=0.05",
                             loc=Location(where, 1, start))
        overrides[name] = load_value(text, where, start + len(key) + 1)
        overrides.key_locs[name] = Location(where, 1, start + len(key) - len(key.lstrip()))
        overrides.value_locs[name] = Location(where, 1, start + len(key) + 1
                                              + len(text) - len(text.lstrip()))
    return overrides
