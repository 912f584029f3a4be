"""The models as the measuring scripts drive them: load, generate to a latent, decode, teacher-force, identify.

`WanTarget` and `HunyuanTarget` wrap each stack's own pipeline (`WanT2V`, `HunyuanVideoSampler`) behind the
same few calls, built from the model's own validated command-line arguments, so that the profiler and the
evaluation harness run every model the same way. Under torchrun `load` parallelizes the model (`prepare` first
writes random debug weights, before the process group exists).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEBUG_TASKS = ("t2v-debug", "i2v-debug")  # random weights, written by `prepare`


def model_family(argv: list[str] | None, prog: str) -> tuple[str, list[str]]:
    """("wan" | "hunyuanvideo", the remaining arguments) from `--model`: wan, hunyuanvideo, or a HunyuanVideo
    config name (HunyuanVideo's own --model, which then stays)."""
    import sys

    from hyvideo.configs import HUNYUAN_VIDEO_CONFIG

    argv = list(sys.argv[1:] if argv is None else argv)
    # "--model=NAME" as argparse takes it, split so that both spellings are read alike
    argv = [part for a in argv for part in (a.split("=", 1) if a.startswith("--model=") else [a])]
    if "--model" not in argv:
        return "wan", argv
    i = argv.index("--model")
    value = argv[i + 1] if i + 1 < len(argv) else ""
    if value == "hunyuanvideo":
        del argv[i : i + 2]  # HunyuanVideo's --model then follows its own default (the tiny model without weights)
        return "hunyuanvideo", argv
    if value in HUNYUAN_VIDEO_CONFIG:
        return "hunyuanvideo", argv
    if value == "wan":
        return "wan", argv
    sys.exit(
        f"{prog}: error: unknown --model {value!r}; accepted: wan, hunyuanvideo, {', '.join(HUNYUAN_VIDEO_CONFIG)}"
    )


def model_parser(family: str, description: str) -> argparse.ArgumentParser:
    """The model's own command-line parser (generate.py's or sample_video.py's flags), to add a script's to."""
    if family == "wan":
        from wan.cli import build_parser
    else:
        from hyvideo.cli import build_parser
    p = build_parser()
    p.description = description
    if family == "wan":  # HunyuanVideo's own --model names its configs; both spellings select the family
        p.add_argument("--model", choices=["wan"], default="wan", help="wan (default) or hunyuanvideo")
    return p


def read_prompt_file(p: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """`--prompts FILE` (one prompt per line), refused with `--num_prompts`, a missing file or an empty one."""
    if args.num_prompts is not None:
        p.error("give --prompts FILE or --num_prompts N, not both")
    if not args.prompts.is_file():
        p.error(f"--prompts file not found: {args.prompts}")
    prompts = [line.strip() for line in args.prompts.read_text().splitlines() if line.strip()]
    if not prompts:
        p.error(f"--prompts file {args.prompts} holds no prompt")
    return prompts


def validate_model_args(p: argparse.ArgumentParser, args: argparse.Namespace, family: str) -> argparse.Namespace:
    if family == "wan":
        from wan.cli import validate
    else:
        from hyvideo.cli import validate
    args.family = family
    return validate(p, args)


class WanTarget:
    """A Wan2.1 task, text-to-video or image-to-video (the same image for every prompt)."""

    family = "wan"

    def __init__(self, args: argparse.Namespace):
        from wan.configs import WAN_CONFIGS

        self.args, self.cfg = args, WAN_CONFIGS[args.task]
        self.i2v = self.cfg.model_type == "i2v"
        c, f, h, w = _wan_latent(self.cfg, args.size_wh, args.frame_num)
        if self.i2v:  # the image's aspect ratio at the size's pixel count
            from wan.configs import MAX_AREA_CONFIGS
            from wan.image2video import i2v_latent_size

            h, w = i2v_latent_size(tuple(args.image_tensor.shape[1:]), MAX_AREA_CONFIGS[args.size], self.cfg)
        pt, ph, pw = self.cfg.patch_size
        self.latent = (c, f, h, w)
        self.grid = (f // pt, h // ph, w // pw)
        self.depths = {"blocks": self.cfg.num_layers}
        self.steps = args.sample_steps
        self.tiny = args.task == "t2v-tiny"
        self.frames = args.frame_num
        self.pixels = (h * self.cfg.vae_stride[1], w * self.cfg.vae_stride[2])  # (height, width)

    def identity(self) -> dict:
        a = self.args
        return {
            "model": "wan2.1",
            "task": a.task,
            "checkpoint": f"random weights ({a.task})"
            if a.task in DEBUG_TASKS
            else _checkpoint_identity(Path(a.ckpt_dir)),
            **({"image": _where(a.image)} if self.i2v else {}),
            "size": a.size,
            "frames": a.frame_num,
            "steps": a.sample_steps,
            "solver": a.sample_solver,
            "shift": a.sample_shift,
            "guide_scale": a.sample_guide_scale,
        }

    sp_degrees = property(lambda self: (self.args.ulysses_size, self.args.ring_size))

    def presets(self) -> dict:
        """The model package's built-in presets, by name."""
        from wan.cache_spec import WAN_CACHE_PRESETS

        return WAN_CACHE_PRESETS

    def peer_constants(self) -> dict:
        """The peer methods' constants: published for the real models, the checkpoint's calibration file else."""
        from wan.cache_peers import peer_constants

        return peer_constants(self.args.task, self.args.ckpt_dir, self.args.size)

    def prepare(self, tmp: str) -> None:
        """Random weights for the debug tasks, written before any process group exists (each rank its own copy)."""
        if not self.args.ckpt_dir:
            from wan.debug import write_random_checkpoint

            self.args.ckpt_dir = str(write_random_checkpoint(tmp, self.cfg, seed=0))

    def load(self, device: torch.device, group) -> None:
        from wan import WanI2V, WanT2V
        from wan.cache_spec import WAN_CACHE_SPEC

        pipeline = WanI2V if self.i2v else WanT2V
        self.pipe = pipeline.from_checkpoint(self.cfg, self.args.ckpt_dir, device=device)
        self.model, self.spec = self.pipe.model, WAN_CACHE_SPEC
        if group is not None:
            from wan.parallel import parallelize

            parallelize(self.model, group)
        self.token_order = None  # contiguous shards: the gathered order is the natural one

    def denoise_seconds(self) -> float:
        return self.pipe.stats.denoise_seconds

    def generate(self, prompt: str, seed: int, cache=None) -> torch.Tensor:
        from wan.configs import MAX_AREA_CONFIGS

        a = self.args
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
            offload_model=False,
            cache=cache,
            progress=False,
            decode=False,
        )

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
        from wan.schedulers import make_scheduler
        from wan.text2video import latent_shape, sequence_length

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


class HunyuanTarget:
    family = "hunyuanvideo"

    def __init__(self, args: argparse.Namespace):
        from sample_video import model_config

        self.args, self.cfg = args, model_config(args)
        cfg = self.cfg
        height, width = (-(-n // 16) * 16 for n in args.video_size)
        st, sh, sw = cfg.vae_stride
        f, h, w = (args.video_length - 1) // st + 1, height // sh, width // sw
        pt, ph, pw = cfg.patch_size
        self.latent = (cfg.latent_channels, f, h, w)
        self.grid = (f // pt, h // ph, w // pw)
        self.depths = {"double_blocks": cfg.mm_double_blocks_depth, "single_blocks": cfg.mm_single_blocks_depth}
        from hyvideo.configs import TINY_MODEL

        self.steps = args.infer_steps
        self.tiny = cfg.name == TINY_MODEL
        self.frames, self.pixels = args.video_length, (height, width)

    def identity(self) -> dict:
        a = self.args
        return {
            "model": "hunyuanvideo",
            "config": self.cfg.name,
            "checkpoint": "random weights (HYVideo-debug)"
            if a.random_weights
            else _where(a.dit_weight or a.model_base),
            "size": list(a.video_size),
            "frames": a.video_length,
            "steps": a.infer_steps,
            "shift": a.flow_shift,
            "embedded_cfg_scale": a.embedded_cfg_scale,
            "cfg_scale": a.cfg_scale,
        }

    sp_degrees = property(lambda self: (self.args.ulysses_degree, self.args.ring_degree))

    def presets(self) -> dict:
        """The model package's built-in presets, by name."""
        from hyvideo.cache_spec import HY_CACHE_PRESETS

        return HY_CACHE_PRESETS

    def peer_constants(self) -> dict:
        from hyvideo.cache_peers import dit_folder, peer_constants

        a = self.args
        return peer_constants(
            a.video_size[0], dit_folder(a.model_base, a.dit_weight, self.cfg.dit_weight), self.cfg.name
        )

    def prepare(self, tmp: str) -> None:
        """Random weights for HYVideo-debug, written before any process group exists (transformers writes
        nothing on ranks other than 0 once torch.distributed is up)."""
        if self.args.random_weights:
            from hyvideo.debug import write_random_checkpoint

            self.args.model_base = str(write_random_checkpoint(tmp, self.cfg, seed=0))

    def load(self, device: torch.device, group) -> None:
        from hyvideo.cache_spec import HY_CACHE_SPEC
        from hyvideo.inference import HunyuanVideoSampler

        a = self.args
        self.sampler = HunyuanVideoSampler.from_checkpoint(
            self.cfg, a.model_base, a.dit_weight, a.load_key, device=device, precision=a.precision
        )
        self.model, self.spec = self.sampler.model, HY_CACHE_SPEC
        self.token_order = None
        if group is not None:
            from delta_cache.profiler import gathered_token_order
            from hyvideo.parallel import parallelize

            parallelize(self.model, group)
            grid = self.grid
            shard = lambda x: self.model.sp.shard(x, None, grid)[0]  # noqa: E731  the model's own rule
            self.token_order = gathered_token_order(shard, int(np.prod(grid)), group)

    def denoise_seconds(self) -> float:
        return self.sampler.stats.denoise_seconds

    def generate(self, prompt: str, seed: int, cache=None) -> torch.Tensor:
        a = self.args
        height, width = a.video_size
        latents, _ = self.sampler.predict(
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
            flow_reverse=a.flow_reverse,
            cache=cache,
            progress=False,
            decode=False,
        )
        return latents[0]

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
        from hyvideo.configs import PRECISION_TO_TYPE
        from hyvideo.inference import BRANCH_CFG_BATCH, BRANCH_COND, TextConditioning, guidance_value
        from hyvideo.modules.posemb_layers import get_nd_rotary_pos_embed, rope_grid
        from hyvideo.schedulers import get_sigmas, get_timesteps
        from scenes import render_scene

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
        name = BRANCH_CFG_BATCH if real_cfg else BRANCH_COND
        observer.start(a.infer_steps)
        autocast = torch.autocast(s.device.type, dtype=dtype, enabled=s.autocast)
        with torch.no_grad(), autocast:
            for i, t in enumerate(get_timesteps(sigmas)):
                x = ((1 - sigmas[i]) * z0 + sigmas[i] * noise).repeat(n_in, 1, 1, 1, 1)
                with observer.branch(name, i):
                    s.model(x, t.repeat(n_in), *cond.astuple(), *freqs, guidance)
        self.true_latent = z0[0].cpu()  # for the motion rule's IoU against the ground truth
        return torch.from_numpy(rendered.foreground), rendered.video


def _wan_latent(cfg, size_wh, frames) -> tuple[int, int, int, int]:
    w, h = size_wh
    st, sh, sw = cfg.vae_stride
    return (cfg.vae.z_dim, (frames - 1) // st + 1, h // sh, w // sw)


def _checkpoint_identity(ckpt: Path) -> str:
    """The checkpoint folder and a hash of its config and the DiT files' names and sizes (cheap, no weights)."""
    h = hashlib.sha256()
    for f in sorted(ckpt.glob("*")):
        if f.is_file() and (f.suffix in (".json", ".safetensors", ".pth")):
            h.update(f"{f.name}:{f.stat().st_size}".encode())
    return f"{_where(ckpt)} ({h.hexdigest()[:12]})"


def _where(path: str | Path) -> str:
    """A path as the identity records it: relative to the repository for the shipped models (no local path)."""
    where = Path(path).resolve()
    return str(where.relative_to(REPO) if where.is_relative_to(REPO) else where)
