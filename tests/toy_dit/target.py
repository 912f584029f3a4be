"""ToyDiT as a `delta_cache.target.Target`: everything the CLIs, the profiler and the harness need of it."""

from __future__ import annotations

import argparse

import numpy as np
import torch

from delta_cache.target import Target

from . import cli

DEPTH, CHANNELS, TEXT_DIM, SIDE = 6, 4, 16, 8


class ToyTarget(Target):
    name = "toy"
    tiny_target_speedup = 2.0
    tiny_defaults: dict = {}
    calibration_signals: dict = {}  # no TeaCache indicator: the peers that need one are not offered
    magcache_per_branch = False
    fps = 8

    # the model CLI's own parser and checks
    build_parser = staticmethod(cli.build_parser)
    validate = staticmethod(cli.validate)

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.latent = (CHANNELS, args.frames, SIDE, SIDE)
        self.grid = (args.frames, SIDE, SIDE)  # one token per latent pixel
        self.depths = {"blocks": DEPTH}
        self.steps = args.steps
        self.tiny = False  # its prompts are not scenes with a ground truth
        self.frames, self.pixels = args.frames, (2 * SIDE, 2 * SIDE)

    seed = property(lambda self: self.args.seed)
    random_weights = property(lambda self: True)
    sp_degrees = property(lambda self: (1, 1))

    def identity(self) -> dict:
        return {"model": "toy-dit", "depth": DEPTH, "frames": self.frames, "steps": self.steps}

    def profile_name(self) -> str:
        return f"toy-{DEPTH}"

    def presets(self) -> dict:
        from .cache_spec import TOY_CACHE_PRESETS

        return TOY_CACHE_PRESETS

    def peer_constants(self) -> dict:
        return {"fbcache": {"threshold": 0.05}}

    def passes(self, videos: int = 1) -> dict[str, int]:
        return {"cond": videos * self.steps}

    def load(self, device: torch.device, group) -> None:
        from delta_cache import compile_blocks

        from .cache_spec import TOY_CACHE_SPEC
        from .model import ToyDiT
        from .pipeline import ToyPipeline

        torch.manual_seed(0)  # random weights, the same on every load
        self.pipe = ToyPipeline(ToyDiT(CHANNELS, depth=DEPTH, text_dim=TEXT_DIM), TEXT_DIM, device)
        self.model, self.spec = self.pipe.model, TOY_CACHE_SPEC
        if self.args.compile:
            compile_blocks(self.model, TOY_CACHE_SPEC)

    def denoise_seconds(self) -> float:
        return self.pipe.denoise_seconds

    def generate(self, prompt: str, seed: int, cache=None, *, progress=False, decode=False):
        latent = self.pipe.generate(prompt, self.latent, self.steps, seed, cache)
        return self.pipe.decode(latent) if decode else latent

    def decode(self, latent: torch.Tensor) -> np.ndarray:
        return self.pipe.decode(latent).numpy()
