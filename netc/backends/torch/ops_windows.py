"""Emitters for Swin's ops (netc/compiler/ops/windows.py), merged into `ops.EMITTERS`, and the
module class they need, merged into `ops.HELPERS`. The IR's maps are channels-first; Swin's
attention works on channels-last windows, so the module permutes in and out."""
from __future__ import annotations

from ..render import lit


def window_attention(n, m, a, inplace):
    at = n.attrs
    return (f"ShiftedWindowAttention({lit(at['dim'])}, {lit(at['window'])}, {lit(at['shift'])}, "
            f"{lit(at['num_heads'])}, attention_dropout={lit(at['attention_dropout'])}, "
            f"dropout={lit(at['dropout'])})", f"{m}({a[0]})")


def patch_merge(n, m, a, inplace):
    return "PatchMerge()", f"{m}({a[0]})"


EMITTERS = {"window_attention": window_attention, "patch_merge": patch_merge}

# Buffers the emitted module computes from the op's attributes, which torchvision's state_dict
# holds but the IR does not (no weight file needs to carry them).
FIXED_BUFFERS = {"window_attention": ("relative_position_index",)}

HELPERS = {
    "PatchMerge": '''
class PatchMerge(nn.Module):
    """Swin's patch merging on a (batch, C, H, W) map: each 2x2 neighbourhood's features stacked
    (top-left, bottom-left, top-right, bottom-right), an odd side padded with zeros."""

    def forward(self, x):
        x = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        return torch.cat([x[..., 0::2, 0::2], x[..., 1::2, 0::2], x[..., 0::2, 1::2],
                          x[..., 1::2, 1::2]], 1)
''',
    "ShiftedWindowAttention": '''
class ShiftedWindowAttention(nn.Module):
    """Swin's window attention (Liu et al. 2021; torchvision's ShiftedWindowAttention) on a
    (batch, C, H, W) map: padded to whole windows, cyclically shifted by `shift_size`, attention
    inside each window with a learned relative position bias (and, when shifted, a mask that
    keeps regions that were not neighbours apart), shifted back and cropped."""

    def __init__(self, dim, window_size, shift_size, num_heads, attention_dropout, dropout):
        super().__init__()
        self.window_size, self.shift_size, self.num_heads = window_size, shift_size, num_heads
        self.attention_dropout, self.dropout = attention_dropout, dropout
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        wh, ww = window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij"))
        coords = torch.flatten(coords, 1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        relative[:, :, 0] += wh - 1
        relative[:, :, 1] += ww - 1
        relative[:, :, 0] *= 2 * ww - 1
        self.register_buffer("relative_position_index", relative.sum(-1).flatten())

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        b, h, w, c = x.shape
        (wh, ww), heads = self.window_size, self.num_heads
        x = F.pad(x, (0, 0, 0, (ww - w % ww) % ww, 0, (wh - h % wh) % wh))
        ph, pw = x.shape[1], x.shape[2]
        sh, sw = [0 if k >= p else s for k, p, s in zip((wh, ww), (ph, pw), self.shift_size)]
        if sh or sw:
            x = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))
        windows = (ph // wh) * (pw // ww)
        x = x.view(b, ph // wh, wh, pw // ww, ww, c).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(b * windows, wh * ww, c)
        qkv = self.qkv(x).reshape(x.size(0), x.size(1), 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (c // heads) ** -0.5, qkv[1], qkv[2]
        attn = q.matmul(k.transpose(-2, -1))
        n = wh * ww
        bias = self.relative_position_bias_table[self.relative_position_index]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if sh or sw:
            regions = x.new_zeros((ph, pw))
            count = 0
            for rows in ((0, -wh), (-wh, -sh), (-sh, None)):
                for cols in ((0, -ww), (-ww, -sw), (-sw, None)):
                    regions[rows[0]:rows[1], cols[0]:cols[1]] = count
                    count += 1
            regions = regions.view(ph // wh, wh, pw // ww, ww).permute(0, 2, 1, 3)
            regions = regions.reshape(windows, n)
            mask = regions.unsqueeze(1) - regions.unsqueeze(2)
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
            attn = attn.view(b, windows, heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, heads, n, n)
        attn = F.dropout(F.softmax(attn, dim=-1), p=self.attention_dropout, training=self.training)
        x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), n, c)
        x = F.dropout(self.proj(x), p=self.dropout, training=self.training)
        x = x.view(b, ph // wh, pw // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
        if sh or sw:
            x = torch.roll(x, shifts=(sh, sw), dims=(1, 2))
        return x[:, :h, :w, :].permute(0, 3, 1, 2)
''',
}
