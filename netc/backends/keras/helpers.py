"""Layer classes the emitted Keras source defines when a node needs one: each reproduces a torch
semantic exactly, using only `keras.ops`, so the model runs on every Keras backend."""

HELPERS = {
    "MaxPool2DPadded": '''
class MaxPool2DPadded(keras.layers.Layer):
    """Max pooling over -inf padding, as torch pads: a padded cell never wins the max.
    `padding` also holds the bottom/right overhang of ceil_mode windows."""

    def __init__(self, pool_size, strides, padding, **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides, self.pads = pool_size, strides, padding

    def call(self, x):
        x = ops.pad(x, ((0, 0), *self.pads, (0, 0)), constant_values=float("-inf"))
        return ops.max_pool(x, self.pool_size, self.strides, padding="valid")
''',
    "AvgPool2DTorch": '''
class AvgPool2DTorch(keras.layers.Layer):
    """torch's avg_pool2d: zero padding, and each window divided by torch's divisor: the window
    clipped to the padded input (count_include_pad) or to the real input (not), never the
    ceil_mode overhang (`extra`, bottom/right)."""

    def __init__(self, pool_size, strides, padding, extra, count_include_pad, **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides, self.pads = pool_size, strides, padding
        self.extra, self.count_include_pad = extra, count_include_pad

    def build(self, input_shape):
        dims = [self._divisors(input_shape[1 + a], a) for a in (0, 1)]
        area = self.pool_size[0] * self.pool_size[1]
        scale = [[[area / (dh * dw)] for dw in dims[1]] for dh in dims[0]]
        self.scale = ops.convert_to_tensor([scale], dtype=self.compute_dtype)

    def _divisors(self, n, axis):
        (before, after), k, s = self.pads[axis], self.pool_size[axis], self.strides[axis]
        out = (n + before + after + self.extra[axis] - k) // s + 1
        sizes = []
        for i in range(out):
            start, end = i * s - before, min(i * s - before + k, n + after)
            sizes.append(end - start if self.count_include_pad else min(end, n) - max(start, 0))
        return sizes

    def call(self, x):
        (t, b), (l, r) = self.pads
        x = ops.pad(x, ((0, 0), (t, b + self.extra[0]), (l, r + self.extra[1]), (0, 0)))
        return ops.average_pool(x, self.pool_size, self.strides, padding="valid") * self.scale
''',
    "AdaptiveAvgPool2D": '''
class AdaptiveAvgPool2D(keras.layers.Layer):
    """torch's adaptive_avg_pool2d: output cell i averages input rows [floor(i*H/o), ceil((i+1)*H/o))."""

    def __init__(self, rows, cols, **kwargs):
        super().__init__(**kwargs)
        self.rows, self.cols = rows, cols

    def call(self, x):
        x = ops.concatenate([ops.mean(x[:, a:b], axis=1, keepdims=True) for a, b in self.rows], 1)
        return ops.concatenate([ops.mean(x[:, :, a:b], axis=2, keepdims=True) for a, b in self.cols], 2)
''',
    "FlattenCHW": '''
class FlattenCHW(keras.layers.Layer):
    """Flatten in torch's C, H, W order, so the Dense that follows takes torch's weights."""

    def call(self, x):
        return ops.reshape(ops.transpose(x, (0, 3, 1, 2)), (-1, x.shape[1] * x.shape[2] * x.shape[3]))
''',
    "ChannelPad": '''
class ChannelPad(keras.layers.Layer):
    """Zero-padding shortcut (He et al. 2016, option A): subsample by stride, pad channels."""

    def __init__(self, stride, before, after, **kwargs):
        super().__init__(**kwargs)
        self.stride, self.before, self.after = stride, before, after

    def call(self, x):
        s = self.stride
        x = x[:, ::s, ::s, :] if s > 1 else x
        return ops.pad(x, ((0, 0), (0, 0), (0, 0), (self.before, self.after)))
''',
    "GatedSum": '''
class GatedSum(keras.layers.Layer):
    """Highway (Srivastava et al. 2015): h * t + x * (1 - t) for inputs [h, t, x]."""

    def call(self, inputs):
        h, t, x = inputs
        return h * t + x * (1.0 - t)
''',
    "DropPath": '''
class DropPath(keras.layers.Layer):
    """Stochastic depth (Huang et al. 2016): in training, drop the residual branch of each sample
    with probability p. scale='test' keeps the paper's rule (multiply by 1 - p at test time);
    scale='train' divides by 1 - p in training instead."""

    def __init__(self, p, scale, **kwargs):
        super().__init__(**kwargs)
        self.p, self.scale = p, scale
        self.seed_generator = keras.random.SeedGenerator()

    def call(self, x, training=False):
        keep = 1.0 - self.p
        if not training:
            return x * keep if self.scale == "test" else x
        shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        mask = ops.cast(keras.random.uniform(shape, seed=self.seed_generator) < keep, x.dtype)
        return x * mask if self.scale == "test" else x * mask / keep
''',
}
