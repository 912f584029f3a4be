"""A diffusers pipeline as a `delta_cache.target.Target`: what the profiler needs to profile it.

    python scripts/profile_model.py --diffusers FOLDER_OR_HUB_ID --prompts prompts.txt --out my_model.json

The pipeline is loaded by diffusers' own `DiffusionPipeline.from_pretrained` and called as a user calls it;
`enable_delta_cache` then takes the preset file it writes. Generation settings come from the flags, else the
folder's `delta_cache.json` (a folder scripts/to_diffusers.py wrote), else the pipeline's own defaults.
Everything the profiler checks before a model loads (the token grid, the block depths, the step count) is read
from the folder's configs: the transformer is built on the meta device, no weights are read.

The passes reach the profiler's `StepCache` through the same hook as the cache's (`drive_step_cache`), and its
`observe` seam is put on diffusers' self-attention modules from outside (`observe.add_observe_seams`).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import inspect
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..target import Target, where
from .convert import CALL_FILE

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
# the call settings a profile depends on (each a flag; where unset, the folder's or the pipeline's default)
SETTINGS = ("height", "width", "num_frames", "num_inference_steps")
GUIDANCE = ("guidance_scale", "true_cfg_scale")  # passed where the pipeline takes them (HunyuanVideo-1.5: its guider)


@functools.cache
def _diffusers():
    import diffusers

    return diffusers


def _index(source: str) -> dict:
    """The pipeline's model_index.json (local or from the Hub)."""
    return dict(_diffusers().DiffusionPipeline.load_config(source))


def _component(source: str, index: dict, name: str):
    """The pipeline's component `name` built from its config on the meta device (no weights read): its
    `.config` holds the file's values and the class's defaults for what the file leaves out."""
    from accelerate import init_empty_weights

    cls = getattr(_diffusers(), index[name][1])
    with init_empty_weights():
        return cls.from_config(cls.load_config(source, subfolder=name))


def _compression(transformer: dict, vae: dict) -> tuple[int, int, int, int]:
    """(temporal, spatial) compression of the VAE (Wan: scale_factor_*; HunyuanVideo 1.0 and 1.5:
    *_compression_ratio) and the transformer's (temporal, spatial) patch."""
    temporal = vae.get("scale_factor_temporal") or vae.get("temporal_compression_ratio") or 4
    spatial = vae.get("scale_factor_spatial") or vae.get("spatial_compression_ratio") or 8
    patch = transformer.get("patch_size", 1)
    pt, ph, _ = patch if isinstance(patch, list | tuple) else (transformer.get("patch_size_t", 1), patch, patch)
    return temporal, spatial, pt, ph


def _token_grid(transformer: dict, vae: dict, frames: int, height: int, width: int) -> tuple[int, int, int]:
    """The transformer's token grid (f, h, w) for a video of `frames` x `height` x `width` pixels."""
    temporal, spatial, pt, ph = _compression(transformer, vae)
    return ((frames - 1) // temporal + 1) // pt, height // spatial // ph, width // spatial // ph


def two_passes(pipeline_class: type, call: dict, guider_scale) -> bool:
    """Whether a `pipeline_class(**call)` runs the transformer twice a step (classifier-free guidance):
    HunyuanVideo's `true_cfg_scale` > 1, else `guidance_scale` > 1 where it is CFG (Wan), else the guider's
    (HunyuanVideo-1.5), which `guider_scale()` reads (a pipeline without a guider: one pass)."""
    parameters = inspect.signature(pipeline_class.__call__).parameters

    def value(name: str) -> float:
        default = parameters[name].default
        return float(call.get(name, 1.0 if default is inspect.Parameter.empty else default))

    if "true_cfg_scale" in parameters:  # HunyuanVideo 1.0: guidance_scale is the distilled embedded guidance
        return value("true_cfg_scale") > 1
    if "guidance_scale" in parameters:
        return value("guidance_scale") > 1
    try:
        return float(guider_scale()) > 1
    except (AttributeError, KeyError, OSError, ValueError, TypeError):  # no guider
        return False


class DiffusersTarget(Target):
    name = "diffusers"
    fps = 16
    tiny = False  # no ground-truth scenes: masks from motion, a file or SAM2
    tiny_defaults: dict = {}
    tiny_target_speedup = 2.0
    token_order = None

    @staticmethod
    def build_parser() -> argparse.ArgumentParser:
        p = argparse.ArgumentParser()
        g = p.add_argument_group("diffusers pipeline")
        g.add_argument("--diffusers", required=True, help="a diffusers pipeline: a local folder or a Hub id")
        g.add_argument("--prompt", default=None, help="the prompt (without --prompts)")
        g.add_argument("--negative_prompt", default=None)
        g.add_argument("--image", type=Path, default=None, help="the conditioning image of an image-to-video pipeline")
        for name in SETTINGS:
            g.add_argument(f"--{name}", type=int, default=None, help="default: the folder's, else the pipeline's")
        for name in GUIDANCE:
            g.add_argument(f"--{name}", type=float, default=None, help="where the pipeline takes it")
        g.add_argument("--seed", type=int, default=0, help="prompt i is generated with seed + i")
        g.add_argument("--device", default=None, help="default: cuda when there is one, else cpu")
        g.add_argument("--dtype", choices=DTYPES, default=None, help="default: bfloat16 on cuda, float32 on cpu")
        g.add_argument("--cpu_offload", action="store_true", help="the pipeline's enable_model_cpu_offload")
        return p

    @staticmethod
    def validate(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
        """Read the pipeline's configs and settle every generation setting, before any weights load."""
        source = args.diffusers
        local = Path(source)
        hub_id = source.count("/") == 1 and not source.startswith((".", "/", "~")) and not local.exists()
        if not local.is_dir() and not hub_id:
            p.error(f"--diffusers {source}: no such folder (give a diffusers pipeline folder or a Hub id owner/name)")
        try:
            index = _index(source)
        except Exception as err:  # diffusers raises OSError / EnvironmentError with its own long message
            p.error(f"--diffusers {source}: not a diffusers pipeline ({str(err).splitlines()[0]})")
        from .models import SUPPORTED, describe

        transformer = (index.get("transformer") or [None, None])[1]
        if transformer not in SUPPORTED:
            p.error(
                f"--diffusers {source}: its transformer is {transformer}; the profiler supports {', '.join(SUPPORTED)}"
            )
        if (index.get("transformer_2") or [None, None])[1] is not None:
            p.error(
                f"--diffusers {source} has two experts (Wan2.2 A14B): the profiler profiles pipelines with one "
                "transformer; give each expert a release preset or a preset file made for its depth"
            )
        cls = getattr(_diffusers(), index["_class_name"], None)
        if cls is None:
            p.error(f"--diffusers {source}: diffusers has no pipeline class {index['_class_name']}")
        parameters = inspect.signature(cls.__call__).parameters
        defaults = {k: v.default for k, v in parameters.items() if v.default is not inspect.Parameter.empty}
        folder_call = {}
        if Path(source, CALL_FILE).is_file():
            from .convert import read_call

            folder_call = read_call(source)
        call = dict(folder_call)
        for name in SETTINGS:
            value = getattr(args, name)
            if value is None:
                value = folder_call.get(name, defaults.get(name))
            if value is None:
                p.error(f"--{name} is needed: {index['_class_name']} has no default for it")
            if value < 1:
                p.error(f"--{name} must be a positive integer, got {value}")
            call[name] = value
        for name in GUIDANCE:
            if getattr(args, name) is not None:
                if name not in parameters:
                    p.error(f"--{name}: {index['_class_name']} takes no {name}")
                call[name] = getattr(args, name)
        if "image" in parameters and parameters["image"].default is inspect.Parameter.empty and args.image is None:
            p.error(f"--image is needed: {index['_class_name']} generates from an image")
        if args.image is not None:
            if "image" not in parameters:
                p.error(f"--image: {index['_class_name']} takes no image")
            if not args.image.is_file():
                p.error(f"--image file not found: {args.image}")
        if args.negative_prompt is not None:
            call["negative_prompt"] = args.negative_prompt
        args.call = call
        model = _component(source, index, "transformer")  # the depths from the built blocks, the config in full
        args.transformer_config, args.depths = dict(model.config), describe(model).depths(model)
        args.vae_config = dict(_component(source, index, "vae").config)
        args.pipeline_class, args.pipeline_index = index["_class_name"], index
        temporal, spatial, _, patch = _compression(args.transformer_config, args.vae_config)
        if call["height"] % (spatial * patch) or call["width"] % (spatial * patch):
            p.error(f"--height and --width must be multiples of {spatial * patch} for this pipeline")
        if (call["num_frames"] - 1) % temporal:
            p.error(f"--num_frames must be {temporal} x k + 1 for this pipeline, got {call['num_frames']}")
        args.two_passes = two_passes(
            cls, call, lambda: _component(source, index, "guider").config.get("guidance_scale", 1.0)
        )
        if args.dtype is None:
            args.dtype = "float32" if args.device == "cpu" or not torch.cuda.is_available() else "bfloat16"
        if args.prompt is None:
            args.prompt = "a red ball rolls across a wooden table"
        return args

    def __init__(self, args: argparse.Namespace):
        self.args = args
        c = args.call
        self.steps = int(c["num_inference_steps"])
        self.frames = int(c["num_frames"])
        self.pixels = (int(c["height"]), int(c["width"]))
        self.grid = _token_grid(args.transformer_config, args.vae_config, self.frames, *self.pixels)
        self.depths = args.depths
        self.pipe = None
        self._seconds = 0.0

    @classmethod
    def of(cls, target: Target, folder: Path) -> DiffusersTarget:
        """Our model `target` (from its CLI's flags) run through its diffusers conversion at `folder`, written on
        first use (the harness's `--via diffusers`): the same prompts, seeds, step count, presets and peer
        constants; the pipeline, its scheduler and the VAE decode are diffusers'. ValueError where the folder
        was converted from another setting."""
        from .convert import converted

        converted(target, folder)
        p = cls.build_parser()
        argv = ["--diffusers", str(folder), "--num_inference_steps", str(target.steps)]
        args = p.parse_args([*argv, "--seed", str(max(0, target.seed or 0))])
        args.device = getattr(target.args, "device", None)
        args.prompt = getattr(target.args, "prompt", None)
        out = cls(cls.validate(p, args))
        out.via, out.tiny, out.fps = target, target.tiny, target.fps
        return out

    via: Target | None = None  # the model of ours this pipeline was converted from (`of`)

    seed = property(lambda self: self.args.seed)
    random_weights = property(lambda self: False)
    sp_degrees = property(lambda self: (1, 1))

    def identity(self) -> dict:
        if self.via is not None:  # our model's identity (checkpoint, size, sampler) and the pipeline's
            return {**self.via.identity(), "via": "diffusers", "dtype": self.args.dtype}
        source = self.args.diffusers
        where_from = where(source) if Path(source).is_dir() else source
        config = json.dumps(self.args.transformer_config, sort_keys=True, default=str)
        digest = hashlib.sha256(config.encode()).hexdigest()[:12]
        return {
            "model": "diffusers",
            "pipeline": self.args.pipeline_class,
            "from": where_from,
            "transformer": f"{self.args.pipeline_index['transformer'][1]} ({digest})",
            "call": {k: v for k, v in self.args.call.items() if k != "prompt_template"},
            "dtype": self.args.dtype,
            **({"image": where(self.args.image)} if self.args.image else {}),
        }

    def profile_name(self) -> str:
        return Path(self.args.diffusers.rstrip("/")).name

    def preset_usage(self, preset: Path, method: str | None = None) -> str:
        how = f", method={method!r}" if method else ""
        return f"enable_delta_cache(pipe, preset={str(preset)!r}{how}) (from delta_cache.diffusers)"

    def presets(self) -> dict:
        if self.via is not None:
            return self.via.presets()
        from .models import describe

        return describe(self.pipe.transformer).presets if self.pipe is not None else {}

    def peer_constants(self) -> dict:
        return self.via.peer_constants() if self.via is not None else {}

    def passes(self, videos: int = 1) -> dict[str, int]:
        n = self.steps * videos
        return {"cond": n, "uncond": n} if self.args.two_passes else {"cond": n}

    def load(self, device, group) -> None:
        if group is not None:
            raise ValueError("the profiler runs a diffusers pipeline on one process; launch it without torchrun")
        from .models import describe
        from .observe import add_observe_seams

        pipe = _diffusers().DiffusionPipeline.from_pretrained(self.args.diffusers, dtype=DTYPES[self.args.dtype])
        if self.args.cpu_offload:
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        self.pipe, self.device = pipe, torch.device(device)
        self.model = pipe.transformer
        self.spec = describe(self.model).spec
        self.seams = add_observe_seams(self.model, self.spec)

    def denoise_seconds(self) -> float:
        """The last pipeline call's time (prompt encoding included: the pipeline does both in one call)."""
        return self._seconds

    def generate(self, prompt: str, seed: int, cache=None, *, progress: bool = False, decode: bool = False):
        """The final latent [C, F, H, W] of the pipeline's call (decode: the frames [F, H, W, 3] in [0, 1])."""
        from .adapter import drive_step_cache

        alongside = getattr(cache, "alongside", False)  # it measures a library's cache on the transformer
        driver = drive_step_cache(self.pipe, cache, alongside=alongside) if cache is not None else None
        generator = torch.Generator("cpu").manual_seed(int(seed))
        t0 = time.perf_counter()
        try:
            self.pipe.set_progress_bar_config(disable=not progress)
            image = {"image": self._image()} if self.args.image else {}
            out = self.pipe(prompt, generator=generator, output_type="latent", **image, **self.args.call)
        finally:
            if driver is not None:
                driver.remove()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self._seconds = time.perf_counter() - t0
        latent = out.frames[0].float().cpu()
        return self.decode(latent) if decode else latent

    @functools.cache  # noqa: B019 (one image per target, read once)
    def _image(self):
        from diffusers.utils import load_image

        return load_image(str(self.args.image))

    @torch.no_grad()
    def decode(self, latent: torch.Tensor) -> np.ndarray:
        """Frames [F, H, W, 3] in [0, 1], decoded as the pipeline decodes (Wan: the VAE's latents_mean and
        latents_std; HunyuanVideo 1.0 and 1.5: its scaling_factor)."""
        vae = self.pipe.vae
        z = latent[None].to(self.pipe._execution_device, vae.dtype)
        mean = getattr(vae.config, "latents_mean", None)
        if mean is not None:
            shape = (1, len(mean), 1, 1, 1)
            z = z * torch.tensor(vae.config.latents_std).view(shape).to(z) + torch.tensor(mean).view(shape).to(z)
        else:
            z = z / vae.config.scaling_factor
        video = vae.decode(z, return_dict=False)[0]
        return np.asarray(self.pipe.video_processor.postprocess_video(video, output_type="np")[0], np.float32)
