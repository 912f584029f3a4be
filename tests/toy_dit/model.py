"""ToyDiT: a latent [C, F, H, W] as F*H*W tokens, a stack of attention + MLP blocks conditioned on time and text.

The model knows nothing of caching or profiling; its only concession is the profiling seam, `observe`, which its
attention calls (when set from outside) with the q and k its kernel receives.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SelfAttention(nn.Module):
    observe = None  # profiling seam: observe(q, k, k_lens, joint_len), set by delta_cache's AttentionProfiler

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).unbind(2)  # [B, L, H, Dh] each
        if self.observe is not None:
            self.observe(q, k, None, 0)
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.out(o.transpose(1, 2).flatten(2))


class Block(nn.Module):
    """x -> x + attn(modulated norm x) -> x + mlp(norm x); `cond` [B, D] shifts and scales the attention input."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.modulation = nn.Linear(dim, 2 * dim)
        self.self_attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        shift, scale = self.modulation(cond)[:, None].chunk(2, dim=-1)
        x = x + self.self_attn(self.norm1(x) * (1 + scale) + shift)
        return x + self.mlp(self.norm2(x))


class ToyDiT(nn.Module):
    def __init__(self, channels: int = 4, dim: int = 32, heads: int = 2, depth: int = 6, text_dim: int = 16):
        super().__init__()
        self.dim = dim
        self.embed = nn.Linear(channels, dim)
        self.time = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.text = nn.Linear(text_dim, dim)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, channels)

    def forward(self, x: Tensor, t: Tensor, context: Tensor) -> Tensor:
        """x [B, C, F, H, W], t [B] in [0, 1000], context [B, text_dim] -> velocity [B, C, F, H, W]."""
        b, c, *grid = x.shape
        h = self.embed(x.flatten(2).transpose(1, 2))  # [B, F*H*W, D]
        half = self.dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, device=x.device) / half)
        angles = t[:, None].float() * freqs
        cond = self.time(torch.cat([angles.cos(), angles.sin()], dim=-1)) + self.text(context)
        for block in self.blocks:
            h = block(h, cond)
        return self.head(self.norm(h)).transpose(1, 2).reshape(b, c, *grid)
