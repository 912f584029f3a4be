"""The "884-16c-hy" causal 3-D VAE through diffusers' `AutoencoderKLHunyuanVideo` (same keys as upstream's
`AutoencoderKLCausal3D`), loaded from the official `vae/{config.json, pytorch_model.pt}`.

The official config.json is upstream's own format; `vae_kwargs` translates it (a diffusers-format config is
accepted too). The .pt may nest the weights under "state_dict" and prefix them with "vae."; both are stripped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from loguru import logger
from torch import Tensor

VAE_CONFIG = "config.json"
VAE_WEIGHTS = "pytorch_model.pt"
VAE_NAME = re.compile(r"^\d{2,3}-\d{1,2}c-\w+$")  # upstream's --vae pattern, e.g. 884-16c-hy: 4x time, 8x8 space, 16 ch


def vae_kwargs(config: dict) -> dict:
    """diffusers `AutoencoderKLHunyuanVideo` keywords from an upstream or diffusers config.json."""
    blocks = list(config.get("block_out_channels", (128, 256, 512, 512)))
    kw = dict(
        in_channels=config.get("in_channels", 3),
        out_channels=config.get("out_channels", 3),
        latent_channels=config.get("latent_channels", 16),
        block_out_channels=tuple(blocks),
        down_block_types=("HunyuanVideoDownBlock3D",) * len(blocks),
        up_block_types=("HunyuanVideoUpBlock3D",) * len(blocks),
        layers_per_block=config.get("layers_per_block", 2),
        act_fn=config.get("act_fn", "silu"),
        norm_num_groups=config.get("norm_num_groups", 32),
        scaling_factor=config.get("scaling_factor", 0.476986),
        spatial_compression_ratio=config.get("spatial_compression_ratio", 2 ** (len(blocks) - 1)),
        temporal_compression_ratio=config.get("temporal_compression_ratio", config.get("time_compression_ratio", 4)),
        mid_block_add_attention=config.get("mid_block_add_attention", True),
    )
    return kw


def upstream_vae_config(kw: dict) -> dict:
    """The official config.json (upstream `AutoencoderKLCausal3D` format) for diffusers keywords `kw`."""
    n = len(kw["block_out_channels"])
    return {
        "_class_name": "AutoencoderKLCausal3D",
        "act_fn": kw["act_fn"],
        "block_out_channels": list(kw["block_out_channels"]),
        "down_block_types": ["DownEncoderBlockCausal3D"] * n,
        "up_block_types": ["UpDecoderBlockCausal3D"] * n,
        "in_channels": kw["in_channels"],
        "out_channels": kw["out_channels"],
        "latent_channels": kw["latent_channels"],
        "layers_per_block": kw["layers_per_block"],
        "norm_num_groups": kw["norm_num_groups"],
        "sample_size": 256,
        "sample_tsize": 64,
        "scaling_factor": kw["scaling_factor"],
        "time_compression_ratio": kw["temporal_compression_ratio"],
        "mid_block_add_attention": kw["mid_block_add_attention"],
    }


def strip_vae_state_dict(ckpt: dict) -> dict[str, Tensor]:
    sd = ckpt.get("state_dict", ckpt)
    return {k.removeprefix("vae."): v for k, v in sd.items()}


def load_vae(
    vae_dir: str | Path,
    dtype: torch.dtype = torch.float16,
    device: torch.device | str = "cpu",
    tiling: bool = True,
):
    """Build the VAE from `vae_dir`, load its weights strictly, optionally turn on tiled decoding.

    Tiles follow upstream's sizes (256 px with 0.25 overlap, 64 frames); diffusers' blending differs
    slightly from upstream's, so tiled pixels are close to, not equal to, upstream's.
    """
    from diffusers import AutoencoderKLHunyuanVideo

    from ..utils.checkpoint import check_state_dict, load_torch_file

    vae_dir = Path(vae_dir)
    for name in (VAE_CONFIG, VAE_WEIGHTS):
        if not (vae_dir / name).is_file():
            raise FileNotFoundError(f"VAE file not found: {vae_dir / name}")
    kw = vae_kwargs(json.loads((vae_dir / VAE_CONFIG).read_text()))
    with torch.device("meta"):
        vae = AutoencoderKLHunyuanVideo(**kw)
    sd = strip_vae_state_dict(load_torch_file(vae_dir / VAE_WEIGHTS))
    check_state_dict(sd, {k: v.shape for k, v in vae.state_dict().items()}, f"VAE {vae_dir / VAE_WEIGHTS}")
    # Cast the tensors, not the module: diffusers warns on ModelMixin.to(dtype).
    vae.load_state_dict({k: v.to(dtype) for k, v in sd.items()}, assign=True, strict=True)
    vae = vae.to(device=device).eval().requires_grad_(False)
    if tiling:
        vae.enable_tiling(
            tile_sample_min_height=256,
            tile_sample_min_width=256,
            tile_sample_min_num_frames=64,
            tile_sample_stride_height=192,
            tile_sample_stride_width=192,
            tile_sample_stride_num_frames=48,
        )
    logger.info(f"VAE from {vae_dir} ({dtype}, tiling {'on' if tiling else 'off'})")
    return vae
