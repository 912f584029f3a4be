"""From profile statistics to a preset: the schedule from the step statistic, the blocks from R_attn and sensitivity.

Schedule (the paper's Fig. 4 reading, made a rule): the warm-up ends at the first step whose step statistic
d_s = mean |ε_s − ε_{s+1}| is at most `warmup_ratio` times the median of d (the steep early transient is over);
K refreshes after it are placed at equal shares of the cumulative statistic D(s) = Σ d over the remaining
steps, so reuse runs are long where predictions barely change and short where they change fast (the end).

Blocks: background blocks (R_attn < τ) first, then foreground ones only if the target needs them, each group
ordered by measured sensitivity (least error first; R_attn when none was measured). For a target speedup every
(cached count, K) pair that reaches it is a candidate: the largest K that still reaches it (the freshest
deltas), and a predicted error Σ_i e_i · staleness(K) / staleness(K_ref), where e_i is block i's error
measured alone at K_ref and staleness is the mean cumulative statistic between a reuse step and its refresh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .schedule import FULL, REFRESH, StackSchedule


def choose_warmup(drift: np.ndarray, ratio: float = 2.0) -> int:
    """First step whose statistic is <= ratio x median (at least 1, at most a third of the run)."""
    d = np.nan_to_num(np.asarray(drift, dtype=np.float64))
    num_steps = len(d) + 1
    below = np.nonzero(d <= ratio * np.median(d))[0]
    s0 = int(below[0]) if len(below) else 1
    return min(max(s0, 1), max(1, num_steps // 3))


def equal_drift_refreshes(drift: np.ndarray, warmup: int, refreshes: int) -> tuple[int, ...]:
    """`refreshes` steps from `warmup` on, the first at `warmup`, at equal shares of the cumulative statistic."""
    d = np.nan_to_num(np.asarray(drift, dtype=np.float64))
    num_steps = len(d) + 1
    span = num_steps - warmup
    refreshes = max(1, min(refreshes, span))
    # D[j] = statistic accumulated from the warm-up to step warmup + j
    cumulative = np.concatenate([[0.0], np.cumsum(d[warmup:])])[:span] + 1e-12 * np.arange(span)
    marks = np.linspace(0, cumulative[-1], refreshes, endpoint=False)
    steps = {warmup + int(np.searchsorted(cumulative, m, side="left")) for m in marks}
    return fill_refreshes(steps, refreshes, num_steps)  # marks that fell on one step: steep stretches


def fill_refreshes(steps, count: int, num_steps: int) -> tuple[int, ...]:
    """`steps` (distinct, sorted or not) topped up to `count` by splitting the longest reuse run each time."""
    steps = sorted(set(steps))
    while len(steps) < count:
        bounds = [*steps, num_steps]
        gap, at = max((bounds[i + 1] - bounds[i], i) for i in range(len(steps)))
        steps = sorted([*steps, bounds[at] + gap // 2])
    return tuple(steps)


def staleness(drift: np.ndarray, actions: tuple[str, ...]) -> float:
    """Mean, over reuse steps, of the statistic accumulated since the last refresh (0 if nothing is reused)."""
    d = np.nan_to_num(np.asarray(drift, dtype=np.float64))
    total, n, since = 0.0, 0, 0.0
    for s, a in enumerate(actions):
        if a in (FULL, REFRESH):
            since = 0.0
            continue
        since += d[s - 1] if s >= 1 else 0.0
        total, n = total + since, n + 1
    return total / n if n else 0.0


def speedup(depths: dict[str, int], cached: dict[str, int], actions: tuple[str, ...]) -> float:
    """Theoretical block-evaluation speedup of caching `cached[stack]` blocks with one action sequence."""
    total = sum(depths.values()) * len(actions)
    reuse = sum(a not in (FULL, REFRESH) for a in actions)
    computed = total - reuse * sum(cached.values())
    return total / computed


@dataclass(frozen=True)
class Candidate:
    cached: dict[str, tuple[int, ...]]
    schedule: StackSchedule  # the blocks of each stack come from `cached`; the steps are shared
    speedup: float
    predicted_error: float
    uses_foreground: bool


def block_order(
    background: dict[str, tuple[int, ...]], r: dict[str, np.ndarray], error: dict[str, np.ndarray] | None
) -> list[tuple[str, int, bool]]:
    """(stack, block, is_foreground) in the order blocks are added to the cache."""
    out = []
    for fg in (False, True):
        group = [(s, i) for s, vals in r.items() for i in range(len(vals)) if (i not in background[s]) == fg]
        if error is not None:
            group.sort(key=lambda si: (error[si[0]][si[1]], r[si[0]][si[1]]))
        else:
            group.sort(key=lambda si: r[si[0]][si[1]])
        out += [(s, i, fg) for s, i in group]
    return out


def candidates(
    depths: dict[str, int],
    num_steps: int,
    drift: np.ndarray,
    order: list[tuple[str, int, bool]],
    target: float,
    error: dict[str, np.ndarray] | None,
    warmup: int,
    reference_refreshes: int,
) -> list[Candidate]:
    """Every cached count with the largest refresh count that reaches `target`, best predicted error first."""
    ref_actions = _actions(drift, num_steps, warmup, reference_refreshes)
    ref_stale = staleness(drift, ref_actions) or 1.0
    out = []
    for count in range(1, len(order) + 1):
        chosen = order[:count]
        cached = {s: tuple(sorted(i for t, i, _ in chosen if t == s)) for s in depths}
        counts = {s: len(v) for s, v in cached.items()}
        best = None
        for k in range(num_steps - warmup, 0, -1):
            actions = _actions(drift, num_steps, warmup, k)
            if speedup(depths, counts, actions) >= target - 1e-9:
                best = (k, actions)
                break
        if best is None:
            continue
        k, actions = best
        e = sum(error[s][i] for s, i, _ in chosen) if error is not None else float(count)
        sched = StackSchedule(
            cached=(), warmup=warmup, refresh_steps=equal_drift_refreshes(drift, warmup, k), for_steps=num_steps
        )
        out.append(
            Candidate(
                cached=cached,
                schedule=sched,
                speedup=speedup(depths, counts, actions),
                predicted_error=e * staleness(drift, actions) / ref_stale,
                uses_foreground=any(fg for _, _, fg in chosen),
            )
        )
    return sorted(out, key=lambda c: c.predicted_error)


def max_speedup(depths: dict[str, int], num_steps: int, warmup: int = 1) -> float:
    """The bound no selection passes: every block cached, one refresh after a one-step warm-up."""
    if num_steps <= warmup + 1:
        return 1.0
    return (num_steps * sum(depths.values())) / ((warmup + 1) * sum(depths.values()))


def _actions(drift: np.ndarray, num_steps: int, warmup: int, refreshes: int) -> tuple[str, ...]:
    steps = equal_drift_refreshes(drift, warmup, refreshes)
    return StackSchedule(cached=(), warmup=warmup, refresh_steps=steps, for_steps=num_steps).actions(num_steps)


def reference_refreshes(num_steps: int, warmup: int, interval: float = 3.0) -> int:
    """Refresh count of the schedule sensitivity is measured at: a mean interval of `interval` steps."""
    return max(1, math.ceil((num_steps - warmup) / interval))
