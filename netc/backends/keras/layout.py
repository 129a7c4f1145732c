"""Canonical (IR, torch) weight layout <-> Keras variables, one rule per weighted op.

A rule maps each IR parameter to the Keras variable that holds it and the two transposes between
them. Keras variable names are the short ones Keras 3 gives (`kernel`, `gamma`, ...).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..base import UnsupportedOp
from .ops import is_depthwise


@dataclass(frozen=True)
class Slot:
    variable: str  # the Keras variable's name
    to_keras: Callable[[np.ndarray], np.ndarray]
    to_ir: Callable[[np.ndarray], np.ndarray]


def _same(a):
    return a


def _conv_rules(attrs) -> dict[str, Slot]:
    if is_depthwise(attrs):
        c = attrs["in_channels"]
        m = attrs["out_channels"] // c
        # torch (C*M, 1, H, W), output channel c*M + m  <->  Keras DepthwiseConv2D (H, W, C, M)
        kernel = Slot("kernel",
                      lambda w: w.reshape(c, m, *w.shape[2:]).transpose(2, 3, 0, 1),
                      lambda k: k.transpose(2, 3, 0, 1).reshape(c * m, 1, *k.shape[:2]))
    else:  # OIHW <-> HWIO (a grouped Conv2D keeps (H, W, in/groups, out), the same transpose)
        kernel = Slot("kernel", lambda w: w.transpose(2, 3, 1, 0), lambda k: k.transpose(3, 2, 0, 1))
    return {"weight": kernel, "bias": Slot("bias", _same, _same)}


def _linear_rules(attrs) -> dict[str, Slot]:
    return {"weight": Slot("kernel", lambda w: w.T, lambda k: k.T), "bias": Slot("bias", _same, _same)}


def _bn_rules(attrs) -> dict[str, Slot]:
    return {"weight": Slot("gamma", _same, _same), "bias": Slot("beta", _same, _same),
            "running_mean": Slot("moving_mean", _same, _same),
            "running_var": Slot("moving_variance", _same, _same)}


def _separable_rules(attrs) -> dict[str, Slot]:
    # depthwise: torch (C, 1, H, W) <-> Keras (H, W, C, 1); pointwise: OIHW <-> HWIO (1, 1, C, O)
    return {"depthwise.weight": Slot("depthwise_kernel", lambda w: w.transpose(2, 3, 0, 1),
                                     lambda k: k.transpose(2, 3, 0, 1)),
            "pointwise.weight": Slot("pointwise_kernel", lambda w: w.transpose(2, 3, 1, 0),
                                     lambda k: k.transpose(3, 2, 0, 1)),
            "pointwise.bias": Slot("bias", _same, _same)}


RULES = {"conv2d": _conv_rules, "separable_conv2d": _separable_rules, "linear": _linear_rules,
         "batchnorm": _bn_rules}

# What each Keras variable is, for counting the live model without consulting the IR.
VARIABLE_KINDS = {"kernel": "weight", "bias": "bias", "gamma": "norm-affine", "beta": "norm-affine",
                  "moving_mean": "norm-statistic", "moving_variance": "norm-statistic",
                  "depthwise_kernel": "weight", "pointwise_kernel": "weight"}


def rules_for(node) -> dict[str, Slot]:
    make = RULES.get(node.op)
    if make is None:
        raise UnsupportedOp(f"the keras backend has no weight layout for op '{node.op}' "
                            f"({node.name}), which has parameters")
    return make(node.attrs)


# The modern CNNs' weighted ops (netc/compiler/ops/layer_norm.py, layer_scale.py, preprocess.py).
def _layer_scale_rules(attrs) -> dict[str, Slot]:  # IR (C, 1, 1) <-> Keras (C,)
    return {"": Slot("kernel", lambda w: w.reshape(-1), lambda k: k.reshape(-1, 1, 1))}


def _normalization_rules(attrs) -> dict[str, Slot]:
    return {"running_mean": Slot("mean", _same, _same),
            "running_var": Slot("variance", _same, _same), "count": Slot("count", _same, _same)}


RULES.update({"layernorm": _bn_rules, "channel_linear": _linear_rules,
              "layer_scale": _layer_scale_rules, "normalization": _normalization_rules})
VARIABLE_KINDS.update({"mean": "norm-statistic", "variance": "norm-statistic",
                       "count": "norm-statistic"})

# Transposed convolution: torch (in, out, H, W) <-> Keras Conv2DTranspose (H, W, out, in).
RULES["conv_transpose2d"] = lambda attrs: {
    "weight": Slot("kernel", lambda w: w.transpose(2, 3, 1, 0), lambda k: k.transpose(3, 2, 0, 1)),
    "bias": Slot("bias", _same, _same)}
# The Vision Transformer's ops (netc/compiler/ops/tokens.py, attention.py): the class token and
# the position embedding are one variable each, shaped as the IR's; attention's projections are
# torch's (out, in) matrices, Keras's (in, out) kernels.
RULES["class_token"] = lambda attrs: {"": Slot("class_token", _same, _same)}
RULES["pos_embedding"] = lambda attrs: {"": Slot("pos_embedding", _same, _same)}
RULES["self_attention"] = lambda attrs: {
    "in_proj_weight": Slot("in_proj_kernel", lambda w: w.T, lambda k: k.T),
    "in_proj_bias": Slot("in_proj_bias", _same, _same),
    "out_proj.weight": Slot("out_proj_kernel", lambda w: w.T, lambda k: k.T),
    "out_proj.bias": Slot("out_proj_bias", _same, _same)}
VARIABLE_KINDS.update({"class_token": "weight", "pos_embedding": "weight",
                       "in_proj_kernel": "weight", "out_proj_kernel": "weight",
                       "in_proj_bias": "bias", "out_proj_bias": "bias"})
# Swin's window attention (netc/compiler/ops/windows.py): its projections as attention's above,
# the relative position bias table as it is.
RULES["window_attention"] = lambda attrs: {
    "qkv.weight": Slot("qkv_kernel", lambda w: w.T, lambda k: k.T),
    "qkv.bias": Slot("qkv_bias", _same, _same),
    "proj.weight": Slot("proj_kernel", lambda w: w.T, lambda k: k.T),
    "proj.bias": Slot("proj_bias", _same, _same),
    "relative_position_bias_table": Slot("relative_position_bias_table", _same, _same)}
VARIABLE_KINDS.update({"qkv_kernel": "weight", "proj_kernel": "weight", "qkv_bias": "bias",
                       "proj_bias": "bias", "relative_position_bias_table": "weight"})
