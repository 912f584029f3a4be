"""WanI2V: image-to-video with the Wan2.1 components (T5, CLIP image encoder, DiT, VAE), upstream's semantics.

The image fixes the aspect ratio and `max_area` the pixel count: the latent size is the largest patch-aligned one
of that area (`i2v_latent_size`). The DiT's 36 input channels are the 16-channel noise, a 4-channel mask of the
known frames (`frame_mask`: the first frame) and the VAE latent of the image followed by black frames; its
cross-attention also reads the image's 257 CLIP tokens. Sampling is text-to-video's loop (`WanT2V.sample`),
both branches given the same image conditioning, so the cache, the profiler and sequence parallelism apply
unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from loguru import logger
from torch import Tensor

from delta_cache import StepCache

from .configs import WanConfig
from .modules.clip import CLIPImageEncoder
from .text2video import WanT2V


def i2v_latent_size(image_hw: tuple[int, int], max_area: int, config: WanConfig) -> tuple[int, int]:
    """(latent height, latent width): the image's aspect ratio at about `max_area` pixels, rounded down to whole
    patches of latent cells (upstream's rule)."""
    h, w = image_hw
    aspect = h / w
    _, sh, sw = config.vae_stride
    _, ph, pw = config.patch_size
    lat_h = round(np.sqrt(max_area * aspect) // sh // ph * ph)
    lat_w = round(np.sqrt(max_area / aspect) // sw // pw * pw)
    if lat_h < ph or lat_w < pw:
        raise ValueError(f"an image of {w}x{h} px leaves no latent patch at max_area {max_area}")
    return lat_h, lat_w


def frame_mask(frame_num: int, lat_h: int, lat_w: int, device: torch.device | str = "cpu") -> Tensor:
    """[4, F', lat_h, lat_w]: 1 where a frame is given (the first), one channel per frame of each latent frame's
    group of 4 (the first latent frame holds one pixel frame: its mask is repeated 4 times)."""
    mask = torch.zeros(1, frame_num, lat_h, lat_w, device=device)
    mask[:, 0] = 1
    mask = torch.cat([mask[:, :1].repeat_interleave(4, dim=1), mask[:, 1:]], dim=1)  # [1, F + 3, h, w]
    return mask.view(1, mask.shape[1] // 4, 4, lat_h, lat_w).transpose(1, 2)[0]


def load_image(path: str | Path) -> Tensor:
    """An image file -> [3, H, W] in [-1, 1] (RGB; alpha dropped, grey expanded). ValueError if unreadable."""
    import imageio.v3 as iio

    try:
        pixels = np.asarray(iio.imread(Path(path)))
    except Exception as err:  # noqa: BLE001 - any decoder failure is the same user error
        raise ValueError(f"cannot read --image {path} as an image ({type(err).__name__})") from err
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=-1)
    if pixels.ndim != 3 or pixels.shape[-1] not in (3, 4) or pixels.dtype != np.uint8:
        raise ValueError(f"--image {path}: expected an 8-bit RGB or RGBA image, got {pixels.dtype} {pixels.shape}")
    return torch.from_numpy(pixels[..., :3].copy()).permute(2, 0, 1).float() / 127.5 - 1


class WanI2V(WanT2V):
    """Image and text in, video out. Build from an official I2V folder with `from_checkpoint`."""

    def __init__(self, config: WanConfig, text_encoder, vae, model, clip: CLIPImageEncoder, **kwargs):
        super().__init__(config, text_encoder, vae, model, **kwargs)
        self.clip = clip

    @classmethod
    def load_extra_components(cls, config: WanConfig, ckpt: Path, device: torch.device) -> dict:
        logger.info(f"loading CLIP from {ckpt / config.clip_checkpoint}")
        dtype = config.clip_dtype if device.type == "cuda" else torch.float32  # no fp16 convolutions on CPU
        return {"clip": CLIPImageEncoder(ckpt / config.clip_checkpoint, config.clip, device=device, dtype=dtype)}

    @torch.inference_mode()
    def generate(
        self,
        input_prompt: str,
        img: Tensor,
        max_area: int = 720 * 1280,
        frame_num: int = 81,
        shift: float = 5.0,
        sample_solver: str = "unipc",
        sampling_steps: int = 40,
        guide_scale: float = 5.0,
        n_prompt: str = "",
        seed: int = -1,
        offload_model: bool = True,
        cache: StepCache | None = None,
        progress: bool = True,
        decode: bool = True,
    ) -> Tensor:
        """Generate one video starting from `img` ([3, H, W] in [-1, 1], `load_image`); the other arguments are
        `WanT2V.generate`'s, with `max_area` (pixels) in place of the size. Returns [3, F, H', W'] in [-1, 1]."""
        if (frame_num - 1) % 4:
            raise ValueError(f"frame_num must be 4n+1, got {frame_num}")
        cfg = self.config
        lat_h, lat_w = i2v_latent_size(tuple(img.shape[1:]), max_area, cfg)
        _, sh, sw = cfg.vae_stride
        h, w = lat_h * sh, lat_w * sw
        logger.info(f"image {img.shape[2]}x{img.shape[1]} -> video {w}x{h} (max_area {max_area})")
        shape = (cfg.vae.z_dim, (frame_num - 1) // cfg.vae_stride[0] + 1, lat_h, lat_w)

        def condition() -> dict:
            clip_fea = self.clip.encode([img[:, None].to(self.device)])
            first = F.interpolate(img[None].float().cpu(), size=(h, w), mode="bicubic").transpose(0, 1)
            video = torch.cat([first, torch.zeros(3, frame_num - 1, h, w)], dim=1)  # [3, F, h, w]
            latent = self.vae.encode([video.to(self.device)])[0]
            y = torch.cat([frame_mask(frame_num, lat_h, lat_w, self.device), latent])
            return {"clip_fea": clip_fea, "y": [y]}

        return self.sample(
            input_prompt,
            shape,
            shift=shift,
            sample_solver=sample_solver,
            sampling_steps=sampling_steps,
            guide_scale=guide_scale,
            n_prompt=n_prompt,
            seed=seed,
            offload_model=offload_model,
            cache=cache,
            progress=progress,
            decode=decode,
            condition=condition,
        )
