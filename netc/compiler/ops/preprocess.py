"""Input preprocessing that Keras applications build into the model: `Rescaling` (x * scale +
offset) and `Normalization` ((x - mean) / max(sqrt(variance), 1e-7) per channel, with the mean,
variance and the sample count Keras keeps as non-trainable state; named as batch norm names
its statistics, running_mean and running_var)."""
from __future__ import annotations

from . import OpDef, register
from .layer_norm import channels_of, matching
from .attr_types import CHANNELS, FINITE
from .schema_types import NUMBER


register(OpDef(
    "rescaling", doc="x * scale + offset, element-wise (Keras's Rescaling)",
    args={"scale": NUMBER, "offset": NUMBER}, required=("scale",), defaults={"offset": 0.0},
    attrs={"scale": FINITE, "offset": FINITE},
    resolve=lambda a, s: {"scale": float(a["scale"]), "offset": float(a["offset"])},
    infer=lambda a, s: list(s[0])))


def _normalization_params(attrs, in_shapes):
    c = attrs["num_features"]
    return [("running_mean", [c], "norm-statistic"), ("running_var", [c], "norm-statistic"),
            ("count", [], "norm-statistic")]


register(OpDef(
    "normalization",
    doc="(x - mean) / max(sqrt(variance), 1e-7) per channel, with mean, variance and count held "
        "as statistics (Keras's Normalization on the channel axis)",
    args={}, attrs={"num_features": CHANNELS},
    resolve=lambda a, s: {"num_features": channels_of(s[0], "normalization")},
    infer=matching("num_features", "normalization"), params=_normalization_params))
