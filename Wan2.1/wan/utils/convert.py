"""WanModel key converter to and from diffusers' `WanTransformer3DModel` (pure renames, no reshaping).

The rename table is the one of diffusers' `scripts/convert_wan_to_diffusers.py` (a fact about the two
formats); upstream's norm2/norm3 names are swapped relative to diffusers.
"""

from __future__ import annotations

import re

from torch import Tensor

# (upstream regex, diffusers replacement); applied to each key, first match wins.
_DIT_RULES: list[tuple[str, str]] = [
    (r"^time_embedding\.0\.", "condition_embedder.time_embedder.linear_1."),
    (r"^time_embedding\.2\.", "condition_embedder.time_embedder.linear_2."),
    (r"^text_embedding\.0\.", "condition_embedder.text_embedder.linear_1."),
    (r"^text_embedding\.2\.", "condition_embedder.text_embedder.linear_2."),
    (r"^time_projection\.1\.", "condition_embedder.time_proj."),
    (r"^head\.modulation$", "scale_shift_table"),
    (r"^head\.head\.", "proj_out."),
    (r"^blocks\.(\d+)\.modulation$", r"blocks.\1.scale_shift_table"),
    (r"^blocks\.(\d+)\.self_attn\.([qkv])\.", r"blocks.\1.attn1.to_\2."),
    (r"^blocks\.(\d+)\.self_attn\.o\.", r"blocks.\1.attn1.to_out.0."),
    (r"^blocks\.(\d+)\.self_attn\.norm_([qk])\.", r"blocks.\1.attn1.norm_\2."),
    (r"^blocks\.(\d+)\.cross_attn\.([qkv])\.", r"blocks.\1.attn2.to_\2."),
    (r"^blocks\.(\d+)\.cross_attn\.o\.", r"blocks.\1.attn2.to_out.0."),
    (r"^blocks\.(\d+)\.cross_attn\.norm_([qk])\.", r"blocks.\1.attn2.norm_\2."),
    (r"^blocks\.(\d+)\.norm3\.", r"blocks.\1.norm2."),
    (r"^blocks\.(\d+)\.ffn\.0\.", r"blocks.\1.ffn.net.0.proj."),
    (r"^blocks\.(\d+)\.ffn\.2\.", r"blocks.\1.ffn.net.2."),
    # image-to-video
    (r"^blocks\.(\d+)\.cross_attn\.([kv])_img\.", r"blocks.\1.attn2.add_\2_proj."),
    (r"^blocks\.(\d+)\.cross_attn\.norm_k_img\.", r"blocks.\1.attn2.norm_added_k."),
    (r"^img_emb\.proj\.0\.", "condition_embedder.image_embedder.norm1."),
    (r"^img_emb\.proj\.1\.", "condition_embedder.image_embedder.ff.net.0.proj."),
    (r"^img_emb\.proj\.3\.", "condition_embedder.image_embedder.ff.net.2."),
    (r"^img_emb\.proj\.4\.", "condition_embedder.image_embedder.norm2."),
]

_DIT_RULES_BACK: list[tuple[str, str]] = [
    (r"^condition_embedder\.time_embedder\.linear_1\.", "time_embedding.0."),
    (r"^condition_embedder\.time_embedder\.linear_2\.", "time_embedding.2."),
    (r"^condition_embedder\.text_embedder\.linear_1\.", "text_embedding.0."),
    (r"^condition_embedder\.text_embedder\.linear_2\.", "text_embedding.2."),
    (r"^condition_embedder\.time_proj\.", "time_projection.1."),
    (r"^scale_shift_table$", "head.modulation"),
    (r"^proj_out\.", "head.head."),
    (r"^blocks\.(\d+)\.scale_shift_table$", r"blocks.\1.modulation"),
    (r"^blocks\.(\d+)\.attn1\.to_([qkv])\.", r"blocks.\1.self_attn.\2."),
    (r"^blocks\.(\d+)\.attn1\.to_out\.0\.", r"blocks.\1.self_attn.o."),
    (r"^blocks\.(\d+)\.attn1\.norm_([qk])\.", r"blocks.\1.self_attn.norm_\2."),
    (r"^blocks\.(\d+)\.attn2\.to_([qkv])\.", r"blocks.\1.cross_attn.\2."),
    (r"^blocks\.(\d+)\.attn2\.to_out\.0\.", r"blocks.\1.cross_attn.o."),
    (r"^blocks\.(\d+)\.attn2\.norm_([qk])\.", r"blocks.\1.cross_attn.norm_\2."),
    (r"^blocks\.(\d+)\.norm2\.", r"blocks.\1.norm3."),
    (r"^blocks\.(\d+)\.ffn\.net\.0\.proj\.", r"blocks.\1.ffn.0."),
    (r"^blocks\.(\d+)\.ffn\.net\.2\.", r"blocks.\1.ffn.2."),
    (r"^blocks\.(\d+)\.attn2\.add_([kv])_proj\.", r"blocks.\1.cross_attn.\2_img."),
    (r"^blocks\.(\d+)\.attn2\.norm_added_k\.", r"blocks.\1.cross_attn.norm_k_img."),
    (r"^condition_embedder\.image_embedder\.norm1\.", "img_emb.proj.0."),
    (r"^condition_embedder\.image_embedder\.ff\.net\.0\.proj\.", "img_emb.proj.1."),
    (r"^condition_embedder\.image_embedder\.ff\.net\.2\.", "img_emb.proj.3."),
    (r"^condition_embedder\.image_embedder\.norm2\.", "img_emb.proj.4."),
]


def rename_keys(state_dict: dict[str, Tensor], rules: list[tuple[str, str]]) -> dict[str, Tensor]:
    """Rename every key by the first matching rule; keys that match none are kept."""
    out = {}
    for key, value in state_dict.items():
        new = key
        for pattern, repl in rules:
            new, n = re.subn(pattern, repl, key)
            if n:
                break
        if new in out:
            raise ValueError(f"two keys map to {new!r}")
        out[new] = value
    return out


def dit_to_diffusers(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    return rename_keys(state_dict, _DIT_RULES)


def dit_from_diffusers(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    return rename_keys(state_dict, _DIT_RULES_BACK)


def diffusers_config(model) -> dict:
    """`WanTransformer3DModel` keyword arguments for the geometry of a `WanModel` (T2V or I2V)."""
    i2v = {}
    if model.model_type == "i2v":
        i2v = dict(image_dim=model.img_emb.proj[0].normalized_shape[0], added_kv_proj_dim=model.dim)
    return dict(
        **i2v,
        patch_size=model.patch_size,
        num_attention_heads=model.num_heads,
        attention_head_dim=model.dim // model.num_heads,
        in_channels=model.in_dim,
        out_channels=model.out_dim,
        text_dim=model.text_dim,
        freq_dim=model.freq_dim,
        ffn_dim=model.ffn_dim,
        num_layers=model.num_layers,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        eps=model.blocks[0].norm1.eps,
        rope_max_seq_len=1024,
    )
