"""3-D rotary position tables of HunyuanVideo (real cos/sin form, theta 256, axes t/h/w = 16/56/56).

Upstream names: `get_nd_rotary_pos_embed`, `get_1d_rotary_pos_embed`. Tables cover image tokens only, in
(t, h, w) row-major order; text tokens are never rotated.
"""

from __future__ import annotations

import torch
from torch import Tensor


def get_1d_rotary_pos_embed(dim: int, pos: Tensor, theta: float = 256.0) -> tuple[Tensor, Tensor]:
    """cos, sin [len(pos), dim] fp32, each frequency repeated twice (interleaved pairs)."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
    angles = torch.outer(pos.float(), freqs)  # [L, dim/2]
    return angles.cos().repeat_interleave(2, dim=1), angles.sin().repeat_interleave(2, dim=1)


def get_nd_rotary_pos_embed(
    rope_dim_list: list[int] | tuple[int, ...], sizes: tuple[int, ...], theta: float = 256.0
) -> tuple[Tensor, Tensor]:
    """cos, sin [prod(sizes), sum(rope_dim_list)] fp32 for a (t, h, w) grid of `sizes`."""
    if len(rope_dim_list) != len(sizes):
        raise ValueError(f"rope_dim_list {rope_dim_list} and grid {sizes} have different ranks")
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float32) for n in sizes], indexing="ij")
    tables = [get_1d_rotary_pos_embed(d, a.reshape(-1), theta) for d, a in zip(rope_dim_list, axes, strict=True)]
    return torch.cat([c for c, _ in tables], dim=1), torch.cat([s for _, s in tables], dim=1)


def rope_grid(latent_thw: tuple[int, int, int], patch_size: tuple[int, int, int]) -> tuple[int, int, int]:
    """Token grid (T, H/2, W/2) of a latent (T, H, W) after patchify."""
    return tuple(n // p for n, p in zip(latent_thw, patch_size, strict=True))
