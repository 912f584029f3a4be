"""HYVideoDiffusionTransformer: HunyuanVideo's text-to-video DiT, with upstream's state_dict keys.

Written from the architecture description of HunyuanVideo (Tencent/HunyuanVideo, `hyvideo/modules/models.py`);
module names follow upstream so the official `mp_rank_00_model_states.pt` loads with strict=True.

    vec = time_in(t) + vector_in(clip) [+ guidance_in(g)]
    img = img_in(x);  txt = txt_in(llm, t, mask)                  # token refiner
    img, txt = double_block(img, txt, vec, ...)   x 20            # separate weights, joint attention
    x = cat(img, txt);  x = single_block(x, vec, ...)   x 40      # shared weights
    out = unpatchify(final_layer(x[:, :L_img], vec))

Shape legend: B batch, L_img image tokens, T text tokens (text_len), L = L_img + T, D hidden size, H heads,
Dh head dim, C latent channels, F/Hh/Ww latent frames/height/width.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from einops import rearrange
from torch import Tensor

from .attention import attention
from .layers import (
    MLP,
    MLPEmbedder,
    ModulateDiT,
    PatchEmbed,
    TextProjection,
    TimestepEmbedder,
    activation,
    apply_gate,
    apply_rope,
    modulate,
    qk_norm_layer,
)
from .token_refiner import SingleTokenRefiner

__all__ = ["HYVideoDiffusionTransformer", "MMDoubleStreamBlock", "MMSingleStreamBlock", "FinalLayer"]


class MMDoubleStreamBlock(nn.Module):
    """img and txt streams with their own weights, attending jointly (image tokens first)."""

    sp = None  # sequence-parallel group, set from outside by `hyvideo.parallel.parallelize`
    observe = None  # profiling seam, set from outside by `delta_cache.AttentionProfiler`

    def __init__(
        self,
        hidden_size: int,
        heads_num: int,
        mlp_width_ratio: float,
        mlp_act_type: str,
        qk_norm: bool,
        qk_norm_type: str,
        qkv_bias: bool,
    ):
        super().__init__()
        self.heads_num = heads_num
        head_dim, mlp_hidden = hidden_size // heads_num, int(hidden_size * mlp_width_ratio)

        self.img_mod = ModulateDiT(hidden_size, factor=6)
        self.img_norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.img_attn_qkv = nn.Linear(hidden_size, 3 * hidden_size, bias=qkv_bias)
        self.img_attn_q_norm = qk_norm_layer(qk_norm, qk_norm_type, head_dim)
        self.img_attn_k_norm = qk_norm_layer(qk_norm, qk_norm_type, head_dim)
        self.img_attn_proj = nn.Linear(hidden_size, hidden_size, bias=qkv_bias)
        self.img_norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.img_mlp = MLP(hidden_size, mlp_hidden, act=mlp_act_type)

        self.txt_mod = ModulateDiT(hidden_size, factor=6)
        self.txt_norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.txt_attn_qkv = nn.Linear(hidden_size, 3 * hidden_size, bias=qkv_bias)
        self.txt_attn_q_norm = qk_norm_layer(qk_norm, qk_norm_type, head_dim)
        self.txt_attn_k_norm = qk_norm_layer(qk_norm, qk_norm_type, head_dim)
        self.txt_attn_proj = nn.Linear(hidden_size, hidden_size, bias=qkv_bias)
        self.txt_norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.txt_mlp = MLP(hidden_size, mlp_hidden, act=mlp_act_type)

    def _qkv(self, x: Tensor, mod, norm1: nn.Module, qkv: nn.Linear, q_norm: nn.Module, k_norm: nn.Module):
        h = qkv(modulate(norm1(x), mod.shift, mod.scale))
        q, k, v = rearrange(h, "B L (K H D) -> K B L H D", K=3, H=self.heads_num)
        return q_norm(q).to(v), k_norm(k).to(v), v

    @staticmethod
    def _update(x: Tensor, attn: Tensor, mod1, mod2, proj: nn.Linear, norm2: nn.Module, mlp: nn.Module) -> Tensor:
        x = x + apply_gate(proj(attn), mod1.gate)
        return x + apply_gate(mlp(modulate(norm2(x), mod2.shift, mod2.scale)), mod2.gate)

    def forward(
        self, img: Tensor, txt: Tensor, vec: Tensor, k_lens: Tensor | None, freqs: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, Tensor]:
        img_mod1, img_mod2 = self.img_mod(vec)
        txt_mod1, txt_mod2 = self.txt_mod(vec)
        # [B, L_img, H, Dh] and [B, T, H, Dh]; RoPE on the image tokens only
        img_q, img_k, img_v = self._qkv(
            img, img_mod1, self.img_norm1, self.img_attn_qkv, self.img_attn_q_norm, self.img_attn_k_norm
        )
        if freqs is not None:
            img_q, img_k = apply_rope(img_q, *freqs), apply_rope(img_k, *freqs)
        txt_q, txt_k, txt_v = self._qkv(
            txt, txt_mod1, self.txt_norm1, self.txt_attn_qkv, self.txt_attn_q_norm, self.txt_attn_k_norm
        )
        q, k = torch.cat([img_q, txt_q], 1), torch.cat([img_k, txt_k], 1)
        if self.observe is not None:
            self.observe(q, k, k_lens, txt_q.shape[1])
        attn = attention(q, k, torch.cat([img_v, txt_v], 1), k_lens=k_lens, sp=self.sp, joint_len=txt_q.shape[1])
        attn = attn.flatten(2)  # [B, L, D]
        n = img.shape[1]
        img = self._update(img, attn[:, :n], img_mod1, img_mod2, self.img_attn_proj, self.img_norm2, self.img_mlp)
        txt = self._update(txt, attn[:, n:], txt_mod1, txt_mod2, self.txt_attn_proj, self.txt_norm2, self.txt_mlp)
        return img, txt


class MMSingleStreamBlock(nn.Module):
    """One stream x = [img | txt]: parallel attention and MLP from one input Linear (`linear1`)."""

    sp = None  # sequence-parallel group, set from outside by `hyvideo.parallel.parallelize`
    observe = None  # profiling seam, set from outside by `delta_cache.AttentionProfiler`

    def __init__(
        self,
        hidden_size: int,
        heads_num: int,
        mlp_width_ratio: float,
        mlp_act_type: str,
        qk_norm: bool,
        qk_norm_type: str,
    ):
        super().__init__()
        self.heads_num, self.hidden_size = heads_num, hidden_size
        head_dim, self.mlp_hidden = hidden_size // heads_num, int(hidden_size * mlp_width_ratio)
        self.linear1 = nn.Linear(hidden_size, 3 * hidden_size + self.mlp_hidden)  # rows: q | k | v | mlp-in
        self.linear2 = nn.Linear(hidden_size + self.mlp_hidden, hidden_size)  # columns: attn-out | mlp-act
        self.q_norm = qk_norm_layer(qk_norm, qk_norm_type, head_dim)
        self.k_norm = qk_norm_layer(qk_norm, qk_norm_type, head_dim)
        self.pre_norm = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp_act = activation(mlp_act_type)
        self.modulation = ModulateDiT(hidden_size, factor=3)

    def forward(
        self, x: Tensor, vec: Tensor, txt_len: int, k_lens: Tensor | None, freqs: tuple[Tensor, Tensor] | None
    ) -> Tensor:
        (mod,) = self.modulation(vec)
        qkv, mlp = self.linear1(modulate(self.pre_norm(x), mod.shift, mod.scale)).split(
            [3 * self.hidden_size, self.mlp_hidden], dim=-1
        )
        q, k, v = rearrange(qkv, "B L (K H D) -> K B L H D", K=3, H=self.heads_num)
        q, k = self.q_norm(q).to(v), self.k_norm(k).to(v)
        if freqs is not None:  # rotate the image tokens: everything before the last txt_len
            q = torch.cat([apply_rope(q[:, :-txt_len], *freqs), q[:, -txt_len:]], dim=1)
            k = torch.cat([apply_rope(k[:, :-txt_len], *freqs), k[:, -txt_len:]], dim=1)
        if self.observe is not None:
            self.observe(q, k, k_lens, txt_len)
        attn = attention(q, k, v, k_lens=k_lens, sp=self.sp, joint_len=txt_len).flatten(2)  # [B, L, D]
        return x + apply_gate(self.linear2(torch.cat([attn, self.mlp_act(mlp)], dim=-1)), mod.gate)


class FinalLayer(nn.Module):
    def __init__(self, hidden_size: int, patch_size: tuple[int, int, int], out_channels: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        n = patch_size[0] * patch_size[1] * patch_size[2] * out_channels
        self.linear = nn.Linear(hidden_size, n, bias=True)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size, bias=True))

    def forward(self, x: Tensor, vec: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(vec).chunk(2, dim=-1)  # shift first (diffusers stores scale first)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class LocalSequence:
    """No-op sequence-parallel seam. `hyvideo.parallel` swaps in a sharding one from outside the model."""

    size = 1

    def shard(self, img: Tensor, freqs: tuple[Tensor, Tensor] | None, grid: tuple[int, int, int]):
        return img, freqs

    def gather(self, img: Tensor, grid: tuple[int, int, int]) -> Tensor:
        return img


class HYVideoDiffusionTransformer(nn.Module):
    """HunyuanVideo DiT; `forward(x, t, text_states, text_mask, text_states_2, freqs_cos, freqs_sin, guidance)`."""

    def __init__(
        self,
        patch_size: list[int] | tuple[int, int, int] = (1, 2, 2),
        in_channels: int = 16,
        out_channels: int | None = None,
        hidden_size: int = 3072,
        heads_num: int = 24,
        mlp_width_ratio: float = 4.0,
        mlp_act_type: str = "gelu_tanh",
        mm_double_blocks_depth: int = 20,
        mm_single_blocks_depth: int = 40,
        rope_dim_list: list[int] | tuple[int, ...] = (16, 56, 56),
        qkv_bias: bool = True,
        qk_norm: bool = True,
        qk_norm_type: str = "rms",
        guidance_embed: bool = False,
        text_projection: str = "single_refiner",
        use_attention_mask: bool = True,
        text_states_dim: int = 4096,
        text_states_dim_2: int = 768,
    ):
        super().__init__()
        if hidden_size % heads_num:
            raise ValueError(f"hidden_size={hidden_size} is not divisible by heads_num={heads_num}")
        if sum(rope_dim_list) != hidden_size // heads_num:
            raise ValueError(f"sum(rope_dim_list)={sum(rope_dim_list)} must equal head dim {hidden_size // heads_num}")
        self.patch_size = tuple(patch_size)
        self.in_channels = in_channels
        self.out_channels = in_channels if out_channels is None else out_channels
        self.hidden_size, self.heads_num = hidden_size, heads_num
        self.rope_dim_list = list(rope_dim_list)
        self.guidance_embed = guidance_embed
        self.text_projection = text_projection
        self.use_attention_mask = use_attention_mask
        self.text_states_dim, self.text_states_dim_2 = text_states_dim, text_states_dim_2

        self.img_in = PatchEmbed(self.patch_size, in_channels, hidden_size)
        if text_projection == "single_refiner":
            self.txt_in = SingleTokenRefiner(text_states_dim, hidden_size, heads_num, depth=2, qkv_bias=qkv_bias)
        elif text_projection == "linear":
            self.txt_in = TextProjection(text_states_dim, hidden_size)
        else:
            raise ValueError(f"text_projection must be 'single_refiner' or 'linear', got {text_projection!r}")
        self.time_in = TimestepEmbedder(hidden_size, act="silu")
        self.vector_in = MLPEmbedder(text_states_dim_2, hidden_size)
        self.guidance_in = TimestepEmbedder(hidden_size, act="silu") if guidance_embed else None
        block_kw = dict(
            hidden_size=hidden_size,
            heads_num=heads_num,
            mlp_width_ratio=mlp_width_ratio,
            mlp_act_type=mlp_act_type,
            qk_norm=qk_norm,
            qk_norm_type=qk_norm_type,
        )
        self.double_blocks = nn.ModuleList(
            [MMDoubleStreamBlock(**block_kw, qkv_bias=qkv_bias) for _ in range(mm_double_blocks_depth)]
        )
        self.single_blocks = nn.ModuleList([MMSingleStreamBlock(**block_kw) for _ in range(mm_single_blocks_depth)])
        self.final_layer = FinalLayer(hidden_size, self.patch_size, self.out_channels)
        self.sp = LocalSequence()

    def unpatchify(self, x: Tensor, t: int, h: int, w: int) -> Tensor:
        """[B, L_img, C*pt*ph*pw] -> [B, C, F, Hh, Ww]; feature index = c*4 + ph*2 + pw (channel first)."""
        pt, ph, pw = self.patch_size
        return rearrange(x, "B (t h w) (c pt ph pw) -> B c (t pt) (h ph) (w pw)", t=t, h=h, w=w, pt=pt, ph=ph, pw=pw)

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        text_states: Tensor,
        text_mask: Tensor | None,
        text_states_2: Tensor,
        freqs_cos: Tensor | None = None,
        freqs_sin: Tensor | None = None,
        guidance: Tensor | None = None,
        return_dict: bool = True,
    ) -> dict[str, Tensor] | Tensor:
        """Velocity for latents x [B, C, F, Hh, Ww] at fp32 timesteps t [B] in [0, 1000].

        text_states [B, T, C_text] with text_mask [B, T] (1 = valid, right-padded); text_states_2 [B, C_clip];
        freqs_cos/sin [L_img, Dh] for the image tokens; guidance [B] (embedded scale x 1000) for cfgdistill.
        """
        _, _, f, hh, ww = x.shape
        pt, ph, pw = self.patch_size
        grid = (f // pt, hh // ph, ww // pw)

        vec = self.time_in(t) + self.vector_in(text_states_2)  # [B, D]
        if self.guidance_embed:
            if guidance is None:
                raise ValueError("this model embeds guidance: pass guidance=[B] (embedded cfg scale x 1000)")
            vec = vec + self.guidance_in(guidance)

        img = self.img_in(x)  # [B, L_img, D]
        mask = text_mask if self.use_attention_mask else None
        if self.text_projection == "linear":
            txt = self.txt_in(text_states)
        else:
            txt = self.txt_in(text_states, t, mask)  # [B, T, D]
        img_len, txt_len = img.shape[1], txt.shape[1]
        # Keys a query may see: the image tokens and the valid text tokens of its sample.
        k_lens = None if text_mask is None else img_len + text_mask.to(torch.int32).sum(dim=1)
        freqs = (freqs_cos, freqs_sin) if freqs_cos is not None else None

        img, freqs = self.sp.shard(img, freqs, grid)  # sequence parallel: this rank's image tokens
        for block in self.double_blocks:
            img, txt = block(img, txt, vec, k_lens, freqs)
        x = torch.cat([img, txt], dim=1)  # [B, L, D]
        for block in self.single_blocks:
            x = block(x, vec, txt_len, k_lens, freqs)

        img = self.final_layer(x[:, : x.shape[1] - txt_len], vec)  # [B, L_img, C*pt*ph*pw]
        img = self.sp.gather(img, grid)
        out = self.unpatchify(img, *grid)
        return {"x": out} if return_dict else out


def load_hyvideo_model(
    model_kwargs: dict,
    dit_weight: str,
    load_key: str = "module",
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> HYVideoDiffusionTransformer:
    """Build the DiT from `--dit-weight` (file or directory) with `strict=True` semantics.

    Built on the meta device and filled with `assign=True`; any missing, unexpected or wrong-shaped key is
    an error that lists them.
    """
    from ..utils.checkpoint import check_state_dict, load_dit_state_dict

    sd = load_dit_state_dict(dit_weight, load_key)
    with torch.device("meta"):
        model = HYVideoDiffusionTransformer(**model_kwargs)
    check_state_dict(sd, {k: v.shape for k, v in model.state_dict().items()}, what=f"DiT checkpoint {dit_weight}")
    model.load_state_dict({k: v.to(dtype) for k, v in sd.items()}, strict=True, assign=True)
    return model.eval().requires_grad_(False).to(device)
