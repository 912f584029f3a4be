"""TeaCache: skip the whole block stack while the accumulated, rescaled change of a cheap indicator stays small.

Per branch (CFG cond and uncond keep their own state): rel-L1 = mean|ind - prev| / mean|prev| between this pass's
indicator and the previous pass's (updated on every pass), rescaled by the model's 4th-degree polynomial (fitted
offline: output change against indicator change) and accumulated; the stack is reused while the sum stays below
the threshold, otherwise computed and the sum reset. The first `ret_steps` steps and the last `last_forced` steps
always compute. Wan's indicator is the timestep embedding (e, or e0 with `use_ret_steps`), HunyuanVideo's the
modulated input of double block 0 (baselines.md §1).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..checks import finite_numbers
from ..policy import PassView, Policy
from ..schedule import REFRESH, REUSE


def polyval(coefficients: tuple[float, ...], x: float) -> float:
    """numpy.poly1d semantics: highest power first."""
    out = 0.0
    for c in coefficients:
        out = out * x + c
    return out


@dataclass
class _Branch:
    accumulated: float = 0.0
    previous: object = None


class TeaCache(Policy):
    name = "teacache"
    settings = {"threshold": float, "use_ret_steps": bool, "speed": ("slow", "fast")}
    about = "TeaCache"
    variants = {"teacache-slow": {"speed": "slow"}, "teacache-fast": {"speed": "fast"}}

    @classmethod
    def read_constants(cls, data: dict) -> dict:
        """`modes` is stored as a list of {use_ret_steps, indicator, coefficients, ...}; keyed by use_ret_steps."""
        modes = {}
        for mode in data["modes"]:
            mode = dict(mode)
            mode["coefficients"] = finite_numbers(mode["coefficients"], "teacache coefficients")
            modes[mode.pop("use_ret_steps")] = mode
        return {**data, "modes": modes}

    @classmethod
    def from_constants(cls, constants: dict, overrides: dict) -> TeaCache:
        """Two published indicator modes, each with its own polynomial, forced steps and slow/fast thresholds."""
        overrides = dict(overrides)
        ret = overrides.pop("use_ret_steps", False)
        if ret not in constants["modes"]:
            raise ValueError(f"teacache: use_ret_steps={ret} has no published constants for this model")
        mode = constants["modes"][ret]
        speed = overrides.pop("speed", "fast")
        settings = {k: v for k, v in mode.items() if k not in ("slow", "fast")}
        return cls(**{**settings, "threshold": mode[speed], **overrides})

    def __init__(
        self,
        *,
        threshold: float,
        coefficients: tuple[float, ...],
        indicator: str,
        ret_steps: int = 1,
        last_forced: int = 1,
    ):
        if not threshold >= 0 or len(coefficients) < 1 or ret_steps < 0 or last_forced < 0:
            raise ValueError("teacache: threshold, ret_steps and last_forced must be >= 0, with coefficients")
        self.threshold, self.coefficients, self.indicator = threshold, tuple(coefficients), indicator
        self.ret_steps, self.last_forced = ret_steps, last_forced
        self.signals = (indicator,)
        self.reset()

    def cached(self) -> dict[str, tuple[int, ...]]:
        return {stack: tuple(range(n)) for stack, n in self.depths.items()}

    def reset(self) -> None:
        self._branches: dict[str, _Branch] = {}

    def accumulate(self, state: _Branch, rel_l1: float) -> bool:
        """The published rule on one value: add poly(rel-L1); True (reuse) while below the threshold."""
        state.accumulated += polyval(self.coefficients, rel_l1)
        if state.accumulated < self.threshold:
            return True
        state.accumulated = 0.0
        return False

    def decide(self, view: PassView, stack: str | None) -> str:
        state = self._branches.setdefault(view.branch, _Branch())
        current = view.signal(self.indicator).detach()
        forced = view.step < self.ret_steps or view.step >= view.num_steps - self.last_forced
        rel = None
        if forced or state.previous is None:
            state.accumulated, reuse = 0.0, False
        else:
            rel = view.rel_l1(current, state.previous)
            reuse = self.accumulate(state, rel)
        state.previous = current
        view.note(rel_l1=rel, accumulated=state.accumulated)
        return REUSE if reuse else REFRESH
