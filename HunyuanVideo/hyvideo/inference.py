"""HunyuanVideoSampler: text-to-video with HunyuanVideo's components (LLM + CLIP text encoders, DiT, VAE).

One model pass per step: the cfg-distilled weights embed guidance (`--embedded-cfg-scale`), and real CFG
(`--cfg-scale > 1`) runs uncond and cond as one batch [uncond, cond] as upstream. `denoise()` marks each pass
with a named branch ("cond", or "uncond|cond" for the CFG batch) so that the delta cache can follow the steps
without the model knowing.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import torch
from loguru import logger
from torch import Tensor
from tqdm import tqdm

from delta_cache import StepCache

from .configs import PRECISION_TO_TYPE, HYVideoConfig
from .modules.models import HYVideoDiffusionTransformer, load_hyvideo_model
from .modules.posemb_layers import get_nd_rotary_pos_embed, rope_grid
from .offload import enable_block_offload, on_device
from .schedulers import euler_step, get_sigmas, get_timesteps
from .text_encoder import TextEncoder
from .vae import load_vae

BranchContext = Callable[[str, int], AbstractContextManager]
BRANCH_COND, BRANCH_CFG_BATCH = "cond", "uncond|cond"


def _no_branch(name: str, step: int) -> AbstractContextManager:
    return contextlib.nullcontext()


# Copied from wan/text2video.py (synchronize, GenerationStats; "generate" there is `predict` here); a test keeps
# the copies equal.
def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class GenerationStats:
    """Timings of the last `generate` call, device-synchronised, in seconds."""

    encode_seconds: float = 0.0
    denoise_seconds: float = 0.0
    decode_seconds: float = 0.0
    steps: int = 0
    model_calls: int = 0


@dataclass
class TextConditioning:
    """Everything the DiT reads from the prompt; batch-first tensors."""

    text_states: Tensor  # [B, T, C_text]
    text_mask: Tensor  # [B, T]
    text_states_2: Tensor  # [B, C_clip]

    def repeat(self, n: int) -> TextConditioning:
        return TextConditioning(*(x.repeat_interleave(n, dim=0) for x in self.astuple()))

    def astuple(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.text_states, self.text_mask, self.text_states_2

    @staticmethod
    def cat(a: TextConditioning, b: TextConditioning) -> TextConditioning:
        return TextConditioning(*(torch.cat([x, y]) for x, y in zip(a.astuple(), b.astuple(), strict=True)))


def latent_shape(config: HYVideoConfig, height: int, width: int, video_length: int) -> tuple[int, int, int, int]:
    """(C, F', H', W') for a pixel size and a 4n+1 frame count."""
    st, sh, sw = config.vae_stride
    return (config.latent_channels, (video_length - 1) // st + 1, height // sh, width // sw)


def align_to(value: int, alignment: int = 16) -> int:
    """Upstream rounds --video-size up to a multiple of 16."""
    return -(-value // alignment) * alignment


def guidance_value(scale: float, dtype: torch.dtype, batch: int, device: torch.device) -> Tensor:
    """Embedded guidance x 1000, multiplied in `dtype` as upstream (6.0 -> 6016 in bf16), returned as fp32."""
    g = torch.tensor([scale] * batch, dtype=torch.float32, device=device).to(dtype) * 1000.0
    return g.float()


def denoise(
    model: HYVideoDiffusionTransformer,
    latents: Tensor,
    sigmas: Tensor,
    cond: TextConditioning,
    freqs: tuple[Tensor, Tensor],
    cfg_scale: float = 1.0,
    guidance: Tensor | None = None,
    branch: BranchContext = _no_branch,
    progress: bool = True,
) -> Tensor:
    """The sampling loop. With cfg_scale > 1, `cond` holds [uncond; cond] and each pass is one doubled batch."""
    real_cfg = cfg_scale > 1.0
    name = BRANCH_CFG_BATCH if real_cfg else BRANCH_COND
    for i, t in enumerate(tqdm(get_timesteps(sigmas), desc="denoise", disable=not progress)):
        x_in = torch.cat([latents] * 2) if real_cfg else latents
        t_in = t.to(latents.device).repeat(x_in.shape[0])  # fp32 sigma * 1000, not truncated
        with branch(name, i):
            v = model(x_in, t_in, *cond.astuple(), *freqs, guidance)["x"]
        if real_cfg:
            v_uncond, v_cond = v.chunk(2)
            v = v_uncond + cfg_scale * (v_cond - v_uncond)
        latents = euler_step(latents, v, sigmas, i)
    return latents


class HunyuanVideoSampler:
    """Components in, videos out. Build from `--model-base` / `--dit-weight` with `from_checkpoint`."""

    def __init__(
        self,
        config: HYVideoConfig,
        text_encoder: TextEncoder,
        text_encoder_2: TextEncoder | None,
        vae,
        model: HYVideoDiffusionTransformer,
        device: torch.device | str = "cpu",
        precision: str = "bf16",
        cpu_offload: bool = False,
        disable_autocast: bool = False,
    ):
        self.config = config
        self.text_encoder, self.text_encoder_2, self.vae, self.model = text_encoder, text_encoder_2, vae, model
        self.device = torch.device(device)
        self.precision = precision
        self.cpu_offload = cpu_offload and self.device.type == "cuda"
        self.autocast = self.device.type == "cuda" and not disable_autocast
        self.stats = GenerationStats()
        if self.cpu_offload:
            enable_block_offload(model, self.device, ("double_blocks", "single_blocks"))
        else:
            model.to(self.device)

    @classmethod
    def from_checkpoint(
        cls,
        config: HYVideoConfig,
        model_base: str | Path,
        dit_weight: str | Path | None = None,
        load_key: str = "module",
        device: torch.device | str = "cpu",
        precision: str = "bf16",
        vae_precision: str = "fp16",
        text_encoder_precision: str = "fp16",
        vae_tiling: bool = True,
        cpu_offload: bool = False,
        disable_autocast: bool = False,
        text_encoder_kwargs: dict | None = None,
        use_text_encoder_2: bool = True,
    ) -> HunyuanVideoSampler:
        """Load the text encoders, VAE and DiT from the official layout under `model_base`.

        On a CPU device every component runs in fp32 (half precision is slow or unsupported there); on CUDA the
        precisions are the flags' (bf16 DiT under autocast, fp16 VAE and text encoders, as upstream).
        """
        device = torch.device(device)
        base = Path(model_base)
        cpu = device.type != "cuda"
        dtype_of = {name: torch.float32 if cpu else PRECISION_TO_TYPE[name] for name in PRECISION_TO_TYPE}
        home = torch.device("cpu") if cpu_offload else device
        te_kw = {
            "prompt_template": "dit-llm-encode",
            "prompt_template_video": "dit-llm-encode-video",
            "hidden_state_skip_layer": config.hidden_state_skip_layer,
            "count_crop_start": config.count_crop_start,
            **(text_encoder_kwargs or {}),
        }
        text_encoder = TextEncoder(
            "llm",
            config.text_len,
            base / config.text_encoder_dir,
            dtype=dtype_of[text_encoder_precision],
            device=home,
            **te_kw,
        )
        text_encoder_2 = None
        if use_text_encoder_2:
            text_encoder_2 = TextEncoder(
                "clipL",
                config.text_len_2,
                base / config.text_encoder_2_dir,
                dtype=dtype_of[text_encoder_precision],
                device=home,
            )
        vae = load_vae(base / config.vae_dir, dtype=dtype_of[vae_precision], device=home, tiling=vae_tiling)
        dit_weight = dit_weight or base / config.dit_weight
        logger.info(f"loading DiT from {dit_weight} (key {load_key!r})")
        model = load_hyvideo_model(config.model_kwargs(), str(dit_weight), load_key, "cpu", dtype_of[precision])
        return cls(config, text_encoder, text_encoder_2, vae, model, device, precision, cpu_offload, disable_autocast)

    def encode_prompt(self, prompt: str, data_type: str) -> TextConditioning:
        with on_device(self.text_encoder.model, self.device, self.cpu_offload):
            llm = self.text_encoder.encode([prompt], data_type)
        if self.text_encoder_2 is not None:
            with on_device(self.text_encoder_2.model, self.device, self.cpu_offload):
                pooled = self.text_encoder_2.encode([prompt]).hidden_state
        else:
            pooled = torch.zeros(1, self.config.text_states_dim_2, device=self.device)
        return TextConditioning(llm.hidden_state.float(), llm.attention_mask, pooled.float())

    def noise(self, shape: tuple[int, ...], seeds: list[int]) -> Tensor:
        """One generator per video, seeded `seed + i`, drawn in the text encoder's dtype on the device (upstream)."""
        dtype = self.text_encoder.model.dtype
        draws = [
            torch.randn(shape, generator=torch.Generator(self.device).manual_seed(s), device=self.device, dtype=dtype)
            for s in seeds
        ]
        return torch.stack(draws).float()

    @torch.inference_mode()
    def predict(
        self,
        prompt: str,
        height: int = 720,
        width: int = 1280,
        video_length: int = 129,
        seed: int | None = None,
        negative_prompt: str | None = None,
        infer_steps: int = 50,
        guidance_scale: float = 1.0,
        flow_shift: float = 7.0,
        embedded_guidance_scale: float | None = 6.0,
        num_videos_per_prompt: int = 1,
        batch_size: int = 1,
        flow_reverse: bool = True,
        cache: StepCache | None = None,
        progress: bool = True,
        decode: bool = True,
    ) -> tuple[Tensor, list[int]]:
        """Generate `num_videos_per_prompt` videos of one prompt, `batch_size` per denoising batch.

        Args:
            prompt: the text prompt.
            height, width: pixels; rounded up to multiples of 16 as upstream.
            video_length: frames, 4n + 1.
            seed: video i uses seed + i; None draws one.
            negative_prompt: for real CFG (guidance_scale > 1); required then.
            infer_steps: denoising steps.
            guidance_scale: real CFG scale (--cfg-scale); 1.0 = off.
            flow_shift: sigma shift of the flow schedule.
            embedded_guidance_scale: --embedded-cfg-scale for guidance-distilled models.
            num_videos_per_prompt: videos to make.
            batch_size: videos per denoising batch.
            flow_reverse: sigma from 1 to 0 (the released weights need True).
            cache: a step cache (`delta_cache.CacheHandle`): started for `infer_steps` (it refuses another count),
                its deltas cleared before each batch, and `cache.branch(name, step)` wrapped around each pass.
            progress: show a tqdm bar over steps.
            decode: False skips the VAE and returns the final latents [N, C, F', H', W'] instead (sequence-parallel
                ranks other than 0, which write nothing).

        Returns:
            (videos [N, 3, F, H, W] in [-1, 1], fp32 on the CPU; the seeds used).
        """
        cfg = self.config
        if (video_length - 1) % 4:
            raise ValueError(f"video_length must be 4n+1, got {video_length}")
        if guidance_scale > 1.0 and not negative_prompt:
            raise ValueError("guidance_scale > 1 (real CFG) needs a negative prompt")
        height, width = align_to(height), align_to(width)
        seed = random.randint(0, 1_000_000) if seed is None else seed
        seeds = [seed + i for i in range(num_videos_per_prompt)]
        logger.info(
            f"seeds {seeds}, {infer_steps} steps, shift {flow_shift}, cfg {guidance_scale}, "
            f"embedded guidance {embedded_guidance_scale if cfg.guidance_embed else 'n/a'}"
        )
        stats = self.stats = GenerationStats(steps=infer_steps)
        if cache is not None:
            cache.start(infer_steps)  # before any work: a mismatched cache fails fast
        data_type = "image" if video_length == 1 else "video"

        t0 = time.perf_counter()
        pos = self.encode_prompt(prompt, data_type)
        neg = self.encode_prompt(negative_prompt, data_type) if guidance_scale > 1.0 else None
        stats.encode_seconds = time.perf_counter() - t0

        shape = latent_shape(cfg, height, width, video_length)
        grid = rope_grid(shape[1:], cfg.patch_size)
        freqs = tuple(f.to(self.device) for f in get_nd_rotary_pos_embed(cfg.rope_dim_list, grid, cfg.rope_theta))
        sigmas = get_sigmas(infer_steps, flow_shift, flow_reverse).to(self.device)
        autocast = torch.autocast(self.device.type, dtype=PRECISION_TO_TYPE[self.precision], enabled=self.autocast)

        branch = cache.branch if cache is not None else _no_branch
        latents = []
        for start in range(0, len(seeds), batch_size):
            chunk = seeds[start : start + batch_size]
            if cache is not None:
                cache.clear_deltas()
            x = self.noise(shape, chunk)
            # Real CFG: one batch [uncond x n; cond x n], matching denoise()'s cat([latents] * 2).
            c = (
                pos.repeat(len(chunk))
                if neg is None
                else TextConditioning.cat(neg.repeat(len(chunk)), pos.repeat(len(chunk)))
            )
            n_in = len(chunk) * (1 if neg is None else 2)
            g = (
                guidance_value(embedded_guidance_scale, PRECISION_TO_TYPE[self.precision], n_in, self.device)
                if (cfg.guidance_embed and embedded_guidance_scale is not None)
                else None
            )
            synchronize(self.device)
            t0 = time.perf_counter()
            with autocast:
                x = denoise(self.model, x, sigmas, c, freqs, guidance_scale, g, branch, progress)
            synchronize(self.device)
            stats.denoise_seconds += time.perf_counter() - t0
            stats.model_calls += infer_steps
            latents.append(x)

        if not decode:
            return torch.cat(latents).cpu(), seeds
        t0 = time.perf_counter()
        videos = self.decode(torch.cat(latents))
        stats.decode_seconds = time.perf_counter() - t0
        return videos, seeds

    def decode(self, latents: Tensor) -> Tensor:
        """Latents [N, C, F', H', W'] -> videos [N, 3, F, H, W] in [-1, 1] on the CPU."""
        vae_dtype = next(self.vae.parameters()).dtype
        with on_device(self.vae, self.device, self.cpu_offload):
            z = (latents / self.vae.config.scaling_factor).to(vae_dtype)
            video = self.vae.decode(z, return_dict=False)[0]
        synchronize(self.device)
        return video.float().clamp(-1, 1).cpu()
