"""First-Block Cache: always run the first block; reuse the rest while its residual has not drifted.

The first block's residual (output - input of its first stream) is compared with the one stored at the last
computed pass of the same branch: mean|prev - cur| / mean|prev| < threshold reuses every later block (the rest
of the first stack and all other stacks, one delta each); otherwise they compute and the stored residual is
replaced. No accumulation, no cap; `warmup_steps` first steps compute (ParaAttention's rule, baselines.md §2a).
"""

from __future__ import annotations

from ..policy import BlockTap, PassView, Policy
from ..schedule import REFRESH, REUSE


class FBCache(Policy):
    name = "fbcache"
    settings = {"threshold": float, "warmup_steps": int}
    about = "First-Block Cache"

    def __init__(self, *, threshold: float, warmup_steps: int = 0):
        if not threshold >= 0 or warmup_steps < 0:
            raise ValueError("fbcache: threshold and warmup_steps must be >= 0")
        self.threshold, self.warmup_steps = threshold, warmup_steps
        self.reset()

    def bind(self, depths: dict[str, int]) -> None:
        super().bind(depths)
        self.first = next(iter(depths))

    def cached(self) -> dict[str, tuple[int, ...]]:
        return {s: tuple(range(1 if s == self.first else 0, n)) for s, n in self.depths.items()}

    def taps(self) -> tuple[BlockTap, ...]:
        return BlockTap(self.first, 0, "input"), BlockTap(self.first, 0, "output")

    def reset(self) -> None:
        self._previous: dict[str, object] = {}

    def decide(self, view: PassView, stack: str | None) -> str:
        residual = (view.signal((self.first, 0, "output")) - view.signal((self.first, 0, "input"))).detach()
        previous = self._previous.get(view.branch)
        rel = None
        reuse = False
        if previous is not None and view.step >= self.warmup_steps and self.threshold > 0:
            rel = view.rel_l1(residual, previous)
            reuse = rel < self.threshold
        if not reuse:
            self._previous[view.branch] = residual  # the reference moves only on computed passes
        view.note(rel_l1=rel)
        return REUSE if reuse else REFRESH
