"""Keras emitters for Swin's ops (netc/compiler/ops/windows.py), merged into `ops.EMITTERS`, and
the layer classes they need, merged into `helpers.HELPERS`. Keras maps are channels-last, as
Swin's windows are, so no axes move."""
from __future__ import annotations

from ..render import lit
from .init import initializers
from .ops import _call, _layer


def window_attention(n, ctx):
    ctx.helpers.add("WindowAttention")
    at = n.attrs
    return _call(f"WindowAttention(window_size={lit(at['window'])}, shift_size={lit(at['shift'])}, "
                 f"num_heads={lit(at['num_heads'])}, "
                 f"attention_dropout={lit(at['attention_dropout'])}, "
                 f"dropout={lit(at['dropout'])}{initializers(n)})", ctx, *ctx.args)


EMITTERS = {"window_attention": window_attention,
            "patch_merge": _layer("PatchMerge()", "PatchMerge")}

HELPERS = {
    "PatchMerge": '''
class PatchMerge(keras.layers.Layer):
    """Swin's patch merging: each 2x2 neighbourhood's features stacked (top-left, bottom-left,
    top-right, bottom-right), an odd side padded with zeros."""

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        x = ops.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
        return ops.concatenate([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2],
                                x[:, 1::2, 1::2]], axis=-1)
''',
    "WindowAttention": '''
class WindowAttention(keras.layers.Layer):
    """Swin's window attention (Liu et al. 2021), as torchvision computes it: the map padded to
    whole windows and cyclically shifted, attention inside each window with a learned relative
    position bias (and, when shifted, a mask of -100 between regions that were not neighbours),
    shifted back and cropped."""

    def __init__(self, window_size, shift_size, num_heads, attention_dropout, dropout,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.window_size, self.shift_size, self.num_heads = window_size, shift_size, num_heads
        self.attention_dropout, self.dropout = attention_dropout, dropout
        self.attention_drop = keras.layers.Dropout(attention_dropout)
        self.output_drop = keras.layers.Dropout(dropout)

    def build(self, input_shape):
        _, h, w, c = input_shape
        wh, ww = self.window_size
        kernel, bias = self.kernel_initializer, self.bias_initializer
        self.qkv_kernel = self.add_weight(shape=(c, 3 * c), initializer=kernel, name="qkv_kernel")
        self.qkv_bias = self.add_weight(shape=(3 * c,), initializer=bias, name="qkv_bias")
        self.proj_kernel = self.add_weight(shape=(c, c), initializer=kernel, name="proj_kernel")
        self.proj_bias = self.add_weight(shape=(c,), initializer=bias, name="proj_bias")
        self.relative_position_bias_table = self.add_weight(
            shape=((2 * wh - 1) * (2 * ww - 1), self.num_heads),
            # torchvision's trunc_normal_(std=0.02) cuts at +-2, 100 standard deviations out: a
            # normal (Keras's TruncatedNormal would cut at two, narrowing it by 12%)
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="relative_position_bias_table")
        cells = [(i, j) for i in range(wh) for j in range(ww)]
        self.index = [(a - c + wh - 1) * (2 * ww - 1) + (b - d + ww - 1)
                      for a, b in cells for c, d in cells]
        self.padded = (h + (wh - h % wh) % wh, w + (ww - w % ww) % ww)
        self.shift = [0 if k >= p else s
                      for k, p, s in zip(self.window_size, self.padded, self.shift_size)]
        self.mask = self._mask() if any(self.shift) else None

    def _mask(self):
        """-100 between positions of one window that came from different regions of the shift."""
        (ph, pw), (wh, ww), (sh, sw) = self.padded, self.window_size, self.shift
        def region(i, n, k, s):
            return 0 if i < n - k else (1 if i < n - s else 2)
        labels = [[3 * region(i, ph, wh, sh) + region(j, pw, ww, sw) for j in range(pw)]
                  for i in range(ph)]
        masks = []
        for r in range(0, ph, wh):
            for q in range(0, pw, ww):
                cell = [labels[r + i][q + j] for i in range(wh) for j in range(ww)]
                masks.append([[0.0 if a == b else -100.0 for b in cell] for a in cell])
        return ops.convert_to_tensor(masks, dtype=self.compute_dtype)

    def call(self, x, training=None):
        _, h, w, c = x.shape
        (wh, ww), (ph, pw), (sh, sw) = self.window_size, self.padded, self.shift
        heads, n = self.num_heads, wh * ww
        windows = (ph // wh) * (pw // ww)
        x = ops.pad(x, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)))
        if sh or sw:
            x = ops.roll(x, shift=(-sh, -sw), axis=(1, 2))
        x = ops.reshape(x, (-1, ph // wh, wh, pw // ww, ww, c))
        x = ops.reshape(ops.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, n, c))
        qkv = ops.matmul(x, self.qkv_kernel) + self.qkv_bias
        qkv = ops.transpose(ops.reshape(qkv, (-1, n, 3, heads, c // heads)), (2, 0, 3, 1, 4))
        q, k, v = qkv[0] * float(c // heads) ** -0.5, qkv[1], qkv[2]
        attn = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))
        bias = ops.take(self.relative_position_bias_table, self.index, axis=0)
        attn = attn + ops.expand_dims(ops.transpose(ops.reshape(bias, (n, n, heads)), (2, 0, 1)), 0)
        if self.mask is not None:
            attn = ops.reshape(attn, (-1, windows, heads, n, n)) + self.mask[None, :, None]
            attn = ops.reshape(attn, (-1, heads, n, n))
        attn = self.attention_drop(ops.softmax(attn, axis=-1), training=training)
        x = ops.reshape(ops.transpose(ops.matmul(attn, v), (0, 2, 1, 3)), (-1, n, c))
        x = self.output_drop(ops.matmul(x, self.proj_kernel) + self.proj_bias, training=training)
        x = ops.reshape(x, (-1, ph // wh, pw // ww, wh, ww, c))
        x = ops.reshape(ops.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, ph, pw, c))
        if sh or sw:
            x = ops.roll(x, shift=(sh, sw), axis=(1, 2))
        return x[:, :h, :w, :]
''',
}
