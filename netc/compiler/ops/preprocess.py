"""Input preprocessing that Keras applications build into the model: `Rescaling` (x * scale +
offset) and `Normalization` ((x - mean) / max(sqrt(variance), 1e-7) per channel). Normalization
comes in Keras's two forms: with the mean, variance and sample count held as non-trainable state
(EfficientNet's; named as batch norm names its statistics, running_mean and running_var), or with
constant statistics given in the spec (`mean: [...]`, `variance: [...]`: ConvNeXt's and
EfficientNetV2's ImageNet statistics), which are part of the computation and no parameters."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ...spec.errors import ShapeError
from . import OpDef, fmt, register
from .attr_types import CHANNELS, FINITE
from .layer_norm import channels_of, matching
from .schema_types import NUMBER


register(OpDef(
    "rescaling", doc="x * scale + offset, element-wise (Keras's Rescaling)",
    args={"scale": NUMBER, "offset": NUMBER}, required=("scale",), defaults={"offset": 0.0},
    attrs={"scale": FINITE, "offset": FINITE},
    resolve=lambda a, s: {"scale": float(a["scale"]), "offset": float(a["offset"])},
    infer=lambda a, s: list(s[0])))


@dataclass(frozen=True)
class Statistics:
    """The IR type of a constant per-channel statistic: null (held as state) or a list of
    finite numbers of at least `lo`."""
    lo: float = -math.inf

    def problem(self, value) -> str | None:
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            return f"expected null or a list of numbers, found {value!r:.40}"
        for v in value:
            if isinstance(v, bool) or not isinstance(v, float) or not math.isfinite(v):
                return f"expected finite numbers, found {v!r:.40}"
            if v < self.lo:
                return f"{v} is below {self.lo}"
        return None


# One number for every channel, or one per channel (each may be an expression).
_STATISTIC = {"anyOf": [*NUMBER["anyOf"], {"type": "array", "items": NUMBER, "minItems": 1}]}


def _normalization_resolve(args, in_shapes):
    c = channels_of(in_shapes[0], "normalization")
    given = {k: args.get(k) for k in ("mean", "variance")}
    if (given["mean"] is None) != (given["variance"] is None):
        missing = "variance" if given["variance"] is None else "mean"
        raise ShapeError(f"normalization: constant statistics need both mean and variance; "
                         f"'{missing}' is missing")
    out = {"num_features": c, "mean": None, "variance": None}
    for key, value in given.items():
        if value is None:
            continue
        if not isinstance(value, list):
            value = [value] * c
        if len(value) != c:
            raise ShapeError(f"normalization: '{key}' needs one number per channel ({c}), "
                             f"got {value!r:.60}")
        numbers = []
        for v in value:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ShapeError(f"normalization: '{key}' holds {v!r:.40}, not a finite number")
            if key == "variance" and v < 0:
                raise ShapeError(f"normalization: a variance cannot be negative, got {v}")
            numbers.append(float(v))
        out[key] = numbers
    return out


def _normalization_infer(attrs, in_shapes):
    shape = matching("num_features", "normalization")(attrs, in_shapes)
    for key in ("mean", "variance"):
        if attrs[key] is not None and len(attrs[key]) != attrs["num_features"]:
            raise ShapeError(f"normalization: '{key}' holds {len(attrs[key])} values for "
                             f"{fmt(in_shapes[0])}")
    if (attrs["mean"] is None) != (attrs["variance"] is None):
        raise ShapeError("normalization: mean and variance are both constants or both state")
    return shape


def _normalization_params(attrs, in_shapes):
    if attrs["mean"] is not None:  # constants: part of the computation, not parameters
        return []
    c = attrs["num_features"]
    return [("running_mean", [c], "norm-statistic"), ("running_var", [c], "norm-statistic"),
            ("count", [], "norm-statistic")]


def is_constant(attrs) -> bool:
    """Whether a normalization node's statistics are the constants its attributes hold."""
    return attrs["mean"] is not None


register(OpDef(
    "normalization",
    doc="(x - mean) / max(sqrt(variance), 1e-7) per channel (Keras's Normalization on the "
        "channel axis): with `mean` and `variance` given (one number, or one per channel), those "
        "constants (no parameters: Keras's Normalization(mean=..., variance=...)); without "
        "them, mean, variance and count held as statistics",
    args={"mean": _STATISTIC, "variance": _STATISTIC},
    attrs={"num_features": CHANNELS, "mean": Statistics(), "variance": Statistics(lo=0.0)},
    resolve=_normalization_resolve, infer=_normalization_infer, params=_normalization_params))
