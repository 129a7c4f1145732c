"""Emitters for the token ops of the Vision Transformer (netc/compiler/ops/tokens.py,
attention.py), merged into `ops.EMITTERS`; same signature as there. A token sequence is a
(batch, tokens, features) tensor, as torchvision's VisionTransformer holds it."""
from __future__ import annotations

from ..render import lit


def tokens(n, m, a, inplace):
    return None, f"{a[0]}.flatten(2).transpose(1, 2)"


def class_token(n, m, a, inplace):
    return (f"nn.Parameter(torch.zeros(1, 1, {lit(n.attrs['features'])}))",
            f"torch.cat([{m}.expand({a[0]}.shape[0], -1, -1), {a[0]}], dim=1)")


def pos_embedding(n, m, a, inplace):
    at = n.attrs
    return (f"nn.Parameter(torch.empty(1, {lit(at['count'])}, {lit(at['features'])})"
            f".normal_(std=0.02))", f"{a[0]} + {m}")


def self_attention(n, m, a, inplace):
    at = n.attrs
    return (f"nn.MultiheadAttention({lit(at['embed_dim'])}, {lit(at['num_heads'])}, "
            f"dropout={lit(at['dropout'])}, batch_first=True)",
            f"{m}({a[0]}, {a[0]}, {a[0]}, need_weights=False)[0]")


EMITTERS = {
    "tokens": tokens, "class_token": class_token, "pos_embedding": pos_embedding,
    "select_token": lambda n, m, a, i: (None, f"{a[0]}[:, {lit(n.attrs['index'])}]"),
    "self_attention": self_attention,
}
