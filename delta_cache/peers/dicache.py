"""DiCache: a shallow probe decides online; a reuse extrapolates the cached residual along the probe's trend.

The probe (the first `probe_depth` blocks of the first stack) always runs; everything after it is cached (the
rest of the first stack and every other stack, one run each). Per branch (more_caches.md §1):
- the probe output's relative L1 change since the previous pass, mean|y - y_prev| / mean|y_prev|, accumulates;
  the reference y_prev moves on every pass, computed or reused;
- the first `ret_ratio` share of the steps computes; after that a pass reuses while the accumulator stays below
  `threshold` (`inclusive`: at or below, HunyuanVideo's script), and computes (the accumulator back to 0)
  otherwise;
- a reuse with two computed passes behind it adds R_-2 + g (R_-1 - R_-2), R the cached residuals of the last two
  computed passes and g = clip(mean|p - P_-2| / mean|P_-1 - P_-2|, 1, gamma_max), p the probe residual now and P
  the probe residuals at those passes; with one computed pass, R_-1 as is.

The handle holds R_-1 and R_-2 (the policy's `forecast`); the policy holds the probe's reference and its two
residuals per branch. Every statistic is all-reduced, so sequence-parallel ranks decide and extrapolate alike.
"""

from __future__ import annotations

from ..policy import BlockTap, PassView, Policy
from ..schedule import REFRESH, REUSE


class DiCache(Policy):
    name = "dicache"
    settings = {"threshold": float, "ret_ratio": float, "gamma_max": float, "probe_depth": int, "inclusive": bool}
    about = "DiCache (probe-decided, trend-extrapolated residual)"
    forecast = True

    def __init__(
        self,
        *,
        threshold: float,
        ret_ratio: float = 0.2,
        gamma_max: float = 2.0,
        probe_depth: int = 1,
        inclusive: bool = False,
    ):
        if not threshold >= 0 or not 0 <= ret_ratio <= 1 or not gamma_max >= 1 or probe_depth < 1:
            raise ValueError("dicache: threshold >= 0, ret_ratio in [0, 1], gamma_max >= 1, probe_depth >= 1")
        self.threshold, self.ret_ratio, self.gamma_max = threshold, ret_ratio, gamma_max
        self.probe_depth, self.inclusive = probe_depth, inclusive
        self.reset()

    def bind(self, depths: dict[str, int]) -> None:
        super().bind(depths)
        self.first = next(iter(depths))
        if self.probe_depth >= depths[self.first]:
            raise ValueError(f"dicache: probe_depth {self.probe_depth} leaves no {self.first} block to cache")

    def cached(self) -> dict[str, tuple[int, ...]]:
        return {s: tuple(range(self.probe_depth if s == self.first else 0, n)) for s, n in self.depths.items()}

    def taps(self) -> tuple[BlockTap, ...]:
        return BlockTap(self.first, 0, "input"), BlockTap(self.first, self.probe_depth - 1, "output")

    def reset(self) -> None:
        self._reference: dict[str, object] = {}  # the probe output of the branch's previous pass
        self._accumulated: dict[str, float] = {}
        self._residuals: dict[str, list] = {}  # the probe residuals of the last two computed passes
        self._gamma: dict[str, float] = {}

    def decide(self, view: PassView, stack: str | None) -> str:
        x = view.signal((self.first, 0, "input")).detach()
        y = view.signal((self.first, self.probe_depth - 1, "output")).detach()
        branch, previous = view.branch, self._reference.get(view.branch)
        self._reference[branch] = y
        change = None if previous is None else view.rel_l1(y, previous)
        warm = view.step < int(self.ret_ratio * view.num_steps)
        reuse = False
        if not warm and change is not None:
            accumulated = self._accumulated.get(branch, 0.0) + change
            reuse = accumulated <= self.threshold if self.inclusive else accumulated < self.threshold
            self._accumulated[branch] = accumulated if reuse else 0.0
        history = self._residuals.setdefault(branch, [])
        gamma = None
        if reuse and len(history) == 2:
            older, last = history
            num = (y - x - older).float().abs().sum()
            den = (last - older).float().abs().sum()
            n, d = view.reduce(num, den)
            gamma = min(max(n / d if d > 0 else 1.0, 1.0), self.gamma_max)
            self._gamma[branch] = gamma
        if not reuse:
            history.append(y - x)
            del history[:-2]
        view.note(change=change, accumulated=self._accumulated.get(branch), gamma=gamma)
        return REUSE if reuse else REFRESH

    def forecast_scale(self, branch: str, step: int, before: int, last: int) -> float:
        # R_-2 + g (R_-1 - R_-2) = R_-1 + (g - 1) (R_-1 - R_-2)
        return self._gamma.get(branch, 1.0) - 1.0
