"""Keras emitters for the dense-prediction ops, merged into `ops.EMITTERS`: transposed
convolution, upsampling, resizing to another node's size and centre cropping, channels-last.

Keras resizes bilinearly with half-pixel centres, which is torch's align_corners=False; it has no
align_corners=True, and its nearest neighbour rounds half-pixel centres where torch floors, which
agree only for whole upsampling factors. Those cases are refused, never approximated.
"""
from __future__ import annotations

from ..base import UnsupportedOp
from ..render import lit


def _call(ctor: str, ctx, src: str) -> str:
    head = ctor[:-1]
    return f'{head}{"" if head.endswith("(") else ", "}name={lit(ctx.name)})({src})'


def conv_transpose2d(n, ctx) -> str:
    at = n.attrs
    if any(at["padding"]):
        raise UnsupportedOp(f"{n.name}: Keras's Conv2DTranspose cannot crop torch's padding "
                            f"{at['padding']} from its output")
    return _call(f"layers.Conv2DTranspose({lit(at['out_channels'])}, {lit(at['kernel'])}, "
                 f"strides={lit(at['stride'])}, padding=\"valid\", "
                 f"output_padding={lit(at['output_padding'])}, use_bias={lit(at['bias'])})",
                 ctx, ctx.args[0])


def _check_bilinear(n):
    if n.attrs["mode"] == "bilinear" and n.attrs["align_corners"]:
        raise UnsupportedOp(f"{n.name}: Keras resizes with half-pixel centres "
                            "(torch's align_corners=False) and cannot align corners")


def upsample(n, ctx) -> str:
    _check_bilinear(n)
    return _call(f"layers.UpSampling2D({lit(n.attrs['scale'])}, "
                 f"interpolation={lit(n.attrs['mode'])})", ctx, ctx.args[0])


def resize(n, ctx) -> str:
    _check_bilinear(n)
    (h, w), (oh, ow) = ctx.in_shape[1:], n.shape[1:]
    if n.attrs["mode"] == "bilinear":
        return _call(f"layers.Resizing({lit(oh)}, {lit(ow)}, interpolation=\"bilinear\")",
                     ctx, ctx.args[0])
    if oh % h or ow % w:
        raise UnsupportedOp(f"{n.name}: Keras's nearest-neighbour resize matches torch's only "
                            f"for whole upsampling factors, not {h}x{w} -> {oh}x{ow}")
    return _call(f"layers.UpSampling2D({lit((oh // h, ow // w))}, interpolation=\"nearest\")",
                 ctx, ctx.args[0])


def crop(n, ctx) -> str:
    (h, w), (oh, ow) = ctx.in_shape[1:], n.shape[1:]
    top, left = n.attrs["offset"]
    sides = ((top, h - oh - top), (left, w - ow - left))
    return _call(f"layers.Cropping2D({lit(sides)})", ctx, ctx.args[0])


EMITTERS = {"conv_transpose2d": conv_transpose2d, "upsample": upsample, "resize": resize,
            "crop": crop}
