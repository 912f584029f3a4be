"""The text token refiner (`txt_in`): two self-attention blocks over the LLM states, conditioned on the timestep
and on the masked mean of the text. Upstream names: `SingleTokenRefiner`, `IndividualTokenRefiner(Block)`.

Shapes: B batch, T text tokens, D hidden size, H heads, Dh head dim.
"""

from __future__ import annotations

import torch.nn as nn
from einops import rearrange
from torch import Tensor

from .attention import attention
from .layers import MLP, TextProjection, TimestepEmbedder, apply_gate


class IndividualTokenRefinerBlock(nn.Module):
    def __init__(self, hidden_size: int, heads_num: int, mlp_width_ratio: float = 4.0, qkv_bias: bool = True):
        super().__init__()
        self.heads_num = heads_num
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=True, eps=1e-6)
        self.self_attn_qkv = nn.Linear(hidden_size, 3 * hidden_size, bias=qkv_bias)
        self.self_attn_proj = nn.Linear(hidden_size, hidden_size, bias=qkv_bias)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=True, eps=1e-6)
        self.mlp = MLP(hidden_size, int(hidden_size * mlp_width_ratio), act="silu")
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size, bias=True))

    def forward(self, x: Tensor, c: Tensor, attn_mask: Tensor | None) -> Tensor:
        gate_msa, gate_mlp = self.adaLN_modulation(c).chunk(2, dim=-1)
        q, k, v = rearrange(self.self_attn_qkv(self.norm1(x)), "B T (K H D) -> K B T H D", K=3, H=self.heads_num)
        x = x + apply_gate(self.self_attn_proj(attention(q, k, v, attn_mask=attn_mask).flatten(2)), gate_msa)
        return x + apply_gate(self.mlp(self.norm2(x)), gate_mlp)


class IndividualTokenRefiner(nn.Module):
    def __init__(self, hidden_size: int, heads_num: int, depth: int, qkv_bias: bool = True):
        super().__init__()
        self.blocks = nn.ModuleList(
            [IndividualTokenRefinerBlock(hidden_size, heads_num, qkv_bias=qkv_bias) for _ in range(depth)]
        )

    def forward(self, x: Tensor, c: Tensor, mask: Tensor | None) -> Tensor:
        attn_mask = None
        if mask is not None:
            m = mask.to(x.device).bool()
            attn_mask = (m[:, None, :, None] & m[:, None, None, :]).clone()  # [B, 1, T, T]: both tokens valid
            attn_mask[..., 0] = True  # key 0 always allowed, so padded rows are never all-masked (no NaN)
        for block in self.blocks:
            x = block(x, c, attn_mask)
        return x


class SingleTokenRefiner(nn.Module):
    """LLM states [B, T, C_text] -> refined text tokens [B, T, D]."""

    def __init__(self, in_channels: int, hidden_size: int, heads_num: int, depth: int = 2, qkv_bias: bool = True):
        super().__init__()
        self.input_embedder = nn.Linear(in_channels, hidden_size, bias=True)
        self.t_embedder = TimestepEmbedder(hidden_size, act="silu")
        self.c_embedder = TextProjection(in_channels, hidden_size)
        self.individual_token_refiner = IndividualTokenRefiner(hidden_size, heads_num, depth, qkv_bias=qkv_bias)

    def forward(self, x: Tensor, t: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is None:
            pooled = x.mean(dim=1)
        else:
            m = mask.float().unsqueeze(-1)  # mean over valid tokens only, in fp32 as upstream
            pooled = ((x.float() * m).sum(dim=1) / m.sum(dim=1)).to(x.dtype)
        c = self.t_embedder(t) + self.c_embedder(pooled)
        return self.individual_token_refiner(self.input_embedder(x), c, mask)


__all__ = ["SingleTokenRefiner", "IndividualTokenRefiner", "IndividualTokenRefinerBlock"]
