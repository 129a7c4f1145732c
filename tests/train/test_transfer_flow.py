"""The README's transfer-learning flow end to end: torchvision's ResNet-18 weights from a local
.pth file, a 10-class head, the backbone frozen, fine-tuned on an image folder of digits upscaled
to 32x32; `netc eval` and `netc lesion` read the run."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from click.testing import CliRunner
from PIL import Image
from sklearn.datasets import load_digits

from netc.backends import get_backend
from netc.cli import main
from netc.train.run_folder import RunFolder

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FROZEN = ("conv1", "bn1", "layer1", "layer2", "layer3")


def write_digit_folder(root: Path, per_class: int = 20) -> Path:
    """DIR/<class>/<i>.png: scikit-learn's digits as 8-bit greyscale, upscaled to 32x32."""
    digits = load_digits()
    counts = dict.fromkeys(range(10), 0)
    for i, (image, label) in enumerate(zip(digits.images, digits.target)):
        if counts[label] == per_class:
            continue
        counts[label] += 1
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (image * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).resize((32, 32), Image.BILINEAR).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flow")
    torch.manual_seed(0)
    weights = tmp / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    folder = write_digit_folder(tmp / "digits32")
    result = CliRunner().invoke(main, [
        "train", str(EXAMPLES / "resnet18.yaml"), "--set", "num_classes=10", "--set", "size=32",
        "--data", f"imagefolder:{folder}", "--init-weights", str(weights),
        "--freeze", ",".join(FROZEN), "--epochs", "2", "--batch-size", "32", "--threads", "1",
        "--lr", "0.05", "--out", str(tmp / "run")])
    assert result.exit_code == 0, result.output
    return tmp / "run", weights, result.output


def test_the_report_lists_exactly_the_replaced_head(run):
    run_dir, _, output = run
    assert "transferred 100 of 102 tensors" in output
    report = json.loads((run_dir / RunFolder.TRANSFER).read_text())
    assert report["reshaped"] == [
        {"key": "fc.weight", "file": [1000, 512], "spec": [10, 512]},
        {"key": "fc.bias", "file": [1000], "spec": [10]}]
    assert report["missing"] == [] and report["unused"] == []


def test_the_backbone_stays_bit_for_bit_and_the_rest_trains(run):
    run_dir, weights, _ = run
    loaded = torch.load(weights, weights_only=True)
    checkpoint = RunFolder(run_dir).existing_checkpoint("last")
    trained = get_backend("torch").checkpoint_weights(str(checkpoint), None)
    frozen = [k for k in loaded if k.split(".")[0] in FROZEN and "num_batches" not in k]
    assert len(frozen) == 75  # conv1, bn1 and layers 1-3, running statistics included
    for key in frozen:
        assert np.array_equal(trained[key], loaded[key].numpy()), key
    for key in ("layer4.1.conv2.weight", "layer4.1.bn2.running_mean"):
        assert not np.allclose(trained[key], loaded[key].numpy()), key
    assert trained["fc.weight"].shape == (10, 512)


def test_eval_and_lesion_read_the_run(run):
    run_dir, _, _ = run
    evaluated = CliRunner().invoke(main, ["eval", str(run_dir)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "accuracy" in evaluated.output
    lesioned = CliRunner().invoke(main, ["lesion", str(run_dir)])
    assert lesioned.exit_code == 0, lesioned.output
    assert (run_dir / "lesion.json").is_file()
