"""Keras emitters for the token ops of the Vision Transformer (netc/compiler/ops/tokens.py,
attention.py), merged into `ops.EMITTERS`, and the layer classes they need, merged into
`helpers.HELPERS`. A token sequence is a (batch, tokens, features) tensor on both backends.

Self-attention is a layer of its own rather than keras.layers.MultiHeadAttention: that layer keeps
the stacked query/key/value projection that torch and the IR hold as one tensor
(`in_proj_weight`) in three variables, and the Keras backend maps each IR parameter to one
variable (layout.py)."""
from __future__ import annotations

from .ops import _layer

EMITTERS = {
    "tokens": _layer("layers.Reshape(({count}, {features}))"),  # row by row, as torch flattens
    "class_token": _layer("ClassToken()", "ClassToken"),
    "pos_embedding": _layer("PositionEmbedding()", "PositionEmbedding"),
    "select_token": _layer("SelectToken(index={index})", "SelectToken"),
    "self_attention": _layer("SelfAttention(num_heads={num_heads}, dropout={dropout})",
                             "SelfAttention"),
}

HELPERS = {
    "ClassToken": '''
class ClassToken(keras.layers.Layer):
    """Prepend a learned token (zeros at first) to each sequence (ViT's class token)."""

    def build(self, input_shape):
        self.class_token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="zeros",
                                           name="class_token")

    def call(self, x):
        token = ops.broadcast_to(self.class_token, (ops.shape(x)[0], 1, ops.shape(x)[2]))
        return ops.concatenate([ops.cast(token, x.dtype), x], axis=1)
''',
    "PositionEmbedding": '''
class PositionEmbedding(keras.layers.Layer):
    """Add a learned embedding per position (normal with std 0.02 at first), as ViT does."""

    def build(self, input_shape):
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.pos_embedding = self.add_weight(shape=(1, *input_shape[1:]), initializer=init,
                                             name="pos_embedding")

    def call(self, x):
        return x + ops.cast(self.pos_embedding, x.dtype)
''',
    "SelectToken": '''
class SelectToken(keras.layers.Layer):
    """One token's features: x[:, index]."""

    def __init__(self, index, **kwargs):
        super().__init__(**kwargs)
        self.index = index

    def call(self, x):
        return x[:, self.index]
''',
    "SelfAttention": '''
class SelfAttention(keras.layers.Layer):
    """torch's nn.MultiheadAttention(batch_first=True) attending a sequence to itself: queries,
    keys and values from one stacked projection, softmax(q k^T / sqrt(d)) v per head (dropout on
    the attention weights in training), then the output projection."""

    def __init__(self, num_heads, dropout, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.dropout = num_heads, dropout
        self.attention_dropout = keras.layers.Dropout(dropout)

    def build(self, input_shape):
        d = input_shape[-1]
        self.in_proj_kernel = self.add_weight(shape=(d, 3 * d), name="in_proj_kernel")
        self.in_proj_bias = self.add_weight(shape=(3 * d,), initializer="zeros",
                                            name="in_proj_bias")
        self.out_proj_kernel = self.add_weight(shape=(d, d), name="out_proj_kernel")
        self.out_proj_bias = self.add_weight(shape=(d,), initializer="zeros",
                                             name="out_proj_bias")

    def call(self, x, training=None):
        n, d = ops.shape(x)[1], x.shape[-1]
        heads = self.num_heads
        qkv = ops.matmul(x, self.in_proj_kernel) + self.in_proj_bias
        qkv = ops.transpose(ops.reshape(qkv, (-1, n, 3, heads, d // heads)), (2, 0, 3, 1, 4))
        q, k, v = qkv[0], qkv[1], qkv[2]  # (batch, heads, tokens, d / heads)
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / float(d // heads) ** 0.5
        weights = self.attention_dropout(ops.softmax(scores, axis=-1), training=training)
        out = ops.reshape(ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3)), (-1, n, d))
        return ops.matmul(out, self.out_proj_kernel) + self.out_proj_bias
''',
}
