"""Which steps refresh: the plan of `adaptive` for a number of refreshes, from the profiled cost of each step.

The profiler measures, per step s, what reusing that one step (its delta forecast from the two refreshes before
it) costs the final latent (`step_costs[s]`, a mean squared error on calibration prompts). A reuse h steps past
a refresh is charged `step_costs[s] * growth(h)`: a first-order forecast's error grows as h (h + 1) in the
gap (the Taylor remainder), so its squared error as that squared, relative to h = 1; a held delta's error as h.
Costs are summed over a plan's reuses, and `plan_refreshes` finds the plan of least total cost with exactly
`count` refreshes by dynamic programming over the position of the previous refresh. Step 0 always refreshes.
"""

from __future__ import annotations

import math


def growth(h: int, order: int) -> float:
    """The squared error of a reuse h steps past its refresh, relative to h = 1."""
    return (h * (h + 1) / 2) ** 2 if order == 1 else float(h * h)


def plan_refreshes(step_costs: list[float], count: int, max_gap: int, order: int = 1) -> tuple[int, ...]:
    """The `count` refresh steps (step 0 among them) of least summed reuse cost; at most `max_gap` reuses in a
    row. `count` is clipped to what `max_gap` allows."""
    n = len(step_costs)
    count = max(min(count, n), math.ceil(n / (max_gap + 1)))

    def segment(i: int, j: int) -> float:  # reuses i+1 .. j-1 after a refresh at i
        return sum(step_costs[i + h] * growth(h, order) for h in range(1, j - i))

    inf = float("inf")
    # best[k][i]: the least cost of steps 0..i with k + 1 refreshes, the last at i
    best = [[inf] * n for _ in range(count)]
    back = [[-1] * n for _ in range(count)]
    best[0][0] = 0.0
    for k in range(1, count):
        for j in range(1, n):
            for i in range(max(0, j - max_gap - 1), j):
                c = best[k - 1][i] + segment(i, j)
                if c < best[k][j]:
                    best[k][j], back[k][j] = c, i
    # the last refresh: the steps after it reuse up to the end
    last = min((i for i in range(n) if n - 1 - i <= max_gap), key=lambda i: best[count - 1][i] + segment(i, n))
    plan, k = [last], count - 1
    while k > 0:
        last = back[k][last]
        plan.append(last)
        k -= 1
    return tuple(sorted(plan))
