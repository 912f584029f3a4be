"""Flow-matching samplers of Wan2.1, set up on diffusers' schedulers.

`unipc` (default): diffusers' `UniPCMultistepScheduler` (bh2, x0-prediction, order 2, lower_order_final,
final sigma 0) fed upstream's sigma range `linspace(sigma_max, 0, N+1)[:-1]`, shifted by `flow_shift`; this
matches upstream's FlowUniPCMultistepScheduler exactly (tests check the sigmas and int64 timesteps).

`dpm++`: diffusers' `DPMSolverMultistepScheduler` (2M, midpoint, flow prediction). Its own flow sigmas start
at 0.9998, not upstream's 1.0, and it takes no custom sigmas, so after `set_timesteps` we install upstream's
sigmas and int64 timesteps on it; the update math is diffusers'.
"""

from __future__ import annotations

import numpy as np
import torch

SOLVERS = ("unipc", "dpm++")


def shift_sigmas(sigmas: np.ndarray, shift: float) -> np.ndarray:
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def train_sigma_max(num_train_timesteps: int = 1000) -> float:
    """Largest training sigma of upstream's flow schedulers: 1 - 1/T, rounded through fp32 (0.999000012...)."""
    alphas = np.linspace(1, 1 / num_train_timesteps, num_train_timesteps, dtype=np.float32)[::-1]
    return float(np.float32(1.0 - alphas[0]))


def dpm_sigmas(steps: int, shift: float) -> np.ndarray:
    """Upstream's `get_sampling_sigmas`: starts at exactly 1.0."""
    return shift_sigmas(np.linspace(1, 0, steps + 1)[:steps], shift)


def make_scheduler(
    solver: str, steps: int, shift: float, device: torch.device | str = "cpu", num_train_timesteps: int = 1000
):
    """A diffusers scheduler with timesteps set; `scheduler.timesteps` are int64, `sigmas` end with 0."""
    from diffusers import DPMSolverMultistepScheduler, UniPCMultistepScheduler

    if solver not in SOLVERS:
        raise ValueError(f"unknown sample solver {solver!r}; accepted: {', '.join(SOLVERS)}")
    if steps < 1:
        raise ValueError(f"sample steps must be >= 1, got {steps}")
    if shift <= 0:
        raise ValueError(f"sample shift must be > 0, got {shift}")
    common = dict(
        num_train_timesteps=num_train_timesteps,
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        solver_order=2,
        lower_order_final=True,
        final_sigmas_type="zero",
    )
    if solver == "unipc":
        sched = UniPCMultistepScheduler(**common, flow_shift=shift, predict_x0=True, solver_type="bh2")
        sched.set_timesteps(sigmas=np.linspace(train_sigma_max(num_train_timesteps), 0, steps + 1)[:-1], device=device)
        return sched
    sched = DPMSolverMultistepScheduler(**common, flow_shift=1.0, algorithm_type="dpmsolver++", solver_type="midpoint")
    sched.set_timesteps(steps, device=device)
    sigmas = dpm_sigmas(steps, shift)
    sched.sigmas = torch.from_numpy(np.append(sigmas, 0.0).astype(np.float32))
    sched.timesteps = torch.from_numpy(sigmas * num_train_timesteps).to(device=device, dtype=torch.int64)
    return sched
