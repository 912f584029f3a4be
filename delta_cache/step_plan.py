"""Which steps refresh: the plans of `adaptive` for a number of refreshes, from the profiled cost of each step.

The profiler measures, per step s, what reusing that one step (its delta forecast from the two refreshes before
it) costs the decoded video (`step_costs[s]`, a mean squared error on calibration prompts). How the cost of a
reuse grows h steps past its refresh, and how the reuses of one gap add up, is not known in advance, so three
models of it each give a plan (by dynamic programming over the position of the previous refresh: the plan of
least total cost with exactly `count` refreshes), and equal gaps two more (from step 0, and spanning step 0 to the
last step: TaylorSeer's fixed interval when it divides the steps); the profiler runs each candidate on its
calibration prompts and keeps the best per count (`plans` of the preset file's adaptive section):
- `taylor`: a first-order forecast's error grows as h (h + 1) (the Taylor remainder), the reuses' squared
  errors add: cost s * (h (h + 1) / 2)^2 summed;
- `taylor-coherent`: the same growth, but the errors of one gap share one forecast and add as amplitudes:
  (sum of sqrt(cost s) * h (h + 1) / 2)^2;
- `linear-coherent`: errors that grow as h (a forecast dominated by the deltas' step-to-step noise), adding as
  amplitudes.
On t2v-tiny no model won at every count (8 held-out prompts: `taylor` best at 1.92x, `taylor-coherent` at
2.78x and 3.57x, by 2-3 dB). Step 0 always refreshes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Segment = Callable[[list[float], int, int], float]  # (costs, refresh i, next refresh j) -> cost of i+1 .. j-1


def _taylor(c: list[float], i: int, j: int) -> float:
    return sum(c[i + h] * (h * (h + 1) / 2) ** 2 for h in range(1, j - i))


def _taylor_coherent(c: list[float], i: int, j: int) -> float:
    return sum(math.sqrt(c[i + h]) * h * (h + 1) / 2 for h in range(1, j - i)) ** 2


def _linear_coherent(c: list[float], i: int, j: int) -> float:
    return sum(math.sqrt(c[i + h]) * h for h in range(1, j - i)) ** 2


def _hold(c: list[float], i: int, j: int) -> float:  # a held delta (order 0): its error grows as h
    return sum(c[i + h] * h * h for h in range(1, j - i))


SEGMENT_MODELS: dict[str, Segment] = {
    "taylor": _taylor,
    "taylor-coherent": _taylor_coherent,
    "linear-coherent": _linear_coherent,
    "hold": _hold,
}


def min_refreshes(num_steps: int, max_gap: int) -> int:
    return math.ceil(num_steps / (max_gap + 1))


def plan_refreshes(step_costs: list[float], count: int, max_gap: int, model: str = "taylor") -> tuple[int, ...]:
    """The `count` refresh steps (step 0 among them) of least total cost under `model`; at most `max_gap`
    reuses in a row. `count` is clipped to what `max_gap` allows and to the step count."""
    n, segment = len(step_costs), SEGMENT_MODELS[model]
    count = max(min(count, n), min_refreshes(n, max_gap))
    inf = float("inf")
    # best[k][j]: the least cost of steps 0 .. j - 1 with k + 1 refreshes, the last at j
    best = [[inf] * n for _ in range(count)]
    back = [[-1] * n for _ in range(count)]
    best[0][0] = 0.0
    for k in range(1, count):
        for j in range(1, n):
            for i in range(max(0, j - max_gap - 1), j):
                c = best[k - 1][i] + segment(step_costs, i, j)
                if c < best[k][j]:
                    best[k][j], back[k][j] = c, i
    # the last refresh: the steps after it reuse up to the end
    ends = [i for i in range(n) if n - 1 - i <= max_gap]
    last = min(ends, key=lambda i: best[count - 1][i] + segment(step_costs, i, n))
    plan, k = [last], count - 1
    while k > 0:
        last = back[k][last]
        plan.append(last)
        k -= 1
    return tuple(sorted(plan))


def equal_refreshes(num_steps: int, count: int) -> tuple[int, ...]:
    """`count` refreshes with equal gaps from step 0 (TaylorSeer's fixed interval when it divides evenly)."""
    count = max(1, min(count, num_steps))
    return tuple(sorted({round(k * num_steps / count) for k in range(count)}))


def equal_refreshes_to_last(num_steps: int, count: int) -> tuple[int, ...]:
    """`count` refreshes with equal gaps from step 0 to the last step, both refreshed: the last step's reuse
    costs most on some models (HYVideo-tiny), and this is TaylorSeer's interval plan when the interval divides
    num_steps - 1 (interval 2 on 25 steps: 0, 2, ..., 24)."""
    count = max(1, min(count, num_steps))
    if count == 1:
        return (0,)
    return tuple(sorted({round(k * (num_steps - 1) / (count - 1)) for k in range(count)}))


def candidate_plans(step_costs: list[float], count: int, max_gap: int) -> dict[str, tuple[int, ...]]:
    """Every model's plan for `count` refreshes and the two equal-gap plans, each distinct plan once."""
    n = len(step_costs)
    out: dict[str, tuple[int, ...]] = {}
    for name in ("taylor", "taylor-coherent", "linear-coherent"):
        out[name] = plan_refreshes(step_costs, count, max_gap, name)
    count = max(count, min_refreshes(n, max_gap))
    for name, equal in (("equal", equal_refreshes(n, count)), ("equal-to-last", equal_refreshes_to_last(n, count))):
        if max(b - a for a, b in zip(equal, (*equal[1:], n), strict=True)) <= max_gap + 1:
            out[name] = equal
    seen, unique = set(), {}
    for name, plan in out.items():
        if plan not in seen:
            seen.add(plan)
            unique[name] = plan
    return unique
