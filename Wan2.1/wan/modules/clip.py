"""The image encoder of Wan2.1 image-to-video, run as transformers' `CLIPVisionModel`.

Upstream ships the whole open-clip XLM-RoBERTa-Large-ViT-H/14 in one pickle
(`models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth`: `visual.*`, `textual.*`, `log_scale`) and feeds the
DiT the output of the visual tower's first 31 of 32 blocks: a bias-free patch convolution, the class token and
learnt positions, a LayerNorm, then pre-norm blocks (fused qkv, exact-GELU MLP), no final norm: [B, 257, 1280].
That computation is transformers' `CLIPVisionModel` cut to 31 layers (its `last_hidden_state` is the encoder's
output, before `post_layernorm`), so the weights are converted into it: the fused qkv is split; the 32nd block,
the projection and the whole text half (not needed for I2V) are left out.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ..configs.shared import WanCLIPConfig

# upstream's image normalisation (the OpenAI CLIP statistics), after mapping [-1, 1] to [0, 1]
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

_BLOCK_RENAMES = {
    "norm1": "layer_norm1",
    "norm2": "layer_norm2",
    "attn.proj": "self_attn.out_proj",
    "mlp.0": "mlp.fc1",
    "mlp.2": "mlp.fc2",
}


def vision_config(cfg: WanCLIPConfig):
    """transformers' `CLIPVisionConfig` of the blocks the DiT reads (all but the last)."""
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_attention_heads=cfg.num_heads,
        num_hidden_layers=cfg.num_layers - 1,
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        hidden_act="gelu",  # XLM-RoBERTa-ViT-H/14's blocks use exact GELU (OpenAI's ViTs use QuickGELU)
        layer_norm_eps=cfg.eps,
    )


def visual_to_transformers(state_dict: dict[str, Tensor], cfg: WanCLIPConfig) -> dict[str, Tensor]:
    """Upstream's open-clip keys -> `CLIPVisionModel` keys of the first num_layers - 1 blocks (the rest dropped)."""
    out: dict[str, Tensor] = {}
    used = cfg.num_layers - 1
    for key, value in state_dict.items():
        if not key.startswith("visual."):
            continue  # the text half and the logit scale
        name = key.removeprefix("visual.")
        if name == "patch_embedding.weight":
            out["embeddings.patch_embedding.weight"] = value
        elif name == "cls_embedding":
            out["embeddings.class_embedding"] = value.reshape(-1)
        elif name == "pos_embedding":
            out["embeddings.position_embedding.weight"] = value.reshape(value.shape[-2], value.shape[-1])
        elif name.startswith("pre_norm."):
            out[name.replace("pre_norm.", "pre_layrnorm.")] = value
        elif name.startswith("post_norm."):  # kept for a strict load; last_hidden_state is read before it
            out[name.replace("post_norm.", "post_layernorm.")] = value
        elif name.startswith("transformer."):
            index, rest = name.removeprefix("transformer.").split(".", 1)
            if int(index) >= used:
                continue
            prefix = f"encoder.layers.{index}."
            if rest.startswith("attn.to_qkv."):
                kind = rest.rsplit(".", 1)[1]  # weight or bias: rows are q, k, v
                for part, chunk in zip(("q", "k", "v"), value.chunk(3, dim=0), strict=True):
                    out[f"{prefix}self_attn.{part}_proj.{kind}"] = chunk
                continue
            module, kind = rest.rsplit(".", 1)
            if module not in _BLOCK_RENAMES:
                raise ValueError(f"unknown CLIP visual key {key!r}")
            out[f"{prefix}{_BLOCK_RENAMES[module]}.{kind}"] = value
        # the head is the contrastive projection, which the DiT never reads
    return out


class CLIPImageEncoder:
    """Images in, the DiT's `clip_fea` out: [B, 257, hidden] from the open-clip checkpoint, strictly loaded."""

    def __init__(
        self,
        checkpoint_path: str | Path,
        config: WanCLIPConfig,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        from transformers import CLIPVisionModel

        from ..utils.checkpoint import check_state_dict, load_torch_file

        self.config, self.device, self.dtype = config, torch.device(device), dtype
        sd = visual_to_transformers(load_torch_file(checkpoint_path), config)
        with torch.device("meta"):
            model = CLIPVisionModel(vision_config(config))
        expected = {k: v.shape for k, v in model.state_dict().items()}
        check_state_dict(sd, expected, what=f"CLIP checkpoint {checkpoint_path}")
        model.load_state_dict({k: v.to(dtype) for k, v in sd.items()}, strict=True, assign=True)
        model.embeddings.register_buffer(
            "position_ids", torch.arange(config.tokens).unsqueeze(0), persistent=False
        )  # a non-persistent buffer, still on meta after the assignment
        self.model = model.eval().requires_grad_(False).to(self.device)

    @torch.no_grad()
    def encode(self, images: list[Tensor]) -> Tensor:
        """Images, each [3, 1, H, W] in [-1, 1] (upstream's `img[:, None]`), -> [B, 257, hidden] fp32.

        Resized bicubically to the tower's size as upstream (no antialias), normalised with CLIP's statistics.
        """
        size = (self.config.image_size,) * 2
        x = torch.cat(
            [F.interpolate(u.transpose(0, 1).float(), size=size, mode="bicubic", align_corners=False) for u in images]
        ).to(self.device)
        mean = torch.tensor(CLIP_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD, device=self.device).view(1, 3, 1, 1)
        x = ((x * 0.5 + 0.5) - mean) / std
        return self.model(pixel_values=x.to(self.dtype)).last_hidden_state.float()
