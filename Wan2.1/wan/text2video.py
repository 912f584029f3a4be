"""WanT2V: text-to-video with the Wan2.1 components (T5, DiT, VAE) and the flow samplers.

CFG runs as two named passes per step, "cond" then "uncond" (upstream order); `denoise()` lets a caller wrap
each pass (the delta cache marks its branches this way) without the model knowing, and `generate(cache=...)`
takes any object with the `StepCache` methods (a `delta_cache.CacheHandle`).
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
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

from .configs import WanConfig
from .modules.model import WanModel, load_wan_model
from .modules.t5 import T5EncoderModel
from .modules.vae import WanVAE
from .schedulers import make_scheduler

BranchContext = Callable[[str, int], AbstractContextManager]


def _no_branch(name: str, step: int) -> AbstractContextManager:
    return contextlib.nullcontext()


def movable(module: torch.nn.Module) -> bool:
    """False for an FSDP-sharded module: its shards already live on their devices and are never moved."""
    from torch.distributed.fsdp import FSDPModule

    return not isinstance(module, FSDPModule)


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


def latent_shape(config: WanConfig, size: tuple[int, int], frame_num: int) -> tuple[int, int, int, int]:
    """(C, F', H', W') for a W*H size and a 4n+1 frame count."""
    w, h = size
    st, sh, sw = config.vae_stride
    return (config.vae.z_dim, (frame_num - 1) // st + 1, h // sh, w // sw)


def sequence_length(config: WanConfig, latent: tuple[int, int, int, int], sp_size: int = 1) -> int:
    """Token count padded to a multiple of the sequence-parallel size (upstream's seq_len)."""
    _, f, h, w = latent
    pt, ph, pw = config.patch_size
    tokens = (f // pt) * (h // ph) * (w // pw)
    return math.ceil(tokens / sp_size) * sp_size


def denoise(
    model: WanModel,
    latent: Tensor,
    scheduler,
    context: list[Tensor],
    context_null: list[Tensor],
    guide_scale: float,
    seq_len: int,
    branch: BranchContext = _no_branch,
    progress: bool = True,
    condition: dict | None = None,
) -> Tensor:
    """The sampling loop: v = v_u + g (v_c - v_u), then one scheduler step. Returns the final latent.

    `condition`: extra model keywords both branches get (image-to-video: `clip_fea` and `y`).
    """
    extra = condition or {}
    for i, t in enumerate(tqdm(scheduler.timesteps, desc="denoise", disable=not progress)):
        ts = t.reshape(1).to(latent.device)
        with branch("cond", i):
            v_cond = model([latent], t=ts, context=context, seq_len=seq_len, **extra)[0]
        with branch("uncond", i):
            v_uncond = model([latent], t=ts, context=context_null, seq_len=seq_len, **extra)[0]
        v = v_uncond + guide_scale * (v_cond - v_uncond)
        latent = scheduler.step(v[None], t, latent[None], return_dict=False)[0][0]
    return latent


def check_task_matches(config: WanConfig, ckpt_dir: Path) -> None:
    """Refuse a checkpoint directory whose config.json describes another model than the task."""
    from .utils.checkpoint import read_dit_config

    found = read_dit_config(ckpt_dir)
    keys = ("model_type", "dim", "ffn_dim", "num_heads", "num_layers", "in_dim", "out_dim", "text_len")
    diff = {k: (found[k], getattr(config, k)) for k in keys if k in found and found[k] != getattr(config, k)}
    if diff:
        shown = ", ".join(f"{k}={a} (task: {b})" for k, (a, b) in diff.items())
        raise ValueError(f"checkpoint {ckpt_dir} does not match task {config.name}: config.json has {shown}")


class WanT2V:
    """Components in, video out. Build from an official checkpoint directory with `from_checkpoint`."""

    def __init__(
        self,
        config: WanConfig,
        text_encoder: T5EncoderModel,
        vae: WanVAE,
        model: WanModel,
        device: torch.device | str = "cpu",
        t5_cpu: bool = False,
    ):
        self.config = config
        self.text_encoder, self.vae, self.model = text_encoder, vae, model
        self.device = torch.device(device)
        self.t5_cpu = t5_cpu
        self.stats = GenerationStats()

    @classmethod
    def from_checkpoint(
        cls,
        config: WanConfig,
        checkpoint_dir: str | Path,
        device: torch.device | str = "cpu",
        t5_cpu: bool = False,
        dit_dtype: torch.dtype = torch.float32,
        load_for_sharding: tuple[str, ...] = (),
    ) -> WanT2V:
        """Load T5, VAE and DiT from the official files of `checkpoint_dir`.

        The DiT stays fp32 and runs under bf16 autocast on CUDA, as upstream; on CPU it runs in fp32.
        `load_for_sharding` names components ("dit", "t5") left on the CPU for `wan.parallel.apply_fsdp` to
        shard onto the device (`--dit_fsdp` / `--t5_fsdp`), so the whole model never sits on one GPU.
        """
        device = torch.device(device)
        ckpt = Path(checkpoint_dir)
        check_task_matches(config, ckpt)  # cheap: config.json only, before any weights load
        logger.info(f"loading T5 from {ckpt / config.t5_checkpoint}")
        text_encoder = T5EncoderModel(
            text_len=config.text_len,
            config=config.t5,
            checkpoint_path=ckpt / config.t5_checkpoint,
            tokenizer_path=ckpt / config.t5_tokenizer,
            dtype=config.t5_dtype if device.type == "cuda" or t5_cpu else torch.float32,
            device="cpu" if t5_cpu or "t5" in load_for_sharding else device,
        )
        logger.info(f"loading VAE from {ckpt / config.vae_checkpoint}")
        vae = WanVAE(ckpt / config.vae_checkpoint, config.vae, device=device)
        logger.info(f"loading DiT from {ckpt}")
        model = load_wan_model(str(ckpt), device="cpu" if "dit" in load_for_sharding else device, dtype=dit_dtype)
        extra = cls.load_extra_components(config, ckpt, device)
        return cls(config, text_encoder, vae, model, device=device, t5_cpu=t5_cpu, **extra)

    @classmethod
    def load_extra_components(cls, config: WanConfig, ckpt: Path, device: torch.device) -> dict:
        """Components a subclass needs beyond T5, VAE and DiT (keywords of its constructor); none here."""
        return {}

    def encode_prompts(self, prompts: list[str], offload_model: bool) -> list[Tensor]:
        t5_moves = not self.t5_cpu and movable(self.text_encoder.model)
        if t5_moves:
            self.text_encoder.model.to(self.device)
        # fp32 for the DiT: lossless for bf16 features, and autocast re-casts them on CUDA as upstream does.
        out = [u.float() for u in self.text_encoder(prompts, self.device)]
        if offload_model and t5_moves and self.device.type == "cuda":
            self.text_encoder.model.cpu()
        return out

    @torch.inference_mode()
    def generate(
        self,
        input_prompt: str,
        size: tuple[int, int] = (1280, 720),
        frame_num: int = 81,
        shift: float = 5.0,
        sample_solver: str = "unipc",
        sampling_steps: int = 50,
        guide_scale: float = 5.0,
        n_prompt: str = "",
        seed: int = -1,
        offload_model: bool = True,
        cache: StepCache | None = None,
        progress: bool = True,
        decode: bool = True,
    ) -> Tensor:
        """Generate one video.

        Args:
            input_prompt: the text prompt.
            size: (width, height) in pixels.
            frame_num: frames, 4n + 1.
            shift: flow shift of the sampler.
            sample_solver: "unipc" or "dpm++".
            sampling_steps: denoising steps.
            guide_scale: classifier-free guidance scale.
            n_prompt: negative prompt; empty means the config's `sample_neg_prompt`.
            seed: noise seed; -1 draws one at random.
            offload_model: move T5/DiT to the CPU when not in use (CUDA only).
            cache: a step cache (`delta_cache.CacheHandle`): started for `sampling_steps` (it refuses another
                count) and wrapped around each model pass as `cache.branch(name, step)`, "cond" then "uncond".
            progress: show a tqdm bar over steps.
            decode: False skips the VAE and returns the final latent [C, F', H', W'] (sequence-parallel ranks
                other than 0, which write nothing).

        Returns:
            The video [3, F, H, W] in [-1, 1], fp32, on the CPU.
        """
        if (frame_num - 1) % 4:
            raise ValueError(f"frame_num must be 4n+1, got {frame_num}")
        shape = latent_shape(self.config, size, frame_num)
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
        )

    def sample(
        self,
        input_prompt: str,
        shape: tuple[int, int, int, int],
        shift: float,
        sample_solver: str,
        sampling_steps: int,
        guide_scale: float,
        n_prompt: str,
        seed: int,
        offload_model: bool,
        cache: StepCache | None,
        progress: bool,
        decode: bool,
        condition: Callable[[], dict] | None = None,
    ) -> Tensor:
        """`generate` from the latent shape on: encode, denoise, decode. `condition()` (run after the prompts
        are encoded, timed with them) returns extra model keywords for every pass (image-to-video's)."""
        cfg = self.config
        seed = seed if seed >= 0 else random.randint(0, sys.maxsize)
        logger.info(f"seed {seed}, {sampling_steps} steps of {sample_solver}, shift {shift}, guide {guide_scale}")
        seq_len = sequence_length(cfg, shape, sp_size=self.model.sp.size)  # padded to the sequence-parallel group
        stats = self.stats = GenerationStats(steps=sampling_steps)
        if cache is not None:
            cache.start(sampling_steps)  # before any work: a mismatched cache fails fast

        t0 = time.perf_counter()
        context = self.encode_prompts([input_prompt], offload_model)
        context_null = self.encode_prompts([n_prompt or cfg.sample_neg_prompt], offload_model)
        extra = condition() if condition is not None else None
        stats.encode_seconds = time.perf_counter() - t0

        generator = torch.Generator(device=self.device).manual_seed(seed)
        noise = torch.randn(shape, dtype=torch.float32, device=self.device, generator=generator)
        scheduler = make_scheduler(sample_solver, sampling_steps, shift, self.device, cfg.num_train_timesteps)
        dit_moves = movable(self.model)
        if dit_moves:
            self.model.to(self.device)
        autocast = torch.autocast(self.device.type, dtype=cfg.param_dtype, enabled=self.device.type == "cuda")

        synchronize(self.device)
        t0 = time.perf_counter()
        with autocast:
            latent = denoise(
                self.model,
                noise,
                scheduler,
                context,
                context_null,
                guide_scale,
                seq_len,
                branch=cache.branch if cache is not None else _no_branch,
                progress=progress,
                condition=extra,
            )
        synchronize(self.device)
        stats.denoise_seconds = time.perf_counter() - t0
        stats.model_calls = 2 * sampling_steps
        if offload_model and dit_moves and self.device.type == "cuda":
            self.model.cpu()
            torch.cuda.empty_cache()

        if not decode:
            return latent.cpu()
        t0 = time.perf_counter()
        video = self.vae.decode([latent])[0]
        synchronize(self.device)
        stats.decode_seconds = time.perf_counter() - t0
        return video.cpu()
