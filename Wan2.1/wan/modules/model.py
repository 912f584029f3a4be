"""WanModel: the Wan2.1 diffusion transformer (text-to-video, image-to-video), with upstream's state_dict keys.

Written from the architecture description of Wan2.1 (Wan-Video/Wan2.1, `wan/modules/model.py`); module
names follow upstream so the official checkpoints load with strict=True.

Shape legend: B batch, L tokens (padded to seq_len), D dim, H heads, Dh head dim, C latent channels,
F/Hh/Ww latent frames/height/width, T text tokens (text_len).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from .attention import attention

__all__ = ["MODEL_TYPES", "WanModel", "sinusoidal_embedding_1d", "rope_params", "rope_table", "apply_rope"]


# ---------------------------------------------------------------------------------------------------
# Core equations


def sinusoidal_embedding_1d(dim: int, position: Tensor) -> Tensor:
    """Timestep sinusoid, cos half first, computed in float64 as upstream, returned as fp32."""
    half = dim // 2
    position = position.to(torch.float64)
    freqs = torch.pow(10000, -torch.arange(half, dtype=torch.float64, device=position.device) / half)
    angles = torch.outer(position, freqs)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1).float()


def rope_params(max_len: int, dim: int, theta: float = 10000.0) -> Tensor:
    """Complex128 rotations [max_len, dim // 2] for one axis; each axis uses its own `dim` in the exponent."""
    inv = 1.0 / torch.pow(theta, torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angles = torch.outer(torch.arange(max_len, dtype=torch.float64), inv)
    return torch.polar(torch.ones_like(angles), angles)


def rope_table(freqs: Tensor, grid_sizes: Tensor, seq_len: int, head_dim: int) -> Tensor:
    """Per-token rotations [B, seq_len, 1, Dh/2] (complex128); padding rows are 1 (identity).

    Precomputed once per forward so that every block only multiplies, and so that a sequence-parallel
    seam can shard the table with exactly the rule it uses for the tokens.
    """
    c = head_dim // 2
    ft, fh, fw = freqs.split([c - 2 * (c // 3), c // 3, c // 3], dim=1)  # t/h/w = 22/21/21 for Dh=128
    tables = []
    for f, h, w in grid_sizes.tolist():
        per_token = torch.cat(
            [
                ft[:f].view(f, 1, 1, -1).expand(f, h, w, -1),
                fh[:h].view(1, h, 1, -1).expand(f, h, w, -1),
                fw[:w].view(1, 1, w, -1).expand(f, h, w, -1),
            ],
            dim=-1,
        ).reshape(f * h * w, 1, c)
        pad = per_token.new_ones(seq_len - f * h * w, 1, c)
        tables.append(torch.cat([per_token, pad]))
    return torch.stack(tables)


def apply_rope(x: Tensor, table: Tensor) -> Tensor:
    """Rotate adjacent pairs (x[2k], x[2k+1]) of [B, L, H, Dh] in float64; returns fp32."""
    xc = torch.view_as_complex(x.to(torch.float64).unflatten(-1, (-1, 2)))  # [B, L, H, Dh/2]
    return torch.view_as_real(xc * table).flatten(-2).float()


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale) + shift


@contextmanager
def fp32_island(device: torch.device):
    """Turn autocast off so the enclosed Linears run in fp32, as upstream's `autocast(dtype=float32)`."""
    with torch.autocast(device_type=device.type, enabled=False):
        yield


@dataclass
class Modulation:
    """The six per-block modulation vectors, in upstream's chunk order; each [B, 1, D]."""

    shift_sa: Tensor
    scale_sa: Tensor
    gate_sa: Tensor
    shift_ffn: Tensor
    scale_ffn: Tensor
    gate_ffn: Tensor


# ---------------------------------------------------------------------------------------------------
# Layers


class WanRMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


class WanLayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32 and cast back to the input dtype."""

    def __init__(self, dim: int, eps: float = 1e-6, elementwise_affine: bool = False):
        super().__init__(dim, eps=eps, elementwise_affine=elementwise_affine)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.float()).type_as(x)


class WanSelfAttention(nn.Module):
    # Sequence-parallel group, set from outside by `wan.parallel.parallelize`; None on one device.
    sp = None
    # Profiling seam, set from outside by `delta_cache.AttentionProfiler`: observe(q, k, k_lens, joint_len).
    observe = None

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = True, eps: float = 1e-6):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)
        # RMSNorm spans all heads jointly (the full D), not per head.
        self.norm_q = WanRMSNorm(dim, eps=eps) if qk_norm else nn.Identity()
        self.norm_k = WanRMSNorm(dim, eps=eps) if qk_norm else nn.Identity()

    def forward(self, x: Tensor, seq_lens: Tensor | None, rope: Tensor) -> Tensor:
        q = self.norm_q(self.q(x)).unflatten(-1, (self.num_heads, self.head_dim))  # [B, L, H, Dh]
        k = self.norm_k(self.k(x)).unflatten(-1, (self.num_heads, self.head_dim))
        v = self.v(x).unflatten(-1, (self.num_heads, self.head_dim))
        q, k = apply_rope(q, rope), apply_rope(k, rope)
        if self.observe is not None:
            self.observe(q, k, seq_lens, 0)
        out = attention(q, k, v, k_lens=seq_lens, sp=self.sp)
        return self.o(out.flatten(2))  # [B, L, D]


class WanCrossAttention(WanSelfAttention):
    """Queries from the video tokens, keys/values from the text; no RoPE and no mask (upstream)."""

    def forward(self, x: Tensor, context: Tensor) -> Tensor:  # type: ignore[override]
        q = self.norm_q(self.q(x)).unflatten(-1, (self.num_heads, self.head_dim))
        k = self.norm_k(self.k(context)).unflatten(-1, (self.num_heads, self.head_dim))
        v = self.v(context).unflatten(-1, (self.num_heads, self.head_dim))
        return self.o(attention(q, k, v).flatten(2))


class WanI2VCrossAttention(WanCrossAttention):
    """Image-to-video: the same queries also attend to the CLIP image tokens, which lead the context, through
    their own k_img/v_img (no mask); the two outputs are summed before `o` (upstream)."""

    image_tokens = 257  # CLIP ViT-H/14 at 224 px: the class token and 16 x 16 patches

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = True, eps: float = 1e-6):
        super().__init__(dim, num_heads, qk_norm, eps)
        self.k_img = nn.Linear(dim, dim)
        self.v_img = nn.Linear(dim, dim)
        self.norm_k_img = WanRMSNorm(dim, eps=eps) if qk_norm else nn.Identity()

    def forward(self, x: Tensor, context: Tensor) -> Tensor:  # type: ignore[override]
        image, text = context[:, : self.image_tokens], context[:, self.image_tokens :]
        heads = (self.num_heads, self.head_dim)
        q = self.norm_q(self.q(x)).unflatten(-1, heads)
        k, v = self.norm_k(self.k(text)).unflatten(-1, heads), self.v(text).unflatten(-1, heads)
        k_img, v_img = self.norm_k_img(self.k_img(image)).unflatten(-1, heads), self.v_img(image).unflatten(-1, heads)
        return self.o((attention(q, k, v) + attention(q, k_img, v_img)).flatten(2))


class MLPProj(nn.Module):
    """CLIP image features [B, 257, image_dim] -> context tokens [B, 257, D] (upstream's `img_emb`)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.proj = nn.Sequential(
            nn.LayerNorm(in_dim),
            nn.Linear(in_dim, in_dim),
            nn.GELU(),
            nn.Linear(in_dim, out_dim),
            nn.LayerNorm(out_dim),
        )

    def forward(self, image_embeds: Tensor) -> Tensor:
        return self.proj(image_embeds)


class WanAttentionBlock(nn.Module):
    def __init__(
        self,
        dim: int,
        ffn_dim: int,
        num_heads: int,
        qk_norm: bool,
        cross_attn_norm: bool,
        eps: float,
        image_to_video: bool = False,
    ):
        super().__init__()
        self.norm1 = WanLayerNorm(dim, eps)
        self.self_attn = WanSelfAttention(dim, num_heads, qk_norm, eps)
        # Upstream's names: norm3 (affine) sits before cross-attention, norm2 before the FFN.
        self.norm3 = WanLayerNorm(dim, eps, elementwise_affine=True) if cross_attn_norm else nn.Identity()
        cross = WanI2VCrossAttention if image_to_video else WanCrossAttention
        self.cross_attn = cross(dim, num_heads, qk_norm, eps)
        self.norm2 = WanLayerNorm(dim, eps)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(ffn_dim, dim))
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)

    def forward(self, x: Tensor, e0: Tensor, seq_lens: Tensor | None, rope: Tensor, context: Tensor) -> Tensor:
        """x [B, L, D], e0 [B, 6, D] fp32, seq_lens [B] or None (unpadded), rope [B, L, 1, Dh/2], context
        [B, T, D] (I2V: [B, 257 + T, D], the image tokens first) -> [B, L, D]."""
        m = Modulation(*(self.modulation.float() + e0.float()).chunk(6, dim=1))
        y = self.self_attn(modulate(self.norm1(x).float(), m.shift_sa, m.scale_sa), seq_lens, rope)
        x = x + y * m.gate_sa  # fp32 from here on: the residual stream of upstream is fp32 after block 0
        x = x + self.cross_attn(self.norm3(x), context)
        y = self.ffn(modulate(self.norm2(x).float(), m.shift_ffn, m.scale_ffn))
        return x + y * m.gate_ffn


class Head(nn.Module):
    def __init__(self, dim: int, out_dim: int, patch_size: tuple[int, int, int], eps: float):
        super().__init__()
        self.norm = WanLayerNorm(dim, eps)
        self.head = nn.Linear(dim, math.prod(patch_size) * out_dim)
        self.modulation = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        # Modulated by `e` (before the SiLU + projection), not by e0: an upstream detail kept for parity.
        shift, scale = (self.modulation.float() + e.float().unsqueeze(1)).chunk(2, dim=1)
        with fp32_island(x.device):
            y = modulate(self.norm(x).float(), shift, scale)
            return self.head(y.to(self.head.weight.dtype)).float()


class LocalSequence:
    """No-op sequence-parallel seam. `wan.parallel` swaps in a sharding one from outside the model."""

    size = 1  # ranks sharing the sequence: the pipeline pads seq_len to a multiple of it

    def shard(self, x: Tensor, seq_lens: Tensor | None, rope: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        return x, seq_lens, rope

    def gather(self, x: Tensor) -> Tensor:
        return x


# ---------------------------------------------------------------------------------------------------
# The model


MODEL_TYPES = ("t2v", "i2v")


class WanModel(nn.Module):
    """Wan2.1 DiT. Forward contract as upstream: `model(x_list, t=t, context=context_list, seq_len=n)`, and
    for image-to-video (`model_type="i2v"`, in_dim 36) also `clip_fea=` and `y=`."""

    def __init__(
        self,
        model_type: str = "t2v",
        patch_size: tuple[int, int, int] = (1, 2, 2),
        text_len: int = 512,
        in_dim: int = 16,
        dim: int = 2048,
        ffn_dim: int = 8192,
        freq_dim: int = 256,
        text_dim: int = 4096,
        out_dim: int = 16,
        num_heads: int = 16,
        num_layers: int = 32,
        qk_norm: bool = True,
        cross_attn_norm: bool = True,
        eps: float = 1e-6,
        image_dim: int = 1280,
    ):
        super().__init__()
        if model_type not in MODEL_TYPES:
            raise ValueError(f"model_type={model_type!r} is not supported; accepted: {', '.join(MODEL_TYPES)}")
        if dim % num_heads:
            raise ValueError(f"dim={dim} is not divisible by num_heads={num_heads}")
        head_dim = dim // num_heads
        if head_dim % 2 or head_dim < 6:
            raise ValueError(f"head_dim={head_dim} must be even and >= 6 for the 3-axis RoPE")
        self.model_type = model_type
        self.patch_size = tuple(patch_size)
        self.text_len = text_len
        self.in_dim, self.out_dim = in_dim, out_dim
        self.dim, self.ffn_dim, self.freq_dim, self.text_dim = dim, ffn_dim, freq_dim, text_dim
        self.num_heads, self.num_layers = num_heads, num_layers

        self.patch_embedding = nn.Conv3d(in_dim, dim, kernel_size=patch_size, stride=patch_size)
        self.text_embedding = nn.Sequential(nn.Linear(text_dim, dim), nn.GELU(approximate="tanh"), nn.Linear(dim, dim))
        self.time_embedding = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(dim, dim * 6))
        i2v = model_type == "i2v"
        self.blocks = nn.ModuleList(
            WanAttentionBlock(dim, ffn_dim, num_heads, qk_norm, cross_attn_norm, eps, i2v) for _ in range(num_layers)
        )
        self.head = Head(dim, out_dim, patch_size, eps)
        if i2v:
            self.img_emb = MLPProj(image_dim, dim)

        # RoPE table: a plain attribute (not a buffer) so it stays out of the state_dict, as upstream.
        self.freqs = self._rope_freqs(head_dim)
        self.sp = LocalSequence()
        self.init_weights()

    @staticmethod
    def _rope_freqs(head_dim: int) -> Tensor:
        """Complex128 [1024, Dh/2]: t, h, w axes get Dh - 4*(Dh//6), 2*(Dh//6), 2*(Dh//6) real dims."""
        d = head_dim
        return torch.cat(
            [
                rope_params(1024, d - 4 * (d // 6)),
                rope_params(1024, 2 * (d // 6)),
                rope_params(1024, 2 * (d // 6)),
            ],
            dim=1,
        )

    def init_weights(self) -> None:
        """Upstream's random init (only matters for tiny test models; real weights are loaded)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        if self.patch_embedding.weight.is_meta:
            return
        nn.init.xavier_uniform_(self.patch_embedding.weight.flatten(1))
        for m in [*self.text_embedding, *self.time_embedding]:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
        nn.init.zeros_(self.head.head.weight)

    def forward(
        self,
        x: list[Tensor],
        t: Tensor,
        context: list[Tensor],
        seq_len: int,
        clip_fea: Tensor | None = None,
        y: list[Tensor] | None = None,
    ) -> list[Tensor]:
        """Predict the flow velocity.

        Args:
            x: B latents, each [C, F, Hh, Ww].
            t: timesteps [B] (int64 as the samplers produce them).
            context: B text features, each [T_b, text_dim] (trimmed to the true token count).
            seq_len: token count every sample is zero-padded to.
            clip_fea: (i2v) CLIP image features [B, 257, image_dim].
            y: (i2v) B conditioning latents, each [in_dim - C, F, Hh, Ww] (frame mask and first-frame latent),
                stacked onto x along the channels.

        Returns:
            B velocities, each [C_out, F, Hh, Ww] in fp32.
        """
        if self.model_type == "i2v" and (clip_fea is None or y is None):
            raise ValueError("an i2v WanModel needs clip_fea (the CLIP image features) and y (the conditioning)")
        device = self.patch_embedding.weight.device
        if self.freqs.device != device:
            self.freqs = self.freqs.to(device)
        if y is not None:
            x = [torch.cat([u, v]) for u, v in zip(x, y, strict=True)]

        # patchify: [C, F, Hh, Ww] -> [1, D, f, h, w] -> [1, f*h*w, D]
        x = [self.patch_embedding(u.unsqueeze(0)) for u in x]
        grid_sizes = torch.tensor([u.shape[2:] for u in x], dtype=torch.long)
        x = [u.flatten(2).transpose(1, 2) for u in x]
        lens = [u.size(1) for u in x]  # known on the host: no device sync
        if max(lens) > seq_len:
            raise ValueError(f"seq_len={seq_len} is shorter than the {max(lens)} tokens of the input")
        # Key lengths only when some sample is padded; None lets attention skip the mask.
        seq_lens = None if min(lens) == seq_len else torch.tensor(lens, dtype=torch.long, device=device)
        x = torch.cat([torch.cat([u, u.new_zeros(1, seq_len - u.size(1), u.size(2))], dim=1) for u in x])
        rope = rope_table(self.freqs, grid_sizes, seq_len, self.dim // self.num_heads)  # [B, L, 1, Dh/2]

        # time: fp32 island, sinusoid in float64
        with fp32_island(device):
            w = self.time_embedding[0].weight
            e = self.time_embedding(sinusoidal_embedding_1d(self.freq_dim, t.to(device)).to(w.dtype)).float()
            e0 = self.time_projection(e.to(w.dtype)).float().unflatten(1, (6, self.dim))  # [B, 6, D]

        # text: zero-pad raw features to text_len *before* the projection; no mask downstream
        context = self.text_embedding(
            torch.stack([torch.cat([u, u.new_zeros(self.text_len - u.size(0), u.size(1))]) for u in context])
        )  # [B, T, D]
        if clip_fea is not None:  # the image tokens lead the context: [B, 257 + T, D]
            context = torch.cat([self.img_emb(clip_fea.to(context.dtype)), context], dim=1)

        x, seq_lens, rope = self.sp.shard(x, seq_lens, rope)
        for block in self.blocks:
            x = block(x, e0, seq_lens, rope, context)
        x = self.head(x, e)  # [B, L, prod(patch) * C_out]
        x = self.sp.gather(x)
        return self.unpatchify(x, grid_sizes)

    def unpatchify(self, x: Tensor, grid_sizes: Tensor) -> list[Tensor]:
        """[B, L, pt*ph*pw*C] -> B tensors [C, F, Hh, Ww]; features are (pt, ph, pw, c), channel last."""
        pt, ph, pw = self.patch_size
        out = []
        for u, (f, h, w) in zip(x, grid_sizes.tolist(), strict=True):
            u = u[: f * h * w].view(f, h, w, pt, ph, pw, self.out_dim)
            u = torch.einsum("fhwpqrc->cfphqwr", u)
            out.append(u.reshape(self.out_dim, f * pt, h * ph, w * pw))
        return out


# ---------------------------------------------------------------------------------------------------
# Loading

_CONFIG_KEYS = (
    "model_type",
    "text_len",
    "in_dim",
    "dim",
    "ffn_dim",
    "freq_dim",
    "out_dim",
    "num_heads",
    "num_layers",
    "eps",
)


def wan_model_kwargs_from_config(config: dict) -> dict:
    """Constructor keywords from an official config.json (upstream never stores patch_size, text_dim, image_dim)."""
    return {
        k: (tuple(config[k]) if k == "patch_size" else config[k])
        for k in (*_CONFIG_KEYS, "patch_size", "text_dim", "image_dim")
        if k in config
    }


def load_wan_model(
    ckpt_dir: str, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, **overrides
) -> WanModel:
    """Build a WanModel from an official checkpoint directory: config.json + safetensors (single or sharded).

    Built on the meta device and filled with `assign=True`; any missing, unexpected or wrong-shaped key is
    an error that lists them.
    """
    from ..utils.checkpoint import check_state_dict, load_dit_state_dict, read_dit_config

    kwargs = {**wan_model_kwargs_from_config(read_dit_config(ckpt_dir)), **overrides}
    sd = load_dit_state_dict(ckpt_dir)
    with torch.device("meta"):
        model = WanModel(**kwargs)
    check_state_dict(sd, {k: v.shape for k, v in model.state_dict().items()}, what=f"DiT checkpoint {ckpt_dir}")
    model.load_state_dict({k: v.to(dtype) for k, v in sd.items()}, strict=True, assign=True)
    # The RoPE table was created on meta with the model: rebuild it on the CPU.
    with torch.device("cpu"):
        model.freqs = WanModel._rope_freqs(model.dim // model.num_heads)
    return model.eval().requires_grad_(False).to(device)
