"""Small layers of HunyuanVideo: embedders, norms, MLP, modulation and the core equations.

Module and parameter names follow upstream (`embed_layers.py`, `mlp_layers.py`, `norm_layers.py`,
`modulate_layers.py`, `activation_layers.py`) so that the official state_dict keys load unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

# ---------------------------------------------------------------------------------------------------
# Core equations


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """x [B, L, D] with per-sample shift/scale [B, D]."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def apply_gate(x: Tensor, gate: Tensor) -> Tensor:
    return x * gate.unsqueeze(1)


def rotate_half(x: Tensor) -> Tensor:
    """Adjacent pairs (a, b) -> (-b, a) along the last dim."""
    a, b = x.float().unflatten(-1, (-1, 2)).unbind(-1)
    return torch.stack([-b, a], dim=-1).flatten(-2)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate x [B, L, H, Dh] by tables [L, Dh]; computed in fp32 and cast back, as upstream."""
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    return (x.float() * cos + rotate_half(x) * sin).type_as(x)


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoid [B, dim] of fp32 timesteps, cos half first."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


@dataclass
class Modulation:
    """One (shift, scale, gate) triple; each [B, D]. Chunk order of every modulation Linear: shift, scale, gate."""

    shift: Tensor
    scale: Tensor
    gate: Tensor


# ---------------------------------------------------------------------------------------------------
# Layers


class RMSNorm(nn.Module):
    """RMSNorm over the last dim (per head when applied to [B, L, H, Dh]), computed in fp32."""

    def __init__(self, dim: int, elementwise_affine: bool = True, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        out = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x)
        return out * self.weight if hasattr(self, "weight") else out


def qk_norm_layer(enabled: bool, kind: str, head_dim: int) -> nn.Module:
    if not enabled:
        return nn.Identity()
    if kind == "rms":
        return RMSNorm(head_dim, elementwise_affine=True, eps=1e-6)
    if kind == "layer":
        return nn.LayerNorm(head_dim, elementwise_affine=True, eps=1e-6)
    raise ValueError(f"qk_norm_type must be 'rms' or 'layer', got {kind!r}")


def activation(kind: str) -> nn.Module:
    if kind == "gelu_tanh":
        return nn.GELU(approximate="tanh")
    if kind == "silu":
        return nn.SiLU()
    if kind == "gelu":
        return nn.GELU()
    raise ValueError(f"activation must be one of gelu_tanh, silu, gelu; got {kind!r}")


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int, act: str, bias: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, bias=bias)
        self.act = activation(act)
        self.fc2 = nn.Linear(hidden, dim, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ModulateDiT(nn.Module):
    """SiLU then Linear(D, factor * D): the modulation vectors of a block."""

    def __init__(self, hidden_size: int, factor: int):
        super().__init__()
        self.factor = factor
        self.act = nn.SiLU()
        self.linear = nn.Linear(hidden_size, factor * hidden_size, bias=True)

    def forward(self, vec: Tensor) -> list[Modulation]:
        chunks = self.linear(self.act(vec)).chunk(self.factor, dim=-1)
        return [Modulation(*chunks[i : i + 3]) for i in range(0, len(chunks), 3)]


class TimestepEmbedder(nn.Module):
    """Sinusoid (256 frequencies) -> Linear -> act -> Linear; keys `mlp.0`, `mlp.2`."""

    def __init__(self, hidden_size: int, act: str = "silu", frequency_embedding_size: int = 256):
        super().__init__()
        self.frequency_embedding_size = frequency_embedding_size
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size, bias=True),
            activation(act),
            nn.Linear(hidden_size, hidden_size, bias=True),
        )

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(timestep_embedding(t, self.frequency_embedding_size).to(self.mlp[0].weight.dtype))


class MLPEmbedder(nn.Module):
    """`vector_in`: the pooled CLIP vector -> hidden size."""

    def __init__(self, in_dim: int, hidden_dim: int):
        super().__init__()
        self.in_layer = nn.Linear(in_dim, hidden_dim, bias=True)
        self.silu = nn.SiLU()
        self.out_layer = nn.Linear(hidden_dim, hidden_dim, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.out_layer(self.silu(self.in_layer(x)))


class TextProjection(nn.Module):
    """Linear -> SiLU -> Linear; keys `linear_1`, `linear_2`."""

    def __init__(self, in_channels: int, hidden_size: int):
        super().__init__()
        self.linear_1 = nn.Linear(in_channels, hidden_size, bias=True)
        self.act_1 = nn.SiLU()
        self.linear_2 = nn.Linear(hidden_size, hidden_size, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear_2(self.act_1(self.linear_1(x)))


class PatchEmbed(nn.Module):
    """Conv3d with kernel = stride = patch; [B, C, T, H, W] -> [B, T*H/2*W/2, D] in (t, h, w) order."""

    def __init__(self, patch_size: tuple[int, int, int], in_channels: int, hidden_size: int):
        super().__init__()
        self.proj = nn.Conv3d(in_channels, hidden_size, kernel_size=patch_size, stride=patch_size, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)
