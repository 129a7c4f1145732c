"""Torch emitters for the dense-prediction ops (transposed convolution, upsampling, resizing to
another node's size, centre cropping), merged into `ops.EMITTERS`; same signature as there.

Resizing and cropping read the reference node's size when the model runs, as torchvision's
segmentation heads do, so the emitted model takes other input sizes too.
"""
from __future__ import annotations

from ..render import lit


def conv_transpose2d(n, m, a, inplace):
    at = n.attrs
    ctor = (f"nn.ConvTranspose2d({lit(at['in_channels'])}, {lit(at['out_channels'])}, "
            f"kernel_size={lit(at['kernel'])}, stride={lit(at['stride'])}"
            + (f", padding={lit(at['padding'])}" if any(at["padding"]) else "")
            + (f", output_padding={lit(at['output_padding'])}" if any(at["output_padding"]) else "")
            + f", bias={lit(at['bias'])})")
    return ctor, f"{m}({a[0]})"


def _corners(at) -> str:
    return f", align_corners={lit(at['align_corners'])}" if at["mode"] == "bilinear" else ""


def upsample(n, m, a, inplace):
    at = n.attrs
    return None, (f"F.interpolate({a[0]}, scale_factor={lit(tuple(map(float, at['scale'])))}, "
                  f"mode={lit(at['mode'])}{_corners(at)})")


def resize(n, m, a, inplace):
    at = n.attrs
    return None, f"F.interpolate({a[0]}, size={a[1]}.shape[-2:], mode={lit(at['mode'])}{_corners(at)})"


def crop(n, m, a, inplace):
    return "CenterCrop()", f"{m}({a[0]}, {a[1]})"


EMITTERS = {"conv_transpose2d": conv_transpose2d, "upsample": upsample, "resize": resize,
            "crop": crop}

HELPERS = {
    "CenterCrop": '''
class CenterCrop(nn.Module):
    """The centre of x at like's height and width (U-Net's skips); an odd difference leaves the
    extra row or column at the bottom or right."""

    def forward(self, x, like):
        h, w = like.shape[-2:]
        top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
        return x[:, :, top:top + h, left:left + w]
''',
}
