"""TaylorSeer: compute on a fixed interval, forecast the features in between to first order.

Every block of every stack is cached. A pass computes on the first `first_steps` steps and every `interval`-th
step (the official Wan and HunyuanVideo scripts: interval 5, first_enhance 1, so steps 0, 5, 10, ...); the
passes between reuse each run's delta extrapolated from its last two computed ones,
d(t) = d_k + (d_k - d_{k-1}) * (t - k) / (k - (k-1)'s step distance) (baselines.md §6, more_caches.md §6).
Before a run has two computed deltas its last one is reused as is; `order=0` always reuses it as is (the
forecast's ablation).

What is forecast differs from the official code: it extrapolates each attention and MLP output inside every
block, re-gated by the current step's modulation; here the forecast is of each cached run's residual, the form
cache-dit's TaylorSeer calibrator takes on DBCache's cached residual. The decision is a function of the step
alone, so every sequence-parallel rank takes it alike.
"""

from __future__ import annotations

from ..policy import PassView, Policy
from ..schedule import REFRESH, REUSE


class TaylorSeer(Policy):
    name = "taylorseer"
    settings = {"interval": int, "first_steps": int, "order": int}
    about = "TaylorSeer (fixed interval, first-order forecast)"
    published = {"interval": 5, "first_steps": 1, "order": 1}  # the official scripts', for any model

    def __init__(self, *, interval: int, first_steps: int = 1, order: int = 1):
        if interval < 1 or first_steps < 1:
            raise ValueError("taylorseer: interval and first_steps must be >= 1 (step 0 always computes)")
        if order not in (0, 1):
            raise ValueError(f"taylorseer: order must be 0 (hold the delta) or 1 (first-order forecast), got {order}")
        self.interval, self.first_steps, self.order = interval, first_steps, order

    @property
    def forecast(self) -> bool:
        return self.order == 1

    def cached(self) -> dict[str, tuple[int, ...]]:
        return {stack: tuple(range(n)) for stack, n in self.depths.items()}

    def decide(self, view: PassView, stack: str | None) -> str:
        compute = view.step < self.first_steps or view.step % self.interval == 0
        return REFRESH if compute else REUSE
