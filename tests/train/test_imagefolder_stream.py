"""Image folders read from disk on demand: resizing of any size, the streamed torch splits and a
training run that never holds the folder in memory."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import netc.train.data.base as data_base
from netc.train import make_recipe, train
from netc.train.data import load_data
from netc.train.data.imagefolder import FolderImages, read_image
from netc.train.errors import TrainError
from netc.train.torch_batches import DeviceSplit
from netc.train.torch_stream import StreamSplit, announce_epoch

SIZES = [(20, 12), (9, 30), (16, 16), (33, 21), (12, 12)]
SPEC = """netc: 1
name: tiny
input: {shape: [3, 16, 16]}
body:
  - conv2d: {name: conv, out: 4, kernel: 3, pad: 1}
  - relu
  - global_avgpool
  - linear: {name: fc, out: 2}
"""


def write_folder(root, per_class: int = 10):
    """Two classes, red-ish and blue-ish, as PNG and JPEG files of mixed sizes."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(("blue", "red")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            w, h = SIZES[i % len(SIZES)]
            pixels = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
            pixels[..., 0 if label else 2] += 180
            suffix = ".png" if i % 2 else ".jpg"
            Image.fromarray(pixels).save(root / name / f"{i}{suffix}")
    return root


def test_eval_reads_centre_crop_the_shorter_side(tmp_path):
    pixels = np.zeros((10, 30, 3), dtype=np.uint8)
    # the centre square is columns 10-20; bilinear downscaling by 2 reads 2 pixels beyond it
    pixels[:, 8:22] = 255
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    image = read_image(tmp_path / "wide.png", (3, 5, 5))
    assert image.shape == (3, 5, 5) and image.min() == 255
    tall = np.ascontiguousarray(pixels.transpose(1, 0, 2))
    Image.fromarray(tall).save(tmp_path / "tall.png")
    assert read_image(tmp_path / "tall.png", (1, 5, 5)).min() == 255


def test_same_aspect_images_are_plainly_resized(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    want = np.asarray(Image.fromarray(pixels).resize((8, 8), Image.Resampling.BILINEAR))
    assert np.array_equal(read_image(tmp_path / "a.png", (3, 8, 8)), want.transpose(2, 0, 1))


def test_random_resized_crops_follow_their_seed(tmp_path):
    pixels = np.random.default_rng(2).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    first = read_image(tmp_path / "a.png", (3, 8, 8), crop_seed=5)
    assert first.shape == (3, 8, 8)
    assert np.array_equal(first, read_image(tmp_path / "a.png", (3, 8, 8), crop_seed=5))
    assert not np.array_equal(first, read_image(tmp_path / "a.png", (3, 8, 8), crop_seed=6))


def test_streamed_and_in_memory_loads_agree(tmp_path):
    folder = write_folder(tmp_path / "f")
    streamed = load_data(f"imagefolder:{folder}", (3, 16, 16), 2, stream=True)
    decoded = load_data(f"imagefolder:{folder}", (3, 16, 16), 2)
    assert isinstance(streamed.train_x, FolderImages) and streamed.train_x.shape == (16, 3, 16, 16)
    assert isinstance(decoded.train_x, np.ndarray)
    assert np.array_equal(streamed.test_x.decoded(), decoded.test_x)
    assert streamed.mean == decoded.mean and streamed.mean[0] != streamed.mean[2]


def test_a_folder_too_large_for_memory_is_refused_where_arrays_are_needed(tmp_path, monkeypatch):
    folder = write_folder(tmp_path / "f")
    monkeypatch.setattr(data_base, "IN_MEMORY_LIMIT", 1000)
    with pytest.raises(TrainError, match="holds data in memory") as err:
        load_data(f"imagefolder:{folder}", (3, 16, 16), 2)
    assert "streams image folders" in err.value.hint


def test_stream_split_reads_what_the_device_split_holds(tmp_path):
    folder = write_folder(tmp_path / "f")
    data = load_data(f"imagefolder:{folder}", (3, 16, 16), 2, stream=True)
    stream = StreamSplit(data.test_x, data.test_y, data, torch.device("cpu"), workers=2)
    memory = DeviceSplit(data.test_x.decoded(), data.test_y, data, torch.device("cpu"))
    for start in (0, 2):  # the first read-ahead pass, then its next batch
        rows = torch.arange(start, start + 2)
        got, labels = stream.batch(rows)
        want, want_labels = memory.batch(rows)
        assert torch.equal(got, want) and torch.equal(labels, want_labels)
    got, _ = stream.batch(torch.tensor([3, 1]))  # off the announced order: read directly
    assert torch.equal(got, memory.batch(torch.tensor([3, 1]))[0])


def test_training_batches_are_seeded_random_crops(tmp_path):
    folder = write_folder(tmp_path / "f")
    data = load_data(f"imagefolder:{folder}", (3, 16, 16), 2, stream=True)
    order = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(0))

    def epoch(workers):
        split = StreamSplit(data.train_x, data.train_y, data, torch.device("cpu"),
                            train=True, workers=workers)
        announce_epoch(split, order, 4, slice(0, 4), 1, 4, seed=3)  # resumed at step 1
        return [split.batch(order[s * 4:(s + 1) * 4])[0] for s in range(1, 4)]

    parallel, serial = epoch(2), epoch(0)
    assert all(torch.equal(a, b) for a, b in zip(parallel, serial))
    centred = DeviceSplit(data.train_x.decoded(), data.train_y, data, torch.device("cpu"))
    assert not torch.equal(parallel[0], centred.batch(order[4:8])[0])


def test_a_folder_trains_streamed_without_being_held_in_memory(tmp_path, monkeypatch, quiet):
    folder = write_folder(tmp_path / "f", per_class=12)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    monkeypatch.setattr(data_base, "IN_MEMORY_LIMIT", 0)  # any decoding of a split is refused
    recipe = make_recipe({"data": f"imagefolder:{folder}", "epochs": 2, "batch_size": 4,
                          "lr": 0.05, "device": "cpu"})
    result = train(spec, recipe, tmp_path / "run", backend="torch", progress=quiet)
    assert (tmp_path / "run" / "ir.json").exists()
    assert result is not None


class _StopsMidEpoch(Exception):
    pass


def test_a_streamed_run_resumed_mid_epoch_ends_bit_identical(tmp_path):
    """Random resized crops drawn by the workers follow the epoch's order and position, so a run
    stopped after a mid-epoch checkpoint and resumed ends with the uninterrupted run's weights."""
    from netc.train import resume
    from netc.train.progress import Progress
    from netc.train.torch_checkpoint import load_checkpoint

    class StopsMidEpoch(Progress):
        def step(self, epoch, epochs, step, *args, **kwargs) -> None:
            if epoch == 2 and step == 3:
                raise _StopsMidEpoch

    folder = write_folder(tmp_path / "f", per_class=12)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    recipe = make_recipe({"data": f"imagefolder:{folder}", "epochs": 3, "batch_size": 4,
                          "lr": 0.05, "device": "cpu", "checkpoint_every_steps": 2})
    train(spec, recipe, tmp_path / "whole", backend="torch", progress=Progress(enabled=False))
    with pytest.raises(_StopsMidEpoch):
        train(spec, recipe, tmp_path / "cut", backend="torch",
              progress=StopsMidEpoch(enabled=False))
    stopped = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert (stopped["epoch"], stopped["step_in_epoch"]) == (1, 2)
    resume(tmp_path / "cut", progress=Progress(enabled=False))
    whole, cut = (load_checkpoint(tmp_path / run / "checkpoints" / "last.pt")["model"]
                  for run in ("whole", "cut"))
    assert all(torch.equal(whole[key], cut[key]) for key in whole)
