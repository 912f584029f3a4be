"""MagCache: skip the block stack while the accumulated error predicted by a calibrated magnitude-ratio table stays
small.

The table holds, per model call (interleaved cond/uncond for Wan, one per step for HunyuanVideo, the first entries
1.0 as padding), the mean ratio of the whole-stack residual's token norm to the previous step's. Per branch, after
the retention boundary (call index >= int(calls * retention_ratio)): ratio *= table[call]; steps += 1;
err += |1 - ratio|; reuse while err < threshold (HunyuanVideo: <=) and steps <= K, else compute and reset
err, steps and ratio. No runtime tensor enters the decision (baselines.md §3). A table made for another step
count is resampled to this one by nearest index, per branch.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..checks import finite_numbers
from ..policy import PassView, Policy
from ..schedule import REFRESH, REUSE


def nearest_interp(values: tuple[float, ...], steps: int) -> tuple[float, ...]:
    """Resample to `steps` values: index round(i * scale), scale = (L - 1) / (steps - 1); one step takes the last.

    The scale is divided out first, as MagCache's own `nearest_interp` does: i * ((L - 1) / (steps - 1)) and
    i * (L - 1) / (steps - 1) differ in the last bit, which flips the (half-to-even) rounding at exact halves
    (Wan T2V tables at 71 steps, entry 45: source 31, not 32).
    """
    if steps == 1:
        return (values[-1],)
    scale = (len(values) - 1) / (steps - 1)
    return tuple(values[round(i * scale)] for i in range(steps))


def table_for(ratios: tuple[float, ...], branches: int, steps: int) -> tuple[float, ...]:
    """An interleaved table resampled to `steps` per branch and interleaved again."""
    if len(ratios) % branches:
        raise ValueError(f"magcache: {len(ratios)} ratios do not interleave {branches} branches")
    if len(ratios) == branches * steps:
        return tuple(ratios)
    per = [nearest_interp(tuple(ratios[b::branches]), steps) for b in range(branches)]
    return tuple(per[b][s] for s in range(steps) for b in range(branches))


@dataclass
class _Branch:
    ratio: float = 1.0
    err: float = 0.0
    steps: int = 0


class MagCache(Policy):
    name = "magcache"
    settings = {"threshold": float, "K": int, "retention_ratio": float}
    about = "MagCache"

    @classmethod
    def read_constants(cls, data: dict) -> dict:
        branches = data.get("branches")
        ratios = finite_numbers(data["ratios"], "magcache ratios")
        return {**data, "ratios": ratios, "branches": None if branches is None else tuple(branches)}

    def __init__(
        self,
        *,
        threshold: float,
        K: int,
        retention_ratio: float,
        ratios: tuple[float, ...],
        branches: tuple[str, ...] | None = ("cond", "uncond"),
        inclusive: bool = False,
    ):
        if not threshold >= 0 or K < 0 or not 0 <= retention_ratio <= 1 or not ratios:
            raise ValueError("magcache: threshold >= 0, K >= 0, retention_ratio in [0, 1] and a ratio table")
        self.threshold, self.K, self.retention_ratio = threshold, K, retention_ratio
        # None: one pass per step, whatever its branch is called (HunyuanVideo's CFG batch is one pass)
        self.ratios, self.branches, self.inclusive = tuple(ratios), branches and tuple(branches), inclusive
        self.reset()

    def cached(self) -> dict[str, tuple[int, ...]]:
        return {stack: tuple(range(n)) for stack, n in self.depths.items()}

    def reset(self) -> None:
        self._branches: dict[str, _Branch] = {}
        self._table: tuple[float, ...] | None = None

    def accumulate(self, state: _Branch, ratio: float) -> bool:
        """The published rule on one table entry; True (reuse) or False (compute, state reset)."""
        state.ratio *= ratio
        state.steps += 1
        state.err += abs(1 - state.ratio)
        small = state.err <= self.threshold if self.inclusive else state.err < self.threshold
        if small and state.steps <= self.K:
            return True
        state.ratio, state.err, state.steps = 1.0, 0.0, 0
        return False

    def decide(self, view: PassView, stack: str | None) -> str:
        if self.branches is not None and view.branch not in self.branches:
            raise RuntimeError(f"magcache: branch {view.branch!r} has no ratios; the table covers {self.branches}")
        calls = 1 if self.branches is None else len(self.branches)
        if self._table is None:
            self._table = table_for(self.ratios, calls, view.num_steps)
        call = calls * view.step + (0 if self.branches is None else self.branches.index(view.branch))
        state = self._branches.setdefault(view.branch, _Branch())
        reuse = False
        if call >= int(calls * view.num_steps * self.retention_ratio):
            reuse = self.accumulate(state, self._table[call])
        view.note(ratio=state.ratio, err=state.err)
        return REUSE if reuse else REFRESH
