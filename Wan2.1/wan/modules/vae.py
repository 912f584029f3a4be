"""Wan-VAE from the official `Wan2.1_VAE.pth`, run by diffusers' `AutoencoderKLWan`.

diffusers' class is a port of upstream's causal 3-D VAE (same convolutions, chunked causal caching and
clamping); the official file is converted by renaming keys. Per-channel latent normalisation (mean/std
below, upstream constants) is applied here, as upstream's `WanVAE` does, not inside the autoencoder.

Frame count: F = 4n + 1 frames <-> n + 1 latent frames.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import Tensor

from ..configs import WanVAEConfig
from ..utils.checkpoint import check_state_dict, load_torch_file

LATENT_MEAN = [
    -0.7571,
    -0.7089,
    -0.9113,
    0.1075,
    -0.1745,
    0.9653,
    -0.1517,
    1.5508,
    0.4134,
    -0.0715,
    0.5517,
    -0.3632,
    -0.1922,
    -0.9497,
    0.2503,
    -0.2921,
]
LATENT_STD = [
    2.8184,
    1.4541,
    2.3275,
    2.6558,
    1.2196,
    1.7708,
    2.6052,
    2.0743,
    3.2687,
    2.1526,
    2.8652,
    1.5579,
    1.6382,
    1.1253,
    2.8251,
    1.9160,
]

# Inside a residual block: upstream's Sequential indices -> diffusers' names.
_RESIDUAL = {
    "residual.0": "norm1",
    "residual.2": "conv1",
    "residual.3": "norm2",
    "residual.6": "conv2",
    "shortcut": "conv_shortcut",
}
_MIDDLE = {"0": "resnets.0", "1": "attentions.0", "2": "resnets.1"}


def _residual_part(rest: str) -> str:
    for old, new in _RESIDUAL.items():
        if rest.startswith(old + "."):
            return new + rest[len(old) :]
    return rest  # resample.1.*, time_conv.*


def vae_to_diffusers(state_dict: dict[str, Tensor], num_res_blocks: int = 2) -> dict[str, Tensor]:
    """Upstream Wan-VAE keys -> diffusers AutoencoderKLWan keys.

    The decoder's flat `upsamples` list holds, per level, num_res_blocks + 1 residual blocks and then one
    resample (none after the last level); diffusers groups them as up_blocks[level].resnets / upsamplers.
    """
    per_level = num_res_blocks + 2
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        new = key
        if m := re.match(r"^(encoder|decoder)\.conv1\.(.*)$", key):
            new = f"{m[1]}.conv_in.{m[2]}"
        elif m := re.match(r"^conv1\.(.*)$", key):
            new = f"quant_conv.{m[1]}"
        elif m := re.match(r"^conv2\.(.*)$", key):
            new = f"post_quant_conv.{m[1]}"
        elif m := re.match(r"^(encoder|decoder)\.head\.0\.(.*)$", key):
            new = f"{m[1]}.norm_out.{m[2]}"
        elif m := re.match(r"^(encoder|decoder)\.head\.2\.(.*)$", key):
            new = f"{m[1]}.conv_out.{m[2]}"
        elif m := re.match(r"^(encoder|decoder)\.middle\.(\d)\.(.*)$", key):
            new = f"{m[1]}.mid_block.{_MIDDLE[m[2]]}.{_residual_part(m[3])}"
        elif m := re.match(r"^encoder\.downsamples\.(\d+)\.(.*)$", key):
            new = f"encoder.down_blocks.{m[1]}.{_residual_part(m[2])}"
        elif m := re.match(r"^decoder\.upsamples\.(\d+)\.(.*)$", key):
            level, pos = divmod(int(m[1]), per_level)
            if pos <= num_res_blocks:
                new = f"decoder.up_blocks.{level}.resnets.{pos}.{_residual_part(m[2])}"
            else:
                new = f"decoder.up_blocks.{level}.upsamplers.0.{m[2]}"
        out[new] = value
    return out


def vae_from_diffusers(state_dict: dict[str, Tensor], num_res_blocks: int = 2) -> dict[str, Tensor]:
    """Inverse of `vae_to_diffusers` (used to write official-format test checkpoints)."""
    inv_res = {v: k for k, v in _RESIDUAL.items()}
    inv_mid = {v: k for k, v in _MIDDLE.items()}
    per_level = num_res_blocks + 2

    def residual_back(rest: str) -> str:
        head, _, tail = rest.partition(".")
        return f"{inv_res[head]}.{tail}" if head in inv_res else rest

    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        new = key
        if m := re.match(r"^(encoder|decoder)\.conv_in\.(.*)$", key):
            new = f"{m[1]}.conv1.{m[2]}"
        elif m := re.match(r"^quant_conv\.(.*)$", key):
            new = f"conv1.{m[1]}"
        elif m := re.match(r"^post_quant_conv\.(.*)$", key):
            new = f"conv2.{m[1]}"
        elif m := re.match(r"^(encoder|decoder)\.norm_out\.(.*)$", key):
            new = f"{m[1]}.head.0.{m[2]}"
        elif m := re.match(r"^(encoder|decoder)\.conv_out\.(.*)$", key):
            new = f"{m[1]}.head.2.{m[2]}"
        elif m := re.match(r"^(encoder|decoder)\.mid_block\.(resnets\.\d|attentions\.0)\.(.*)$", key):
            new = f"{m[1]}.middle.{inv_mid[m[2]]}.{residual_back(m[3])}"
        elif m := re.match(r"^encoder\.down_blocks\.(\d+)\.(.*)$", key):
            new = f"encoder.downsamples.{m[1]}.{residual_back(m[2])}"
        elif m := re.match(r"^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$", key):
            new = f"decoder.upsamples.{int(m[1]) * per_level + int(m[2])}.{residual_back(m[3])}"
        elif m := re.match(r"^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.*)$", key):
            new = f"decoder.upsamples.{int(m[1]) * per_level + num_res_blocks + 1}.{m[2]}"
        out[new] = value
    return out


def build_autoencoder(cfg: WanVAEConfig):
    """An AutoencoderKLWan of the given geometry (random weights)."""
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(
        base_dim=cfg.base_dim,
        z_dim=cfg.z_dim,
        dim_mult=list(cfg.dim_mult),
        num_res_blocks=cfg.num_res_blocks,
        temperal_downsample=list(cfg.temperal_downsample),
        latents_mean=LATENT_MEAN,
        latents_std=LATENT_STD,
    )


class WanVAE:
    """Encode videos [3, F, H, W] in [-1, 1] to normalised latents [16, F', H/8, W/8], and back."""

    def __init__(
        self,
        vae_pth: str | Path,
        config: WanVAEConfig,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ):
        if config.z_dim != len(LATENT_MEAN):
            raise ValueError(f"Wan-VAE latent normalisation needs z_dim=16, got {config.z_dim}")
        self.dtype, self.device = dtype, torch.device(device)
        sd = vae_to_diffusers(load_torch_file(vae_pth), config.num_res_blocks)
        with torch.device("meta"):
            model = build_autoencoder(config)
        check_state_dict(
            sd,
            {k: v.shape for k, v in model.state_dict().items()},
            what=f"VAE checkpoint {vae_pth}",
            translate=lambda d: vae_from_diffusers(d, config.num_res_blocks),
        )
        model.load_state_dict({k: v.to(dtype) for k, v in sd.items()}, strict=True, assign=True)
        self.model = model.eval().requires_grad_(False).to(self.device)
        self.mean = torch.tensor(LATENT_MEAN, dtype=torch.float32).view(-1, 1, 1, 1)
        self.std = torch.tensor(LATENT_STD, dtype=torch.float32).view(-1, 1, 1, 1)

    @torch.inference_mode()
    def encode(self, videos: list[Tensor]) -> list[Tensor]:
        out = []
        for v in videos:
            mu = self.model.encode(v[None].to(self.device, self.dtype)).latent_dist.mode()[0].float()
            out.append((mu - self.mean.to(mu.device)) / self.std.to(mu.device))
        return out

    @torch.inference_mode()
    def decode(self, zs: list[Tensor]) -> list[Tensor]:
        out = []
        for z in zs:
            z = z.float().to(self.device) * self.std.to(self.device) + self.mean.to(self.device)
            video = self.model.decode(z[None].to(self.dtype)).sample[0]
            out.append(video.float().clamp_(-1, 1))
        return out
