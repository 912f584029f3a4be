"""Sampling ToyDiT: flow-matching Euler steps from noise, one model pass per step, the branch named "cond".

`generate(..., cache=...)` takes any `delta_cache.StepCache`: started for the step count, then wrapped around
each model pass as `cache.branch("cond", step)`. That call is the whole contract between a pipeline and a cache.
"""

from __future__ import annotations

import hashlib
import time
from contextlib import nullcontext

import torch
from torch import Tensor

from .model import ToyDiT


def encode_prompt(prompt: str, dim: int) -> Tensor:
    """A stand-in text encoder: a fixed random vector per prompt."""
    seed = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "little")
    return torch.randn(1, dim, generator=torch.Generator().manual_seed(seed))


class ToyPipeline:
    def __init__(self, model: ToyDiT, text_dim: int, device: torch.device):
        self.model, self.text_dim, self.device = model.to(device).eval(), text_dim, device
        self.denoise_seconds = 0.0

    @torch.no_grad()
    def generate(self, prompt: str, shape: tuple[int, ...], steps: int, seed: int, cache=None) -> Tensor:
        """The final latent [C, F, H, W]."""
        if cache is not None:
            cache.start(steps)
        context = encode_prompt(prompt, self.text_dim).to(self.device)
        x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))[None].to(self.device)
        sigmas = torch.linspace(1.0, 0.0, steps + 1)
        t0 = time.perf_counter()
        for i in range(steps):
            with cache.branch("cond", i) if cache is not None else nullcontext():
                v = self.model(x, (sigmas[i] * 1000).reshape(1).to(self.device), context)
            x = x + (sigmas[i + 1] - sigmas[i]) * v
        self.denoise_seconds = time.perf_counter() - t0
        return x[0]

    def decode(self, latent: Tensor) -> Tensor:
        """A stand-in VAE: the first three channels as RGB frames [F, 2H, 2W, 3] in [0, 1]."""
        rgb = (latent[:3].clamp(-2, 2) + 2) / 4
        return rgb.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3).permute(1, 2, 3, 0).float().cpu()
