from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from netc.train.schedule import steps_per_epoch
from netc.train.torch_batches import (Augmentation, AugmentationDraw, DeviceSplit,
                                      apply_augmentation, draw_augmentation, rank_rows)
from netc.train.data import check_fits, load_data, split_validation
from netc.train.errors import TrainError
from cifar_files import write_batch, write_cifar10


@pytest.fixture
def cifar10_dir(tmp_path):
    return write_cifar10(tmp_path)


def test_digits():
    data = load_data("digits", (1, 8, 8), 10)
    assert data.train_x.shape == (1500, 1, 8, 8) and data.test_x.shape == (297, 1, 8, 8)
    assert data.train_x.dtype == np.uint8 and data.pixel_scale == 1 / 16
    assert np.bincount(data.test_y).min() >= 29  # stratified
    again = load_data("digits", (1, 8, 8), 10)
    assert np.array_equal(again.test_y, data.test_y)  # the split does not move


def test_cifar10_from_the_unpacked_archive(cifar10_dir):
    data = load_data(f"cifar10:{cifar10_dir}", (3, 32, 32), 10)
    assert data.train_x.shape == (20, 3, 32, 32) and data.test_x.shape == (4, 3, 32, 32)
    assert data.classes[3] == "c3"
    assert 0.4 < data.mean[0] < 0.6


def test_cifar100(tmp_path):
    rng = np.random.default_rng(1)
    for name in ("train", "test"):
        write_batch(tmp_path / name, rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8),
                    [0, 50, 99], label_key=b"fine_labels")
    data = load_data(f"cifar100:{tmp_path}", (3, 32, 32), 100)
    assert data.num_classes == 100 and list(data.train_y) == [0, 50, 99]


def test_cifar_missing_files_and_hostile_pickles(tmp_path, cifar10_dir):
    with pytest.raises(TrainError, match="missing CIFAR batch files data_batch_1"):
        load_data(f"cifar10:{tmp_path / 'nothing'}", (3, 32, 32), 10)
    folder = cifar10_dir / "cifar-10-batches-py"
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with open(folder / "test_batch", "wb") as handle:
        pickle.dump({b"data": Payload()}, handle)
    with pytest.raises(TrainError, match="refusing to load"):
        load_data(f"cifar10:{cifar10_dir}", (3, 32, 32), 10)
    assert not marker.exists()


@pytest.mark.parametrize("images, labels, message", [
    (0, [], "holds no images"),
    (2, ["a", "b"], "labels must be integers, got values such as 'a', 'b'"),
    (2, [0.5, 9.9], "labels must be integers, got values such as 0.5, 9.9"),
    (2, [[1], [2, 3]], "labels must be a flat list of integers"),
    (2, [[1, 2], [3, 4]], r"labels must be a flat list of integers, got an array of shape \(2, 2\)"),
    (2, [0, 10], "labels must lie in 0..9, got values from 0 to 10"),
])
def test_cifar_batches_with_odd_contents_name_the_file(cifar10_dir, images, labels, message):
    path = cifar10_dir / "cifar-10-batches-py" / "data_batch_3"
    with open(path, "wb") as handle:
        pickle.dump({b"data": np.zeros((images, 3072), np.uint8), b"labels": labels}, handle)
    with pytest.raises(TrainError, match=message) as err:
        load_data(f"cifar10:{cifar10_dir}", (3, 32, 32), 10)
    assert err.value.message.startswith(f"{path}: ")


def test_cifar_pixels_must_be_bytes(cifar10_dir):
    path = cifar10_dir / "cifar-10-batches-py" / "test_batch"
    write_batch(path, np.full((2, 3072), 300.0), [0, 1])
    with pytest.raises(TrainError, match=f"{path}: 'data' must hold uint8 pixels, got float64"):
        load_data(f"cifar10:{cifar10_dir}", (3, 32, 32), 10)


def write_png(path, value, size=(5, 7)):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)


def test_imagefolder_with_train_and_val(tmp_path):
    for split, count in (("train", 3), ("val", 2)):
        for label, value in (("cat", 10), ("dog", 200)):
            for i in range(count):
                write_png(tmp_path / split / label / f"{i}.png", value)
    data = load_data(f"imagefolder:{tmp_path}", (3, 6, 6), 2)
    assert data.classes == ("cat", "dog")
    assert data.train_x.shape == (6, 3, 6, 6) and data.test_x.shape == (4, 3, 6, 6)
    assert data.train_x[data.train_y == 1].min() == 200  # resized, labels follow folders
    gray = load_data(f"imagefolder:{tmp_path}", (1, 4, 4), 2)
    assert gray.train_x.shape == (6, 1, 4, 4)


def test_imagefolder_split_by_class_folder(tmp_path):
    for label in ("a", "b"):
        for i in range(5):
            write_png(tmp_path / label / f"{i}.jpg", 30 * i)
    data = load_data(f"imagefolder:{tmp_path}", (3, 8, 8), 2)
    assert len(data.train_y) == 8 and sorted(data.test_y) == [0, 1]
    with pytest.raises(TrainError, match="no class folders with images"):
        load_data(f"imagefolder:{tmp_path / 'a'}", (3, 8, 8), 2)


def test_imagefolder_decompression_bomb_names_the_file(tmp_path, monkeypatch):
    from PIL import Image

    for label in ("a", "b"):
        for i in range(5):
            write_png(tmp_path / label / f"{i}.png", 30 * i)
    # PIL refuses images over twice MAX_IMAGE_PIXELS, so a 5x7 image stands in for a huge one.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    with pytest.raises(TrainError, match="cannot read image: Image size") as err:
        load_data(f"imagefolder:{tmp_path}", (3, 8, 8), 2)
    assert err.value.message.startswith(str(tmp_path / "a"))


def test_a_held_out_split_without_scikit_learn_is_a_clear_error(monkeypatch):
    import sys

    data = load_data("synthetic:40", (3, 5, 7), 4)
    monkeypatch.setitem(sys.modules, "sklearn.model_selection", None)  # import fails
    with pytest.raises(TrainError, match="uses scikit-learn, which is not installed") as err:
        split_validation(data, 0.25, 0)
    assert "netc[train]" in err.value.hint


def test_synthetic_takes_the_model_shape():
    data = load_data("synthetic:40", (3, 5, 7), 4)
    assert data.train_x.shape == (40, 3, 5, 7) and data.test_x.shape == (10, 3, 5, 7)
    assert data.train_y.max() < 4
    assert data.train_x.dtype == np.uint8 and data.pixel_scale == pytest.approx(1 / 255)
    assert 0.45 < data.train_x.mean() / 255 < 0.55
    with pytest.raises(TrainError, match="synthetic:N needs"):
        load_data("synthetic:many", (3, 5, 7), 4)


@pytest.mark.parametrize("source, shape, classes, message", [
    ("digits", (3, 224, 224), 10, "data set digits has 1x8x8 images but the model expects "
                                  "3x224x224"),
    ("digits", (1, 8, 8), 1000, "data set digits has 10 classes but the model's output has "
                                "1000 units"),
    ("digitz", (1, 8, 8), 10, "unknown data source 'digitz'"),
    ("cifar10", (3, 32, 32), 10, "data source 'cifar10' needs a folder"),
    ("digits:3", (1, 8, 8), 10, "takes no argument"),
])
def test_mismatches_are_refused_before_training(source, shape, classes, message):
    with pytest.raises(TrainError) as err:
        load_data(source, shape, classes)
    assert message in err.value.message


def test_cifar_size_mismatch_hints_at_the_spec(cifar10_dir):
    with pytest.raises(TrainError) as err:
        load_data(f"cifar10:{cifar10_dir}", (3, 224, 224), 10)
    assert "only imagefolder data is resized" in err.value.hint


def test_validation_split_is_carved_from_train():
    data = split_validation(load_data("digits", (1, 8, 8), 10), 0.2, seed=0)
    assert len(data.val_y) == 300 and len(data.train_y) == 1200
    check_fits(data, (1, 8, 8), 10)


def test_crop_shifts_and_flip_mirrors():
    images = torch.arange(16.0).view(1, 1, 4, 4).repeat(3, 1, 1, 1)
    draw = AugmentationDraw(offsets=torch.tensor([[1, 1], [0, 0], [2, 1]]),
                            flips=torch.tensor([False, False, True]))
    out = apply_augmentation(images, draw, padding=1)
    assert torch.equal(out[0], images[0])                        # centred crop: unchanged
    assert torch.equal(out[1, 0, 1:, 1:], images[1, 0, :3, :3])  # shifted down-right
    assert out[1, 0, 0].abs().sum() == 0 and out[1, 0, :, 0].abs().sum() == 0  # zero padding
    assert torch.equal(out[2, 0, :3].flip(1), images[2, 0, 1:])  # shifted up, then mirrored


def test_draws_come_from_the_generator_and_split_over_ranks():
    augmentation = Augmentation(padding=2, flip=True)
    first = draw_augmentation(augmentation, 8, torch.Generator().manual_seed(3))
    second = draw_augmentation(augmentation, 8, torch.Generator().manual_seed(3))
    assert torch.equal(first.offsets, second.offsets) and torch.equal(first.flips, second.flips)
    assert first.offsets.max() <= 4
    halves = [first.take(rank_rows(8, rank, 2)) for rank in (0, 1)]
    assert torch.equal(torch.cat([h.offsets for h in halves]), first.offsets)
    no_flip = draw_augmentation(Augmentation(2, flip=False), 8, torch.Generator())
    assert not no_flip.flips.any()
    with pytest.raises(TrainError, match="does not divide evenly over 3"):
        rank_rows(8, 0, 3)
    with pytest.raises(TrainError, match="larger than the training split"):
        steps_per_epoch(10, 11)


def test_device_split_normalises():
    data = load_data("digits", (1, 8, 8), 10)
    split = DeviceSplit(data.train_x, data.train_y, data, torch.device("cpu"))
    images, labels = split.batch(torch.arange(len(split)))
    assert images.dtype == torch.float32 and labels.dtype == torch.int64
    assert abs(float(images.mean())) < 1e-4 and abs(float(images.std()) - 1) < 1e-2
