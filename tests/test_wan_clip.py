"""The I2V image encoder: upstream's open-clip visual tower (first 31 of 32 blocks) run as transformers'
CLIPVisionModel from the converted checkpoint, against a direct implementation of upstream's computation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import rel_err

from wan.configs.shared import WanCLIPConfig
from wan.modules.clip import CLIP_MEAN, CLIP_STD, CLIPImageEncoder, visual_to_transformers

TINY = WanCLIPConfig(hidden_size=32, intermediate_size=64, num_heads=2, num_layers=3)  # 224 px, 14 px patches


def upstream_state_dict(cfg: WanCLIPConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    from wan.debug import random_clip_checkpoint

    return random_clip_checkpoint(cfg, seed)


def upstream_visual(sd: dict[str, torch.Tensor], cfg: WanCLIPConfig, images: list[torch.Tensor]) -> torch.Tensor:
    """Upstream's `CLIPModel.visual` written out: resize, normalise, embed, pre-norm, blocks 0..L-2."""
    size = (cfg.image_size,) * 2
    x = torch.cat([F.interpolate(u.transpose(0, 1), size=size, mode="bicubic", align_corners=False) for u in images])
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    x = ((x * 0.5 + 0.5) - mean) / std
    v = {k.removeprefix("visual."): t for k, t in sd.items() if k.startswith("visual.")}
    b, d, n = x.shape[0], cfg.hidden_size, cfg.num_heads
    x = F.conv2d(x, v["patch_embedding.weight"], stride=cfg.patch_size).flatten(2).transpose(1, 2)
    x = torch.cat([v["cls_embedding"].expand(b, -1, -1), x], dim=1) + v["pos_embedding"]
    x = F.layer_norm(x, (d,), v["pre_norm.weight"], v["pre_norm.bias"], cfg.eps)
    for i in range(cfg.num_layers - 1):
        p = f"transformer.{i}."
        h = F.layer_norm(x, (d,), v[p + "norm1.weight"], v[p + "norm1.bias"], cfg.eps)
        q, k, w = (
            F.linear(h, v[p + "attn.to_qkv.weight"], v[p + "attn.to_qkv.bias"]).view(b, -1, 3, n, d // n).unbind(2)
        )
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), w.transpose(1, 2))
        x = x + F.linear(a.transpose(1, 2).reshape(b, -1, d), v[p + "attn.proj.weight"], v[p + "attn.proj.bias"])
        h = F.layer_norm(x, (d,), v[p + "norm2.weight"], v[p + "norm2.bias"], cfg.eps)
        h = F.linear(F.gelu(F.linear(h, v[p + "mlp.0.weight"], v[p + "mlp.0.bias"])), v[p + "mlp.2.weight"])
        x = x + h + v[p + "mlp.2.bias"]
    return x


def test_encoder_matches_upstream_computation(tmp_path):
    sd = upstream_state_dict(TINY)
    path = tmp_path / "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"
    torch.save(sd, path)
    encoder = CLIPImageEncoder(path, TINY)
    torch.manual_seed(1)
    images = [torch.rand(3, 1, 60, 90) * 2 - 1, torch.rand(3, 1, 224, 224) * 2 - 1]
    ours = encoder.encode(images)
    reference = upstream_visual(sd, TINY, images)
    assert ours.shape == (2, 257, TINY.hidden_size) and rel_err(ours, reference) < 1e-5
    # the last block is not read: changing it changes nothing, changing the one before does
    sd["visual.transformer.2.mlp.0.weight"] += 1
    torch.save(sd, path)
    assert torch.equal(CLIPImageEncoder(path, TINY).encode(images), ours)
    sd["visual.transformer.1.mlp.0.weight"] += 1
    torch.save(sd, path)
    assert rel_err(CLIPImageEncoder(path, TINY).encode(images), ours) > 1e-3


def test_converter_keeps_only_the_blocks_read_and_a_missing_key_is_named(tmp_path):
    from wan.utils.checkpoint import CheckpointError

    sd = upstream_state_dict(TINY)
    converted = visual_to_transformers(sd, TINY)
    assert not any(k.startswith("encoder.layers.2.") for k in converted)
    assert converted["embeddings.class_embedding"].shape == (TINY.hidden_size,)
    q = converted["encoder.layers.0.self_attn.q_proj.weight"]
    assert torch.equal(q, sd["visual.transformer.0.attn.to_qkv.weight"][: TINY.hidden_size])
    del sd["visual.transformer.1.norm2.bias"]
    torch.save(sd, tmp_path / "clip.pth")
    with pytest.raises(CheckpointError, match="encoder.layers.1.layer_norm2.bias"):
        CLIPImageEncoder(tmp_path / "clip.pth", TINY)
