"""`adaptive`: our method. The profile's blocks, refreshed on a plan profiled for the asked speed, reused deltas
forecast from their last two refreshes.

One knob, `speedup` (the theoretical speedup asked for), maps to everything through what the profiler measured
on the model (`scripts/profile_model.py` writes it into the preset file's "adaptive" section):
- **split** (`blocks="profile"`): only the blocks the profile found cacheable are wrapped (each maximal run of
  them one cached run), the others are computed on every pass; `blocks="all"` caches every block;
- **plan**: the most refreshes whose theoretical speedup still reaches `speedup`, placed where reusing costs
  least: the profiler measured `step_costs[s]` (what reusing step s alone costs the decoded video) and kept, per
  refresh count, the best of a few plans made from them (`delta_cache.step_plan`), run on its calibration
  prompts (`plans`); a count it did not validate is planned from the costs here. Reuses cluster where the
  model's output is insensitive, refreshes where it is not. The plan is a function of the step: every
  sequence-parallel rank decides alike, and the knob is monotone (a higher speedup never plans more
  refreshes);
- **forecast** (`order=1`): a reuse adds each run's delta extrapolated to first order in the step from its last
  two refreshes, as TaylorSeer does on a fixed interval; `order=0` holds the last delta.
- **output-level skip** (`blocks="output"`, for the ablation): on the plan's reuse steps the whole model is
  skipped (embeddings and head too, as EasyCache does), its output forecast from the last two computed passes'
  (output - input); every block then counts as cached.

`tolerance` > 0 replaces the plan by an online rule (kept for the ablation in docs/results.md, where it loses to
the plan): every refresh measures how far the forecast of its own step was from the delta it computed (relative
L1 over the cached runs of every CFG branch, all-reduced); the error h steps past a refresh grows as C h (h + g) for a
forecast from refreshes g apart (C h with order 0), so one measurement gives C, and a step reuses while the
predicted error stays within `tolerance` and h within `max_gap`; the first pass of a step decides for every CFG
branch, from the errors of all of them.
"""

from __future__ import annotations

import math

from torch import Tensor

from .policy import PassView, Policy
from .schedule import REFRESH, REUSE
from .step_plan import min_refreshes, plan_refreshes


class Adaptive(Policy):
    name = "adaptive"
    settings = {
        "speedup": float,
        "order": int,
        "max_gap": int,
        "blocks": ("profile", "all", "output"),
        "tolerance": float,
    }
    about = "ours: profiled blocks on a profiled refresh plan for the asked speedup, deltas forecast"
    forecast = True  # two deltas per run and branch, also with order 0 (the online rule measures its error)
    published = {}  # no model-independent plan: without a profile only the online rule (`tolerance`) runs

    def __init__(
        self,
        *,
        speedup: float = 2.0,
        step_costs: list[float] | tuple[float, ...] | None = None,
        cached: dict[str, tuple[int, ...]] | None = None,
        blocks: str = "profile",
        order: int = 1,
        max_gap: int = 6,
        tolerance: float = 0.0,
        plans: dict | None = None,
        refresh_steps: tuple[int, ...] | None = None,
    ):
        if not speedup >= 1 or max_gap < 1 or not tolerance >= 0:
            raise ValueError("adaptive: speedup >= 1, max_gap >= 1 and tolerance >= 0")
        if order not in (0, 1):
            raise ValueError(f"adaptive: order must be 0 (hold the delta) or 1 (first-order forecast), got {order}")
        if tolerance == 0 and step_costs is None and refresh_steps is None:
            raise ValueError("adaptive: no step costs for this model; profile it (scripts/profile_model.py)")
        if blocks == "output" and tolerance > 0:
            raise ValueError("adaptive: blocks=output skips on the plan's steps; it takes no tolerance")
        # output level: the whole model is reused on reuse steps (decide_model), no block is wrapped
        self.level = "model" if blocks == "output" else "blocks"
        self.speedup, self.order, self.max_gap, self.tolerance, self.blocks = speedup, order, max_gap, tolerance, blocks
        self.step_costs = None if step_costs is None else tuple(float(c) for c in step_costs)
        # the profiler's validated plan per refresh count ({count: steps}); other counts are planned here
        self.plans = {int(k): tuple(v) for k, v in (plans or {}).items()}
        self.profile = None if cached is None else {s: tuple(sorted(ix)) for s, ix in cached.items()}
        # the plan: from the step costs once the depths and step count are known, or given (the profiler's probes)
        self.given = refresh_steps is not None
        self.refresh_steps = None if refresh_steps is None else tuple(refresh_steps)
        self.reset()

    @property
    def forecast_error(self) -> bool:
        return self.tolerance > 0

    def bind(self, depths: dict[str, int]) -> None:
        super().bind(depths)
        if self.profile is not None:
            for stack, ix in self.profile.items():
                if stack not in depths or any(not 0 <= i < depths[stack] for i in ix):
                    raise ValueError(f"adaptive: the profile's blocks {stack} {list(ix)} do not fit depths {depths}")

    def cached(self) -> dict[str, tuple[int, ...]]:
        if self.level == "model":
            return {}
        return self._reused_blocks()

    def _reused_blocks(self) -> dict[str, tuple[int, ...]]:
        """The blocks a reuse step skips."""
        if self.blocks != "profile" or self.profile is None:
            return {stack: tuple(range(n)) for stack, n in self.depths.items()}
        return {s: ix for s, ix in self.profile.items() if ix}

    def refresh_count(self, num_steps: int) -> int:
        """The most refreshes whose theoretical speedup is still at least `speedup` (at least one)."""
        total = sum(self.depths.values())
        cached = sum(len(ix) for ix in self._reused_blocks().values())
        computes = num_steps * total / self.speedup - num_steps * (total - cached)  # cached-block passes allowed
        return max(1, math.floor(computes / cached + 1e-9)) if cached else num_steps

    def plan(self, num_steps: int) -> tuple[int, ...]:
        if self.given:
            return self.refresh_steps
        if len(self.step_costs) != num_steps:
            raise ValueError(
                f"adaptive: the profile measured {len(self.step_costs)} steps, this run has {num_steps}; "
                "profile the model at this step count"
            )
        count = max(self.refresh_count(num_steps), min_refreshes(num_steps, self.max_gap))
        if count in self.plans:
            return self.plans[count]
        return plan_refreshes(list(self.step_costs), count, self.max_gap, "taylor" if self.order == 1 else "hold")

    def reset(self) -> None:
        # the online rule's state, one for every CFG branch together
        self._refreshes: list[int] = []  # the last refresh steps
        self._pending: list[Tensor] | None = None  # summed |error|, |delta| of the last refresh, not yet reduced
        self._curvature: float | None = None  # C of the error model, from the last measurement
        self._pair = REFRESH  # the first pass of the step's decision

    def forecast_scale(self, branch: str, step: int, before: int, last: int) -> float:
        return self.order * (step - last) / (last - before)

    def last_reuse(self, num_steps: int) -> dict[str, int]:
        if self.tolerance > 0:
            return super().last_reuse(num_steps)
        self.refresh_steps = self.plan(num_steps)  # the handle asks this once, after `bind`
        last = max((s for s in range(num_steps) if s not in self.refresh_steps), default=-1)
        return {stack: last for stack in self.cached()}

    def decide(self, view: PassView, stack: str | None) -> str:
        if self.tolerance == 0:
            if self.refresh_steps is None:
                self.refresh_steps = self.plan(view.num_steps)
            return REFRESH if view.step in self.refresh_steps else REUSE
        return self._online(view)

    def decide_model(self, view: PassView, inputs: list[Tensor]) -> bool:
        return self.decide(view, None) == REUSE

    # -- the online rule (ablation) ------------------------------------------------------------------------

    def forecast_observed(self, branch: str, stack: str, run: int, error: Tensor, size: Tensor) -> None:
        if self._pending is None:
            self._pending = [error, size]
        else:  # pooled over the runs and the branches
            self._pending = [self._pending[0] + error, self._pending[1] + size]

    def _growth(self, h: int, gap: int) -> float:
        """How the forecast's error grows h steps past a refresh whose deltas are `gap` steps apart."""
        return h * (h + gap) if self.order == 1 else h

    def _online(self, view: PassView) -> str:
        # The first pass of a step decides for every CFG branch, from their pooled errors: reusing one branch
        # while the other computes costs about as much as reusing both (their forecast errors cancel in the
        # guidance difference; t2v-tiny, 4 prompts, every other step reused: in the uncond branch alone 44.8 dB
        # at 1.32x, in both 45.0 dB at 1.92x)
        if not view.first_of_step:
            return self._pair
        step, refreshes = view.step, self._refreshes
        if self._pending is not None:  # the last refresh measured its forecast: C of the error model
            error, size = view.reduce(*self._pending)
            self._pending = None
            a, b, k = refreshes[-3:]
            relative = error / size if size > 0 else 0.0
            self._curvature = relative / self._growth(k - b, b - a)
            view.note(forecast_error=relative)
        reuse = False
        h = step - refreshes[-1] if refreshes else 0
        if self._curvature is not None and 1 <= h <= self.max_gap:
            predicted = self._curvature * self._growth(h, refreshes[-1] - refreshes[-2])
            reuse = predicted <= self.tolerance
            view.note(predicted=predicted)
        if not reuse:
            refreshes.append(step)
            del refreshes[:-3]
        self._pair = REUSE if reuse else REFRESH
        return self._pair

    def describe(self) -> dict:
        out = {k: getattr(self, k) for k in ("speedup", "order", "max_gap", "blocks", "tolerance")}
        out["profile"] = None if self.profile is None else {s: list(ix) for s, ix in self.profile.items()}
        out["refresh_steps"] = None if self.refresh_steps is None else list(self.refresh_steps)
        out["step_costs"] = None if self.step_costs is None else list(self.step_costs)
        out["plans"] = {str(k): list(v) for k, v in sorted(self.plans.items())}
        return out
