"""A model as everything outside its package drives it: the CLIs, the profiler, the harness, the calibration.

A model package declares one `Target` subclass (for example `wan/target.py`): what the model is (its cache spec,
presets, peer constants, block depths, latent grid), how its command line reads (its parser, how a seed or
random weights are spelled), and how it is loaded and sampled. `evaluation/targets.py` registers it under a
name; nothing outside the package then needs to know which model it runs. docs/adding_a_model.md walks through
a new one.

`Target.run` is the one place where a cache meets a generation: apply it, sample, reduce the statistics over
the sequence-parallel group, report, remove it. Both CLIs and the harness call it.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class Target:
    """Subclass per model; a class describes the model, an instance one validated command line of it."""

    # -- what the class declares ---------------------------------------------------------------------------
    name: str  # the registry's name, the scripts' --model value
    model_values: tuple[str, ...] = ()  # further --model values its own parser takes (HunyuanVideo's configs)
    fps: int  # of the written videos
    tiny_target_speedup: float  # the tiny model's built-in preset: the profiler's default target for it
    tiny_defaults: dict  # the flag defaults that select the shipped tiny model
    # TeaCache's indicator per mode (use_ret_steps False / True) the calibration fits, and whether MagCache's
    # ratio table is kept per CFG branch (two passes per step) or for the one batched pass
    calibration_signals: dict[bool, str]
    magcache_per_branch: bool

    # -- what __init__ sets (from the validated arguments) --------------------------------------------------
    args: argparse.Namespace
    latent: tuple[int, int, int, int]  # [C, F, H, W] of one video's latent
    grid: tuple[int, int, int]  # the token grid (f, h, w)
    depths: dict[str, int]  # block stack attribute -> depth
    steps: int  # sampler steps
    tiny: bool  # the shipped trained tiny model (its prompts are scenes with a ground truth)
    frames: int
    pixels: tuple[int, int]  # (height, width)

    # -- what load() sets ------------------------------------------------------------------------------------
    model = None  # the DiT (an nn.Module) the cache wraps
    spec = None  # its CacheSpec
    token_order = None  # gathered-token order under sequence parallelism (None: the natural one)

    @staticmethod
    def build_parser() -> argparse.ArgumentParser:
        """The model CLI's own parser (every flag of its generate command)."""
        raise NotImplementedError

    @staticmethod
    def validate(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
        """The model CLI's own checks (one-line errors through `p.error`, before anything loads)."""
        raise NotImplementedError

    @property
    def seed(self) -> int | None:
        """The base seed as given on the command line (None or negative: unset)."""
        raise NotImplementedError

    @property
    def random_weights(self) -> bool:
        """Whether the weights are random ones written to a temporary folder by `prepare`."""
        raise NotImplementedError

    @property
    def sp_degrees(self) -> tuple[int, int]:
        """(ulysses, ring) sequence-parallel degrees from the flags."""
        raise NotImplementedError

    def identity(self) -> dict:
        """What the outputs depend on besides prompt and seed: model, checkpoint, size, sampler."""
        raise NotImplementedError

    def presets(self) -> dict:
        """The model package's built-in presets, by name."""
        raise NotImplementedError

    def peer_constants(self) -> dict:
        """The peer methods' constants: published for the real models, the checkpoint's calibration file else."""
        raise NotImplementedError

    def borrowed_peer_settings(self, scaled) -> tuple[dict, dict]:
        """For a model we calibrate ourselves: the family's published settings no calibration fixes, every count
        of steps passed through `scaled`: (TeaCache's slow and fast thresholds per mode, FBCache's, MagCache's
        and EasyCache's settings)."""
        raise NotImplementedError

    def calibration_file(self) -> Path:
        """Where `scripts/calibrate_peers.py` writes this checkpoint's constants (beside the DiT weights)."""
        raise NotImplementedError

    def profile_name(self) -> str:
        """A file-name stem for this model's preset (the task or the config name)."""
        raise NotImplementedError

    def passes(self, videos: int = 1) -> dict[str, int]:
        """Model passes per CFG branch name of a full-compute generation of `videos` videos."""
        raise NotImplementedError

    def prepare(self, tmp: str) -> None:
        """Random weights (when the flags ask for them) written to `tmp`, before any process group exists."""

    def load(self, device, group) -> None:
        """Load the pipeline on `device` and parallelize it over `group` (None: one process); sets model, spec."""
        raise NotImplementedError

    def denoise_seconds(self) -> float:
        """The last generation's denoising time (device-synchronised)."""
        raise NotImplementedError

    def generate(self, prompt: str, seed: int, cache=None, *, progress: bool = False, decode: bool = False):
        """One generation with `cache` (any `StepCache`): the latent, or the decoded video with `decode`."""
        raise NotImplementedError

    def decode(self, latent):
        """Frames [F, H, W, 3] in [0, 1] of a latent `generate` returned."""
        raise NotImplementedError

    def save_diffusers(self, out: Path) -> dict:
        """Write the loaded pipeline as a diffusers pipeline folder at `out` (`scripts/to_diffusers.py`); return
        the pipeline-call keywords that generate as this command line does (size, frames, steps, guidance, the
        negative prompt, how prompts are encoded)."""
        raise NotImplementedError(f"{self.name}: no diffusers export")

    def preset_usage(self, preset: Path, method: str | None = None) -> str:
        """How a user runs with the preset file the profiler wrote: the model CLI's flags (`method`: a method
        that reads the file, e.g. adaptive)."""
        return f"--delta_cache --cache_preset {preset}" + (f" --cache_method {method}" if method else "")

    def teacher_forced(self, scene, seed: int, observer):
        """The model's passes on a true rendering of `scene` noised to each sampler sigma (tiny models)."""
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------------------

    def full_compute(self, videos: int = 1) -> dict:
        """The stats of a run that caches nothing (what a cached run's report is compared with)."""
        from .report import full_compute_stats

        return full_compute_stats(self.passes(videos), self.depths)

    def run(self, prompt: str, seed: int, config=None, *, cache_dtype=None, group=None, **generate_kw):
        """Generate with a cache and report it: (the output of `generate`, the run's stats report).

        `config`: None (full compute), a `CacheConfig` or a peer `Policy` (applied here and removed after, the
        statistics all-reduced over `group` so that every rank reports alike), or a `StepCache` the caller
        applied and removes (its own `stats()` is the report). `generate_kw` goes to `generate`.
        """
        from loguru import logger

        from .distributed import reduce_stats
        from .handle import apply_cache
        from .report import run_report

        owned = config is not None and not hasattr(config, "start")
        handle = apply_cache(self.model, self.spec, config, self.steps, cache_dtype) if owned else config
        try:
            if owned:
                cached = handle.cached or "the whole model output"
                logger.info(f"delta_cache: {config.name}, cached {cached}, deltas in {cache_dtype or 'stream dtype'}")
            output = self.generate(prompt, seed, handle, **generate_kw)
            if handle is None or owned:
                stats = reduce_stats(handle) if owned and group is not None else None
                full = self.full_compute(generate_kw.get("videos") or 1)
                report = run_report(handle, full, self.denoise_seconds(), stats)
            else:
                report = handle.stats()
        finally:
            if owned:
                handle.remove()
        return output, report


def checkpoint_identity(ckpt: Path) -> str:
    """The checkpoint folder and a hash of its config and the DiT files' names and sizes (cheap, no weights)."""
    h = hashlib.sha256()
    for f in sorted(ckpt.glob("*")):
        if f.is_file() and (f.suffix in (".json", ".safetensors", ".pth")):
            h.update(f"{f.name}:{f.stat().st_size}".encode())
    return f"{where(ckpt)} ({h.hexdigest()[:12]})"


def where(path: str | Path) -> str:
    """A path as an identity records it: relative to the repository for the shipped models (no local path)."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO) if resolved.is_relative_to(REPO) else resolved)
