"""Flow-matching Euler sampling of HunyuanVideo (upstream `FlowMatchDiscreteScheduler`), as pure functions.

    sigma = linspace(1, 0, N + 1);  sigma = shift * sigma / (1 + (shift - 1) * sigma)
    if not reverse: sigma = 1 - sigma
    timesteps = sigma[:-1] * 1000 (fp32, not truncated);  x <- x + v * (sigma[i + 1] - sigma[i])

Only `reverse=True` (sigma 1 -> 0) samples correctly with the released weights; upstream's flag defaults to
False and every upstream command passes `--flow-reverse`. With reverse, this equals diffusers'
`FlowMatchEulerDiscreteScheduler(shift=shift)` fed `sigmas=linspace(1, 0, N + 1)[:-1]` (tested).
"""

from __future__ import annotations

import torch
from torch import Tensor

NUM_TRAIN_TIMESTEPS = 1000


def get_sigmas(num_steps: int, shift: float, reverse: bool = True) -> Tensor:
    """The N + 1 sigmas of an N-step run, fp32."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    sigmas = torch.linspace(1, 0, num_steps + 1)
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    return sigmas if reverse else 1 - sigmas


def get_timesteps(sigmas: Tensor) -> Tensor:
    """Model timesteps of each step: sigma * 1000, fp32."""
    return sigmas[:-1] * NUM_TRAIN_TIMESTEPS


def euler_step(latents: Tensor, velocity: Tensor, sigmas: Tensor, i: int) -> Tensor:
    """One Euler step from sigma[i] to sigma[i + 1], in fp32 (latents stay fp32 from the first step on)."""
    return latents.float() + velocity.float() * (sigmas[i + 1] - sigmas[i])
