"""HYVideoDiffusionTransformer state_dict -> diffusers' `HunyuanVideoTransformer3DModel` (one direction).

The mapping is the one of diffusers' `scripts/convert_hunyuan_video_to_diffusers.py` (a fact about the two
formats): renames, fused qkv / linear1 split by the hidden size, and the final layer's [shift; scale] halves
swapped into diffusers' [scale; shift]. Used by the parity tests and `scripts/parity_hyvideo.py`.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor, nn

# (upstream regex, diffusers replacement); applied once per key, first match wins.
_RULES: list[tuple[str, str]] = [
    (r"^img_in\.", "x_embedder."),
    (r"^time_in\.mlp\.0\.", "time_text_embed.timestep_embedder.linear_1."),
    (r"^time_in\.mlp\.2\.", "time_text_embed.timestep_embedder.linear_2."),
    (r"^guidance_in\.mlp\.0\.", "time_text_embed.guidance_embedder.linear_1."),
    (r"^guidance_in\.mlp\.2\.", "time_text_embed.guidance_embedder.linear_2."),
    (r"^vector_in\.in_layer\.", "time_text_embed.text_embedder.linear_1."),
    (r"^vector_in\.out_layer\.", "time_text_embed.text_embedder.linear_2."),
    (r"^double_blocks\.(\d+)\.img_attn_([qk])_norm\.", r"transformer_blocks.\1.attn.norm_\2."),
    (r"^double_blocks\.(\d+)\.txt_attn_([qk])_norm\.", r"transformer_blocks.\1.attn.norm_added_\2."),
    (r"^double_blocks\.(\d+)\.img_attn_proj\.", r"transformer_blocks.\1.attn.to_out.0."),
    (r"^double_blocks\.(\d+)\.txt_attn_proj\.", r"transformer_blocks.\1.attn.to_add_out."),
    (r"^double_blocks\.(\d+)\.img_mod\.linear\.", r"transformer_blocks.\1.norm1.linear."),
    (r"^double_blocks\.(\d+)\.txt_mod\.linear\.", r"transformer_blocks.\1.norm1_context.linear."),
    (r"^double_blocks\.(\d+)\.img_mlp\.fc1\.", r"transformer_blocks.\1.ff.net.0.proj."),
    (r"^double_blocks\.(\d+)\.img_mlp\.fc2\.", r"transformer_blocks.\1.ff.net.2."),
    (r"^double_blocks\.(\d+)\.txt_mlp\.fc1\.", r"transformer_blocks.\1.ff_context.net.0.proj."),
    (r"^double_blocks\.(\d+)\.txt_mlp\.fc2\.", r"transformer_blocks.\1.ff_context.net.2."),
    (r"^single_blocks\.(\d+)\.linear2\.", r"single_transformer_blocks.\1.proj_out."),
    (r"^single_blocks\.(\d+)\.([qk])_norm\.", r"single_transformer_blocks.\1.attn.norm_\2."),
    (r"^single_blocks\.(\d+)\.modulation\.linear\.", r"single_transformer_blocks.\1.norm.linear."),
    (r"^final_layer\.linear\.", "proj_out."),
    (r"^txt_in\.input_embedder\.", "context_embedder.proj_in."),
    (r"^txt_in\.t_embedder\.mlp\.0\.", "context_embedder.time_text_embed.timestep_embedder.linear_1."),
    (r"^txt_in\.t_embedder\.mlp\.2\.", "context_embedder.time_text_embed.timestep_embedder.linear_2."),
    (r"^txt_in\.c_embedder\.", "context_embedder.time_text_embed.text_embedder."),
    (
        r"^txt_in\.individual_token_refiner\.blocks\.(\d+)\.self_attn_proj\.",
        r"context_embedder.token_refiner.refiner_blocks.\1.attn.to_out.0.",
    ),
    (
        r"^txt_in\.individual_token_refiner\.blocks\.(\d+)\.adaLN_modulation\.1\.",
        r"context_embedder.token_refiner.refiner_blocks.\1.norm_out.linear.",
    ),
    (
        r"^txt_in\.individual_token_refiner\.blocks\.(\d+)\.mlp\.fc1\.",
        r"context_embedder.token_refiner.refiner_blocks.\1.ff.net.0.proj.",
    ),
    (
        r"^txt_in\.individual_token_refiner\.blocks\.(\d+)\.mlp\.fc2\.",
        r"context_embedder.token_refiner.refiner_blocks.\1.ff.net.2.",
    ),
    (
        r"^txt_in\.individual_token_refiner\.blocks\.(\d+)\.(norm[12])\.",
        r"context_embedder.token_refiner.refiner_blocks.\1.\2.",
    ),
]

# Fused projections split along dim 0: (upstream regex, diffusers prefix, part names).
_SPLITS: list[tuple[str, str, tuple[str, ...]]] = [
    (r"^double_blocks\.(\d+)\.img_attn_qkv\.", r"transformer_blocks.\1.attn.", ("to_q", "to_k", "to_v")),
    (
        r"^double_blocks\.(\d+)\.txt_attn_qkv\.",
        r"transformer_blocks.\1.attn.",
        ("add_q_proj", "add_k_proj", "add_v_proj"),
    ),
    (
        r"^single_blocks\.(\d+)\.linear1\.",
        r"single_transformer_blocks.\1.",
        ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"),
    ),
    (
        r"^txt_in\.individual_token_refiner\.blocks\.(\d+)\.self_attn_qkv\.",
        r"context_embedder.token_refiner.refiner_blocks.\1.attn.",
        ("to_q", "to_k", "to_v"),
    ),
]


def dit_to_diffusers(state_dict: dict[str, Tensor], hidden_size: int) -> dict[str, Tensor]:
    """Upstream keys -> diffusers keys; `hidden_size` sizes the q/k/v parts of the fused projections."""
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        suffix = key.rsplit(".", 1)[1]  # weight / bias
        for pattern, prefix, parts in _SPLITS:
            m = re.match(pattern, key)
            if m:
                sizes = [hidden_size] * 3 + ([value.shape[0] - 3 * hidden_size] if len(parts) == 4 else [])
                for part, chunk in zip(parts, value.split(sizes, dim=0), strict=True):
                    out[m.expand(prefix) + f"{part}.{suffix}"] = chunk.clone()
                break
        else:
            if key.startswith("final_layer.adaLN_modulation.1."):
                shift, scale = value.chunk(2, dim=0)
                out[f"norm_out.linear.{suffix}"] = torch.cat([scale, shift], dim=0)
                continue
            for pattern, repl in _RULES:
                new, n = re.subn(pattern, repl, key)
                if n:
                    out[new] = value
                    break
            else:
                raise KeyError(f"no diffusers name for {key}")
    return out


def diffusers_config(model: nn.Module) -> dict:
    """Constructor keywords of the diffusers twin of a `HYVideoDiffusionTransformer`."""
    pt, ph, pw = model.patch_size
    if ph != pw:
        raise ValueError(f"diffusers needs a square spatial patch, got {model.patch_size}")
    return dict(
        in_channels=model.in_channels,
        out_channels=model.out_channels,
        num_attention_heads=model.heads_num,
        attention_head_dim=model.hidden_size // model.heads_num,
        num_layers=len(model.double_blocks),
        num_single_layers=len(model.single_blocks),
        num_refiner_layers=len(model.txt_in.individual_token_refiner.blocks),
        mlp_ratio=model.single_blocks[0].mlp_hidden / model.hidden_size if len(model.single_blocks) else 4.0,
        patch_size=ph,
        patch_size_t=pt,
        guidance_embeds=model.guidance_embed,
        text_embed_dim=model.text_states_dim,
        pooled_projection_dim=model.text_states_dim_2,
        rope_axes_dim=tuple(model.rope_dim_list),
    )
