"""Wan2.1 as one `delta_cache.target.Target`: what the CLIs, the profiler and the harness need of it.

A task, text-to-video or image-to-video (the same image for every prompt), built from generate.py's validated
arguments. Registered as "wan" in evaluation/targets.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from loguru import logger

from delta_cache.target import Target, checkpoint_identity, where

from . import cli
from .cli import DEBUG_TASKS, TINY_TASK


class WanTarget(Target):
    name = "wan"
    tiny_target_speedup = 400 / 204  # t2v-tiny's built-in preset computes 204 of its 400 block evaluations
    tiny_defaults = {"task": TINY_TASK}
    calibration_signals = {False: "timestep_embedding", True: "timestep_projection"}
    magcache_per_branch = True  # cond and uncond are separate passes, each with its own ratio table

    # the model CLI's own parser and checks
    build_parser = staticmethod(cli.build_parser)
    validate = staticmethod(cli.validate)

    def __init__(self, args: argparse.Namespace):
        from .configs import WAN_CONFIGS

        self.args, self.cfg = args, WAN_CONFIGS[args.task]
        self.i2v = self.cfg.model_type == "i2v"
        w, h = args.size_wh
        st, sh, sw = self.cfg.vae_stride
        c, f, h, w = self.cfg.vae.z_dim, (args.frame_num - 1) // st + 1, h // sh, w // sw
        if self.i2v:  # the image's aspect ratio at the size's pixel count
            from .configs import MAX_AREA_CONFIGS
            from .image2video import i2v_latent_size

            h, w = i2v_latent_size(tuple(args.image_tensor.shape[1:]), MAX_AREA_CONFIGS[args.size], self.cfg)
        pt, ph, pw = self.cfg.patch_size
        self.latent = (c, f, h, w)
        self.grid = (f // pt, h // ph, w // pw)
        self.depths = {"blocks": self.cfg.num_layers}
        self.steps = args.sample_steps
        self.tiny = args.task == TINY_TASK
        self.frames = args.frame_num
        self.pixels = (h * self.cfg.vae_stride[1], w * self.cfg.vae_stride[2])  # (height, width)

    fps = property(lambda self: self.cfg.sample_fps)
    seed = property(lambda self: self.args.base_seed)
    random_weights = property(lambda self: self.args.task in DEBUG_TASKS)
    sp_degrees = property(lambda self: (self.args.ulysses_size, self.args.ring_size))

    def identity(self) -> dict:
        a = self.args
        return {
            "model": "wan2.1",
            "task": a.task,
            "checkpoint": f"random weights ({a.task})"
            if self.random_weights
            else checkpoint_identity(Path(a.ckpt_dir)),
            **({"image": where(a.image)} if self.i2v else {}),
            "size": a.size,
            "frames": a.frame_num,
            "steps": a.sample_steps,
            "solver": a.sample_solver,
            "shift": a.sample_shift,
            "guide_scale": a.sample_guide_scale,
        }

    def profile_name(self) -> str:
        return self.args.task

    def presets(self) -> dict:
        from .cache_spec import WAN_CACHE_PRESETS

        return WAN_CACHE_PRESETS

    def peer_constants(self) -> dict:
        from .cache_peers import peer_constants

        return peer_constants(self.args.task, self.args.ckpt_dir, self.args.size)

    def borrowed_peer_settings(self, scaled) -> tuple[dict, dict, dict]:
        from .cache_peers import borrowed_settings

        return borrowed_settings(scaled)

    def calibration_file(self) -> Path:
        return Path(self.args.ckpt_dir) / "cache_peers.json"

    def passes(self, videos: int = 1) -> dict[str, int]:
        return {"cond": self.steps, "uncond": self.steps}  # CFG as two passes per step

    def prepare(self, tmp: str) -> None:
        """Random weights for the debug tasks, written before any process group exists (each rank its own copy)."""
        if not self.args.ckpt_dir:
            from .debug import write_random_checkpoint

            logger.warning(f"{self.args.task}: random weights, no trained model: the video is noise-like")
            self.args.ckpt_dir = str(write_random_checkpoint(tmp, self.cfg, seed=0))

    def load(self, device: torch.device, group) -> None:
        """The pipeline as generate.py's flags ask: T5 on the CPU, FSDP shards, regional compile."""
        from delta_cache import compile_blocks

        from . import WanI2V, WanT2V
        from .cache_spec import WAN_CACHE_SPEC

        a = self.args
        sharded = ("dit",) * a.dit_fsdp + ("t5",) * a.t5_fsdp  # loaded on the CPU, sharded onto the device
        pipeline = WanI2V if self.i2v else WanT2V
        self.pipe = pipeline.from_checkpoint(
            self.cfg, a.ckpt_dir, device=device, t5_cpu=a.t5_cpu, load_for_sharding=sharded
        )
        self.model, self.spec = self.pipe.model, WAN_CACHE_SPEC
        if group is not None:
            from .parallel import apply_fsdp, parallelize

            parallelize(self.model, group)
            if a.dit_fsdp:  # all-gathered in bf16 on CUDA, as upstream
                apply_fsdp(self.model, self.model.blocks, device, torch.bfloat16 if device.type == "cuda" else None)
            if a.t5_fsdp:
                apply_fsdp(self.pipe.text_encoder.model, self.pipe.text_encoder.model.encoder.block, device)
        if a.compile:
            compile_blocks(self.model, WAN_CACHE_SPEC)
        self.token_order = None  # contiguous shards: the gathered order is the natural one

    def denoise_seconds(self) -> float:
        return self.pipe.stats.denoise_seconds

    def generate(self, prompt: str, seed: int, cache=None, *, progress=False, decode=False, offload=False):
        """The latent [C, F, H, W] (decode: the video [3, F, H, W] in [-1, 1]); `offload`: generate.py's
        --offload_model (the models leave the GPU between stages)."""
        from .configs import MAX_AREA_CONFIGS

        a = self.args
        # I2V: the image and the size's pixel count (the image sets the aspect ratio); T2V: the size
        target = dict(img=a.image_tensor, max_area=MAX_AREA_CONFIGS[a.size]) if self.i2v else dict(size=a.size_wh)
        return self.pipe.generate(
            prompt,
            **target,
            frame_num=a.frame_num,
            shift=a.sample_shift,
            sample_solver=a.sample_solver,
            sampling_steps=a.sample_steps,
            guide_scale=a.sample_guide_scale,
            seed=seed,
            offload_model=offload,
            cache=cache,
            progress=progress,
            decode=decode,
        )

    def save_diffusers(self, out: Path) -> dict:
        from .utils.export import save_diffusers_pipeline

        if self.i2v:
            raise ValueError("only the text-to-video tasks convert to a diffusers WanPipeline")
        save_diffusers_pipeline(out, self.cfg, self.pipe)
        a = self.args
        width, height = a.size_wh
        return {
            "height": height,
            "width": width,
            "num_frames": a.frame_num,
            "num_inference_steps": a.sample_steps,
            "guidance_scale": a.sample_guide_scale,
            "negative_prompt": self.cfg.sample_neg_prompt,
            "max_sequence_length": self.cfg.text_len,  # WanPipeline pads to this many text tokens, as the DiT does
        }

    def decode(self, latent: torch.Tensor) -> np.ndarray:
        from scenes.metrics import to_frames

        return to_frames(self.pipe.vae.decode([latent.to(self.pipe.device)])[0])

    def reconstruct(self, frames: np.ndarray) -> np.ndarray:
        """The VAE's reconstruction of frames [F, H, W, 3] in [0, 1]: the ceiling it allows a generator."""
        from scenes.metrics import to_frames, to_video

        vae = self.pipe.vae
        return to_frames(vae.decode(vae.encode([to_video(frames).to(self.pipe.device)]))[0])

    def teacher_forced(self, scene, seed: int, observer) -> tuple[torch.Tensor, np.ndarray]:
        """The model's passes on a true rendering noised to each sampler sigma; returns its mask and frames."""
        from scenes import render_scene

        from .schedulers import make_scheduler
        from .text2video import latent_shape, sequence_length

        a, pipe = self.args, self.pipe
        w, h = a.size_wh
        rendered = render_scene(scene, a.frame_num, h, w, seed)
        video = torch.from_numpy(rendered.video).permute(3, 0, 1, 2) * 2 - 1  # [3, F, H, W] in [-1, 1]
        z0 = pipe.vae.encode([video.to(pipe.device)])[0]
        shape = latent_shape(self.cfg, a.size_wh, a.frame_num)
        seq_len = sequence_length(self.cfg, shape, sp_size=pipe.model.sp.size)
        noise = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(pipe.device)
        sched = make_scheduler(a.sample_solver, a.sample_steps, a.sample_shift, pipe.device)
        context = pipe.encode_prompts([scene.prompt], False)
        null = pipe.encode_prompts([self.cfg.sample_neg_prompt], False)
        observer.start(a.sample_steps)
        with torch.no_grad():
            for i, t in enumerate(sched.timesteps):
                sigma = float(sched.sigmas[i])
                x = (1 - sigma) * z0 + sigma * noise
                for name, ctx in (("cond", context), ("uncond", null)):
                    with observer.branch(name, i):
                        pipe.model([x], t=t.reshape(1), context=ctx, seq_len=seq_len)
        self.true_latent = z0.cpu()  # for the motion rule's IoU against the ground truth
        return torch.from_numpy(rendered.foreground), rendered.video  # pixel mask [F, H, W], frames [F, H, W, 3]
