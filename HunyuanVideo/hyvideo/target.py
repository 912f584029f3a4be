"""HunyuanVideo as one `delta_cache.target.Target`: what the CLIs, the profiler and the harness need of it.

Built from sample_video.py's validated arguments. Registered as "hunyuanvideo" in evaluation/targets.py; its own
config names (HYVideo-T/2-cfgdistill, HYVideo-tiny, HYVideo-debug) select it as well.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from loguru import logger

from delta_cache.target import Target, where

from . import cli
from .configs import HUNYUAN_VIDEO_CONFIG, TINY_MODEL


class HunyuanTarget(Target):
    name = "hunyuanvideo"
    model_values = tuple(HUNYUAN_VIDEO_CONFIG)
    tiny_target_speedup = 3000 / 1632  # the release's preset on HYVideo-tiny: 1632 of 3000 block evaluations
    tiny_defaults = {"model": TINY_MODEL}
    calibration_signals = {False: "modulated_input"}
    magcache_per_branch = False  # CFG (where used) runs batched: one pass, one ratio table

    # the model CLI's own parser and checks
    build_parser = staticmethod(cli.build_parser)
    validate = staticmethod(cli.validate)

    def __init__(self, args: argparse.Namespace):
        from .cli import model_config

        self.args, self.cfg = args, model_config(args)
        cfg = self.cfg
        height, width = (-(-n // 16) * 16 for n in args.video_size)
        st, sh, sw = cfg.vae_stride
        f, h, w = (args.video_length - 1) // st + 1, height // sh, width // sw
        pt, ph, pw = cfg.patch_size
        self.latent = (cfg.latent_channels, f, h, w)
        self.grid = (f // pt, h // ph, w // pw)
        self.depths = {"double_blocks": cfg.mm_double_blocks_depth, "single_blocks": cfg.mm_single_blocks_depth}
        self.steps = args.infer_steps
        self.tiny = cfg.name == TINY_MODEL
        self.frames, self.pixels = args.video_length, (height, width)

    fps = property(lambda self: self.cfg.fps)
    seed = property(lambda self: self.args.seed)
    random_weights = property(lambda self: self.args.random_weights)
    sp_degrees = property(lambda self: (self.args.ulysses_degree, self.args.ring_degree))

    def identity(self) -> dict:
        a = self.args
        return {
            "model": "hunyuanvideo",
            "config": self.cfg.name,
            "checkpoint": "random weights (HYVideo-debug)" if a.random_weights else where(a.dit_weight or a.model_base),
            "size": list(a.video_size),
            "frames": a.video_length,
            "steps": a.infer_steps,
            "shift": a.flow_shift,
            "embedded_cfg_scale": a.embedded_cfg_scale,
            "cfg_scale": a.cfg_scale,
        }

    def profile_name(self) -> str:
        return self.cfg.name.replace("/", "-")

    def presets(self) -> dict:
        from .cache_spec import HY_CACHE_PRESETS

        return HY_CACHE_PRESETS

    def _dit_folder(self) -> Path | None:
        from .cache_peers import dit_folder

        return dit_folder(self.args.model_base, self.args.dit_weight, self.cfg.dit_weight)

    def peer_constants(self) -> dict:
        from .cache_peers import peer_constants

        return peer_constants(self.args.video_size[0], self._dit_folder(), self.cfg.name)

    def borrowed_peer_settings(self, scaled) -> tuple[dict, dict]:
        from .cache_peers import borrowed_settings

        return borrowed_settings(scaled)

    def calibration_file(self) -> Path:
        return self._dit_folder() / "cache_peers.json"

    @property
    def branch(self) -> str:
        """The sampler's name for its one model pass per step: the [uncond; cond] batch under real CFG."""
        from .inference import BRANCH_CFG_BATCH, BRANCH_COND

        return BRANCH_CFG_BATCH if self.args.cfg_scale > 1.0 else BRANCH_COND

    def passes(self, videos: int = 1) -> dict[str, int]:
        return {self.branch: -(-videos // self.args.batch_size) * self.steps}

    def prepare(self, tmp: str) -> None:
        """Random weights for HYVideo-debug, written before any process group exists (transformers writes
        nothing on ranks other than 0 once torch.distributed is up)."""
        if self.args.random_weights:
            from .debug import write_random_checkpoint

            logger.warning(f"{self.cfg.name}: random weights, no trained model: the video is noise-like")
            self.args.model_base = str(write_random_checkpoint(tmp, self.cfg, seed=0))

    def load(self, device: torch.device, group) -> None:
        """The sampler as sample_video.py's flags ask (precisions, VAE tiling, offload, prompt templates)."""
        from delta_cache import compile_blocks

        from .cache_spec import HY_CACHE_SPEC
        from .inference import HunyuanVideoSampler

        a = self.args
        text_kw = dict(
            prompt_template=a.prompt_template,
            prompt_template_video=a.prompt_template_video,
            apply_final_norm=a.apply_final_norm,
        )
        self.sampler = HunyuanVideoSampler.from_checkpoint(
            self.cfg,
            a.model_base,
            a.dit_weight,
            a.load_key,
            device=device,
            precision=a.precision,
            vae_precision=a.vae_precision,
            text_encoder_precision=a.text_encoder_precision,
            vae_tiling=a.vae_tiling,
            cpu_offload=a.use_cpu_offload,
            disable_autocast=a.disable_autocast,
            text_encoder_kwargs=text_kw,
        )
        self.model, self.spec = self.sampler.model, HY_CACHE_SPEC
        self.token_order = None
        if group is not None:
            from delta_cache.profiler import gathered_token_order

            from .parallel import parallelize

            parallelize(self.model, group)
            grid = self.grid
            shard = lambda x: self.model.sp.shard(x, None, grid)[0]  # noqa: E731  the model's own rule
            self.token_order = gathered_token_order(shard, int(np.prod(grid)), group)
        if a.compile:
            compile_blocks(self.model, HY_CACHE_SPEC)

    def denoise_seconds(self) -> float:
        return self.sampler.stats.denoise_seconds

    def generate(self, prompt: str, seed: int, cache=None, *, progress=False, decode=False, videos=None):
        """The latent [C, F, H, W] (decode: the video [3, F, H, W] in [-1, 1]); `videos=N`: N videos of seeds
        seed + i in --batch-size batches, returned as one batch [N, ...]."""
        a = self.args
        height, width = a.video_size
        out, _ = self.sampler.predict(
            prompt,
            height,
            width,
            a.video_length,
            seed=seed,
            negative_prompt=a.neg_prompt,
            infer_steps=a.infer_steps,
            guidance_scale=a.cfg_scale,
            flow_shift=a.flow_shift,
            embedded_guidance_scale=a.embedded_cfg_scale,
            num_videos_per_prompt=videos or 1,
            batch_size=a.batch_size,
            flow_reverse=a.flow_reverse,
            cache=cache,
            progress=progress,
            decode=decode,
        )
        return out if videos is not None else out[0]

    def save_diffusers(self, out: Path) -> dict:
        from .utils.export import diffusers_call_kwargs, save_diffusers_pipeline

        save_diffusers_pipeline(out, self.sampler)
        a = self.args
        height, width = a.video_size
        return {
            "height": height,
            "width": width,
            "num_frames": a.video_length,
            "num_inference_steps": a.infer_steps,
            # real CFG as two passes (our sampler batches them); the embedded guidance where the model has one
            "true_cfg_scale": a.cfg_scale,
            "negative_prompt": a.neg_prompt if a.cfg_scale > 1 else None,
            "guidance_scale": a.embedded_cfg_scale or 1.0,
            **diffusers_call_kwargs(self.sampler),
        }

    def decode(self, latent: torch.Tensor) -> np.ndarray:
        from scenes.metrics import to_frames

        return to_frames(self.sampler.decode(latent[None])[0])

    def reconstruct(self, frames: np.ndarray) -> np.ndarray:
        """The VAE's reconstruction of frames [F, H, W, 3] in [0, 1], through the sampler's own decode."""
        from scenes.metrics import to_video

        return self.decode(self.encode(to_video(frames)))

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """A video [3, F, H, W] in [-1, 1] -> its scaled latent, as the sampler's decode expects it."""
        vae = self.sampler.vae
        x = video[None].to(self.sampler.device, next(vae.parameters()).dtype)
        with torch.no_grad():
            return vae.encode(x).latent_dist.mode()[0].float() * vae.config.scaling_factor

    def teacher_forced(self, scene, seed: int, observer) -> tuple[torch.Tensor, np.ndarray]:
        """As WanTarget's: the model's passes on a true rendering noised to each sampler sigma, in the batch
        the sampler runs ([uncond; cond] under real CFG, one branch); returns its mask and frames."""
        from scenes import render_scene

        from .configs import PRECISION_TO_TYPE
        from .inference import TextConditioning, guidance_value
        from .modules.posemb_layers import get_nd_rotary_pos_embed, rope_grid
        from .schedulers import get_sigmas, get_timesteps

        a, s, cfg = self.args, self.sampler, self.cfg
        rendered = render_scene(scene, a.video_length, *self.pixels, seed)
        z0 = self.encode(torch.from_numpy(rendered.video).permute(3, 0, 1, 2) * 2 - 1)[None]
        noise = s.noise(tuple(z0.shape[1:]), [seed])
        sigmas = get_sigmas(a.infer_steps, a.flow_shift, a.flow_reverse).to(s.device)
        real_cfg = a.cfg_scale > 1.0
        cond = s.encode_prompt(scene.prompt, "video")
        if real_cfg:
            cond = TextConditioning.cat(s.encode_prompt(a.neg_prompt, "video"), cond)
        n_in = 2 if real_cfg else 1
        dtype = PRECISION_TO_TYPE[s.precision]
        use_guidance = cfg.guidance_embed and a.embedded_cfg_scale is not None
        guidance = guidance_value(a.embedded_cfg_scale, dtype, n_in, s.device) if use_guidance else None
        grid = rope_grid(tuple(z0.shape[2:]), cfg.patch_size)
        freqs = tuple(f.to(s.device) for f in get_nd_rotary_pos_embed(cfg.rope_dim_list, grid, cfg.rope_theta))
        observer.start(a.infer_steps)
        autocast = torch.autocast(s.device.type, dtype=dtype, enabled=s.autocast)
        with torch.no_grad(), autocast:
            for i, t in enumerate(get_timesteps(sigmas)):
                x = ((1 - sigmas[i]) * z0 + sigmas[i] * noise).repeat(n_in, 1, 1, 1, 1)
                with observer.branch(self.branch, i):
                    s.model(x, t.repeat(n_in), *cond.astuple(), *freqs, guidance)
        self.true_latent = z0[0].cpu()  # for the motion rule's IoU against the ground truth
        return torch.from_numpy(rendered.foreground), rendered.video
