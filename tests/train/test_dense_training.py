"""Per-pixel classification: the segfolder and shapes data, the pixel loss and metrics, dense
augmentation, and training a small U-Net end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import netc
from netc.runs import model_source
from netc.train import load_recipe, train
from netc.train.data import load_data, split_validation
from netc.train.dense import IGNORE_INDEX, mean_iou
from netc.train.errors import TrainError
from netc.train.torch_batches import AugmentationDraw, DeviceSplit
from netc.train.torch_dense import crop_masks, flat_pixels
from netc.train.torch_evaluate import evaluate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
UNET = EXAMPLES / "unet_small.yaml"


def unet_source(backend: str = "torch", **params):
    params = {"width": 2, "size": 16, **params}
    graph = netc.load(str(UNET), params)
    return model_source(graph, UNET.read_text("utf-8"), backend)


def write_pair(folder: Path, stem: str, image: np.ndarray, mask: np.ndarray,
               mask_mode: str = "L") -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(folder / "images" / f"{stem}.png")
    Image.fromarray(mask).convert(mask_mode).save(folder / "masks" / f"{stem}.png")


def pair(index: int, height: int = 12, width: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """An RGB image and its mask: class 1 in the top rows, class 2 in the bottom-right corner
    (only for even indices), 255 in the first two columns, 0 elsewhere."""
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[:3] = 1
    if index % 2 == 0:
        mask[-4:, -4:] = 2
    mask[:, :2] = IGNORE_INDEX
    image = np.stack([mask * 40 + index, mask * 20, np.full_like(mask, 7)], axis=-1)
    return image.astype(np.uint8), mask


def test_segfolder_reads_images_and_masks(tmp_path):
    for i in range(5):
        write_pair(tmp_path, f"s{i}", *pair(i))
    data = load_data(f"segfolder:{tmp_path}", (3, 12, 10), 3)
    assert data.classes == ("0", "1", "2")
    assert len(data.train_x) == 4 and len(data.test_x) == 1  # a fifth held out
    assert data.train_x.shape[1:] == (3, 12, 10) and data.train_y.shape[1:] == (12, 10)
    every_x = np.concatenate([data.train_x, data.test_x])
    every_y = np.concatenate([data.train_y, data.test_y])
    stems = sorted(int(x[0, 5, 5]) for x in every_x)  # the red channel carries the index
    assert stems == [0, 1, 2, 3, 4]
    for x, y in zip(every_x, every_y):
        image, mask = pair(int(x[0, 5, 5]))
        np.testing.assert_array_equal(y, mask)
        np.testing.assert_array_equal(x, image.transpose(2, 0, 1))


def test_segfolder_resizes_masks_by_nearest_neighbour_and_takes_split_folders(tmp_path):
    for split, count in (("train", 3), ("test", 2)):
        for i in range(count):
            write_pair(tmp_path / split, f"{split}{i}", *pair(i, 24, 20), mask_mode="P")
    (tmp_path / "classes.txt").write_text("sky\nroad\ncar\nbike\n")
    data = load_data(f"segfolder:{tmp_path}", (1, 12, 10), 4)
    assert data.classes == ("sky", "road", "car", "bike")
    assert len(data.train_x) == 3 and len(data.test_x) == 2
    assert data.train_x.shape == (3, 1, 12, 10)
    # Nearest neighbour: no value between classes appears, and the blocks keep their places.
    assert set(np.unique(data.train_y)) == {0, 1, 2, IGNORE_INDEX}
    assert (data.train_y[0, :1, 1:] == 1).all() and (data.train_y[0, -2:, -2:] == 2).all()
    assert (data.train_y[:, :, 0] == IGNORE_INDEX).all()


@pytest.mark.parametrize("damage, message", [
    ("no_mask", "no mask"),
    ("rgb_mask", "one-channel PNG"),
    ("big_index", "class index 7"),
    ("size", "mask is 5x5"),
])
def test_segfolder_refuses_bad_layouts(tmp_path, damage, message):
    for i in range(3):
        write_pair(tmp_path, f"s{i}", *pair(i))
    image, mask = pair(9)
    if damage == "no_mask":
        (tmp_path / "masks" / "s1.png").unlink()
    elif damage == "rgb_mask":
        Image.fromarray(np.stack([mask] * 3, axis=-1)).save(tmp_path / "masks" / "s1.png")
    elif damage == "big_index":
        (tmp_path / "classes.txt").write_text("a\nb\nc\n")
        mask[2, 2] = 7
        write_pair(tmp_path, "s1", image, mask)
    else:
        Image.fromarray(mask[:5, :5]).save(tmp_path / "masks" / "s1.png")
    with pytest.raises(TrainError, match=message):
        load_data(f"segfolder:{tmp_path}", (3, 12, 10), 3)


def test_segfolder_without_the_folders_is_a_clear_error(tmp_path):
    with pytest.raises(TrainError, match="no 'images' folder"):
        load_data(f"segfolder:{tmp_path}", (3, 12, 10), 3)


def test_shapes_masks_mark_exactly_the_drawn_digits():
    data = load_data("shapes:40", (1, 32, 32), 11)
    again = load_data("shapes:40", (1, 32, 32), 11)
    np.testing.assert_array_equal(data.train_x, again.train_x)
    np.testing.assert_array_equal(data.test_y, again.test_y)
    assert data.classes[0] == "background" and data.num_classes == 11
    assert data.train_x.shape == (40, 1, 32, 32) and data.test_x.shape == (8, 1, 32, 32)
    for images, masks in ((data.train_x, data.train_y), (data.test_x, data.test_y)):
        ink = images[:, 0] > 0
        np.testing.assert_array_equal(ink, masks > 0)
        assert (images[:, 0][ink] >= 4).all() and masks.max() <= 10
    # Each canvas holds one or two digits: one or two foreground classes.
    counts = [len(np.unique(m[m > 0])) for m in data.train_y]
    assert set(counts) <= {1, 2} and 1 in counts


def test_dense_validation_split_holds_out_whole_images():
    data = load_data("shapes:40", (1, 16, 16), 11)
    split = split_validation(data, 0.25, seed=3)
    assert len(split.val_x) == 10 and len(split.train_x) == 30
    assert split.val_y.shape == (10, 16, 16)
    rows = {arr.tobytes() for arr in data.train_x}
    assert {arr.tobytes() for arr in split.val_x} | {arr.tobytes() for arr in split.train_x} \
        == rows


def test_mean_iou_from_a_confusion_matrix():
    # true 0: 3 right, 1 taken for 1; true 1: 2 right; class 2 never seen nor predicted.
    confusion = np.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]])
    assert mean_iou(confusion) == pytest.approx((3 / 4 + 2 / 3) / 2)


def test_flat_pixels_drop_ignored_labels():
    logits = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    labels = torch.tensor([[[0, 255], [1, 2]], [[255, 255], [2, 0]]])
    scores, kept = flat_pixels(logits, labels)
    assert kept.tolist() == [0, 1, 2, 2, 0]
    assert scores.tolist() == [[0, 4, 8], [2, 6, 10], [3, 7, 11], [14, 18, 22], [15, 19, 23]]


def test_masks_are_cropped_and_flipped_with_their_images():
    masks = torch.arange(2 * 3 * 3).view(2, 3, 3) % 5
    draw = AugmentationDraw(offsets=torch.tensor([[0, 0], [2, 1]]),
                            flips=torch.tensor([False, True]))
    out = crop_masks(masks, draw, padding=1)
    # First: shifted down-right by one, the uncovered row and column ignored.
    assert out[0].tolist() == [[255, 255, 255], [255, 0, 1], [255, 3, 4]]
    # Second, [[4, 0, 1], [2, 3, 4], [0, 1, 2]]: shifted up by one, then mirrored.
    assert out[1].tolist() == [[4, 3, 2], [2, 1, 0], [255, 255, 255]]


class ClassZero(torch.nn.Module):
    """Scores class 0 one unit above the others at every pixel."""

    def forward(self, x):
        out = torch.zeros(x.shape[0], 3, *x.shape[2:])
        out[:, 0] = 1.0
        return out


def test_evaluation_counts_labelled_pixels_only(tmp_path):
    for i in range(5):
        write_pair(tmp_path, f"s{i}", *pair(i))
    data = load_data(f"segfolder:{tmp_path}", (3, 12, 10), 3)
    result = evaluate(ClassZero(), data, "train", device="cpu")
    labels = data.train_y[data.train_y != IGNORE_INDEX]
    assert result.count == labels.size
    assert result.confusion[:, 1:].sum() == 0
    assert result.confusion[:, 0].tolist() == [int((labels == c).sum()) for c in range(3)]
    assert result.accuracy == pytest.approx((labels == 0).mean())
    right, wrong = -math.log(math.e / (math.e + 2)), -math.log(1 / (math.e + 2))
    expected = ((labels == 0) * right + (labels != 0) * wrong).mean()
    assert result.loss == pytest.approx(expected, rel=1e-6)


def test_device_split_yields_long_masks():
    data = load_data("shapes:8", (1, 16, 16), 11)
    split = DeviceSplit(data.train_x, data.train_y, data, torch.device("cpu"))
    images, labels = split.batch(torch.arange(4))
    assert images.shape == (4, 1, 16, 16) and labels.dtype == torch.int64
    assert labels.shape == (4, 16, 16)


def test_a_small_unet_learns_shapes(tmp_path, quiet):
    recipe = load_recipe(None, {"data": "shapes:160", "epochs": 3, "batch_size": 16,
                                "val_fraction": 0.25, "threads": 1})
    result = train(unet_source(), recipe, tmp_path / "run", progress=quiet)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text()
            .splitlines()]
    assert {"val_miou", "test_miou", "val_acc", "test_acc", "train_acc"} <= set(rows[0])
    for row in rows:
        assert 0 <= row["val_miou"] <= row["val_acc"] <= 1  # background alone scores its share
    best = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)
    chosen = max(rows, key=lambda row: (row["val_miou"], -row["val_loss"], -row["epoch"]))
    assert best["epoch"] == chosen["epoch"]
    assert best["best"] == {"val_acc": chosen["val_miou"], "val_loss": chosen["val_loss"],
                            "epoch": chosen["epoch"], "metric": "miou"}
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    with Image.open(tmp_path / "run" / "predictions.png") as picture:
        assert picture.size[0] > 300 and picture.size[1] > 300
    assert result.best_accuracy == chosen["val_miou"]


def test_training_on_a_segfolder(tmp_path, quiet):
    for i in range(10):
        image, mask = pair(i, 16, 16)
        write_pair(tmp_path / "data", f"s{i}", image, mask)
    recipe = load_recipe(None, {"data": f"segfolder:{tmp_path / 'data'}", "epochs": 1,
                                "batch_size": 4, "val_fraction": 0.0, "threads": 1,
                                "crop_padding": 2})
    train(unet_source(num_classes=3, in_channels=3), recipe, tmp_path / "run", progress=quiet)
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert math.isfinite(row["train_loss"]) and "test_miou" in row
    assert (tmp_path / "run" / "predictions.png").is_file()


CLASSIFIER = """
netc: 1
name: tiny_classifier
input: {shape: [1, 16, 16]}
body:
  - conv2d: {name: conv, out: 4, kernel: 3, pad: 1}
  - relu
  - global_avgpool
  - linear: {name: fc, out: 11}
"""


def test_classifier_and_dense_data_do_not_mix(tmp_path, quiet):
    with pytest.raises(TrainError, match="labels whole images"):
        train(unet_source(num_classes=10), load_recipe(None, {"data": "synthetic:16",
                                                              "epochs": 1}),
              tmp_path / "a", progress=quiet)
    spec = tmp_path / "classifier.yaml"
    spec.write_text(CLASSIFIER)
    with pytest.raises(TrainError, match="labels every pixel"):
        train(model_source(netc.load(str(spec), {}), CLASSIFIER, "torch"),
              load_recipe(None, {"data": "shapes:16", "epochs": 1}), tmp_path / "b",
              progress=quiet)


def test_keras_refuses_dense_training(tmp_path, quiet):
    with pytest.raises(TrainError, match="--backend torch"):
        train(unet_source("keras"), load_recipe(None, {"data": "shapes:16", "epochs": 1}),
              tmp_path / "run", progress=quiet)
