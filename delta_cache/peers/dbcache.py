"""DBCache (cache-dit): per block stack, always run the first Fn and the last Bn blocks and reuse the middle ones
while the Fn residual has not drifted.

Per (branch, stack): the residual after the first Fn blocks (output of block Fn-1 minus input of block 0, first
stream) is compared with the one of the last computed pass: mean|prev - cur| / mean|prev| < threshold reuses
the middle blocks' delta. Checked first, in order: warm-up steps (range(0, max_warmup_steps, warmup_interval))
compute; a cap on cached steps or on consecutive cached steps (-1: none) forces a compute (baselines.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..policy import BlockTap, PassView, Policy
from ..schedule import REFRESH, REUSE


@dataclass
class _State:
    previous: object = None
    cached_steps: int = 0
    continuous: int = 0


class DBCache(Policy):
    name = "dbcache"
    per_stack = True
    settings = {
        "threshold": float,
        "Fn": int,
        "Bn": int,
        "max_warmup_steps": int,
        "warmup_interval": int,
        "max_cached_steps": int,
        "max_continuous_cached_steps": int,
    }
    about = "cache-dit's DBCache"

    def __init__(
        self,
        *,
        threshold: float = 0.08,
        Fn: int = 8,
        Bn: int = 0,
        max_warmup_steps: int = 8,
        warmup_interval: int = 1,
        max_cached_steps: int = -1,
        max_continuous_cached_steps: int = -1,
    ):
        if not threshold >= 0 or Fn < 1 or Bn < 0 or max_warmup_steps < 0 or warmup_interval < 1:
            raise ValueError("dbcache: threshold >= 0, Fn >= 1, Bn >= 0, max_warmup_steps >= 0, warmup_interval >= 1")
        self.threshold, self.Fn, self.Bn = threshold, Fn, Bn
        self.max_warmup_steps, self.warmup_interval = max_warmup_steps, warmup_interval
        self.max_cached_steps, self.max_continuous_cached_steps = max_cached_steps, max_continuous_cached_steps
        self.reset()

    def bind(self, depths: dict[str, int]) -> None:
        super().bind(depths)
        self.stacks = [s for s, n in depths.items() if n > self.Fn + self.Bn]
        if not self.stacks:
            deepest = max(depths.values())
            raise ValueError(f"dbcache: F{self.Fn}B{self.Bn} leaves no middle block in stacks of {deepest} blocks")

    def cached(self) -> dict[str, tuple[int, ...]]:
        return {s: tuple(range(self.Fn, self.depths[s] - self.Bn)) for s in self.stacks}

    def taps(self) -> tuple[BlockTap, ...]:
        return tuple(t for s in self.stacks for t in (BlockTap(s, 0, "input"), BlockTap(s, self.Fn - 1, "output")))

    def reset(self) -> None:
        self._states: dict[tuple[str, str], _State] = {}

    def forced(self, state: _State, step: int) -> bool:
        """The checks before the similarity test, in cache-dit's order."""
        if step in range(0, self.max_warmup_steps, self.warmup_interval):
            return True
        if 0 <= self.max_cached_steps <= state.cached_steps:
            return True
        if 0 <= self.max_continuous_cached_steps <= state.continuous:
            return True
        return self.threshold <= 0 or state.previous is None

    def decide(self, view: PassView, stack: str | None) -> str:
        state = self._states.setdefault((view.branch, stack), _State())
        residual = (view.signal((stack, self.Fn - 1, "output")) - view.signal((stack, 0, "input"))).detach()
        rel = None
        reuse = False
        if not self.forced(state, view.step):
            rel = view.rel_l1(residual, state.previous)
            reuse = rel < self.threshold
        if reuse:
            state.cached_steps += 1
            state.continuous += 1
        else:
            state.previous, state.continuous = residual, 0
        view.note(**{f"{stack}_rel_l1": rel})
        return REUSE if reuse else REFRESH
