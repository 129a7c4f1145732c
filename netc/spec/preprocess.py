"""An input's declared normalisation (`input: {normalize: imagenet}`), resolved to one form.

Every form becomes ``{"order": "rgb" | "bgr", "mean": [...], "std": [...]}`` with mean and std
per channel in [0, 1] pixel units: the model sees ``(pixels[order] - mean) / std``. The presets
are the conventions pretrained weights were trained with:

- ``imagenet``: torchvision's weights (``transforms.Normalize`` with the ImageNet statistics).
- ``caffe``: keras.applications ResNet50's ``preprocess_input`` (mode 'caffe'): channels in BGR
  order, the ImageNet means in 0-255 units subtracted, no scaling; as [0, 1] units that is
  mean = means / 255, std = 1 / 255.
- ``minus_one_one``: ``preprocess_input`` mode 'tf', x / 127.5 - 1, i.e. mean 0.5, std 0.5.
"""

from __future__ import annotations

from .errors import SpecError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# keras.applications imagenet_utils._preprocess_numpy_input, mode 'caffe' (BGR order)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

PRESETS = ("imagenet", "caffe", "minus_one_one")


def _preset(name: str, channels: int) -> dict:
    if name == "minus_one_one":
        return {"order": "rgb", "mean": [0.5] * channels, "std": [0.5] * channels}
    if name == "imagenet":
        return {"order": "rgb", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    return {"order": "bgr", "mean": [m / 255 for m in CAFFE_MEAN_BGR], "std": [1 / 255] * 3}


def resolve_normalize(value, channels: int, loc=None) -> dict:
    """The canonical form of a spec's `normalize` (already schema-checked) for `channels`."""
    if isinstance(value, str):
        if value not in PRESETS:
            raise SpecError(f"unknown normalisation '{value}'", loc,
                            "use " + ", ".join(PRESETS) + " or {mean: [...], std: [...]}")
        if value != "minus_one_one" and channels != 3:
            raise SpecError(f"normalize: {value} is for 3-channel (RGB) inputs; this input has "
                            f"{channels} channel(s)", loc,
                            "give {mean: [...], std: [...]} with one value per channel")
        return _preset(value, channels)
    order = value.get("order", "rgb")
    mean, std = [float(m) for m in value["mean"]], [float(s) for s in value["std"]]
    for key, values in (("mean", mean), ("std", std)):
        if len(values) != channels:
            raise SpecError(f"normalize {key} has {len(values)} value(s) but the input has "
                            f"{channels} channel(s)", loc, "give one value per channel")
    if any(s <= 0 for s in std):
        raise SpecError("normalize std values must be positive", loc)
    if order == "bgr" and channels != 3:
        raise SpecError("order: bgr needs a 3-channel input", loc)
    return {"order": order, "mean": mean, "std": std}


SCHEMA = {
    "description": "the normalisation the model's inputs get: a preset (imagenet: torchvision's "
                   "mean/std; caffe: BGR, ImageNet means in 0-255 units subtracted; "
                   "minus_one_one: x/127.5 - 1) or per-channel mean/std in [0, 1] units",
    "oneOf": [
        {"enum": list(PRESETS)},
        {"type": "object", "required": ["mean", "std"], "additionalProperties": False,
         "properties": {
             "mean": {"type": "array", "minItems": 1, "items": {"type": "number"}},
             "std": {"type": "array", "minItems": 1,
                     "items": {"type": "number", "exclusiveMinimum": 0}},
             "order": {"enum": ["rgb", "bgr"]}}},
    ],
}
