"""Per-stack refresh schedules and block-index lists.

A step is one of three actions for a stack:
  "full"    compute every block, record nothing (warm-up, forced last steps),
  "refresh" compute every block and record one delta per run of cached blocks,
  "reuse"   skip cached runs and add their deltas; uncached blocks are computed.
The action is a pure function of (config, step): every sequence-parallel rank decides alike by construction.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .checks import is_finite_number, is_integer

FULL, REFRESH, REUSE = "full", "refresh", "reuse"


def parse_index_list(text: str, upper: int | None = None, what: str = "block list") -> tuple[int, ...]:
    """Parse "0,2-7,10-20" into sorted unique ints; reject malformed, negative, duplicate or >= upper items."""
    text = text.strip()
    if not text:
        return ()
    out: list[int] = []
    for item in text.split(","):
        item = item.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
        if not m:
            raise ValueError(f"{what}: malformed item {item!r}; use comma-separated indices and ranges like 0,2-7")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if hi < lo:
            raise ValueError(f"{what}: range {item!r} is descending")
        out.extend(range(lo, hi + 1))
    dup = sorted({i for i in out if out.count(i) > 1})
    if dup:
        raise ValueError(f"{what}: duplicate indices {dup}")
    if upper is not None and out and max(out) >= upper:
        raise ValueError(f"{what}: index {max(out)} is out of range; valid indices are 0..{upper - 1}")
    return tuple(sorted(out))


def _check_int(what: str, value, lower: int) -> None:
    """An int (not a bool or a float such as 6.0 or NaN) >= lower, or a ValueError naming it."""
    if not is_integer(value) or value < lower:
        raise ValueError(f"{what} must be an integer >= {lower}, got {value!r}")


def complement(text: str, upper: int, what: str) -> tuple[int, ...]:
    """The blocks of 0..upper-1 that the list `text` leaves out: the release's foreground lists name the blocks
    always computed, so the cached ones are their complement."""
    listed = set(parse_index_list(text, upper, what))
    return tuple(i for i in range(upper) if i not in listed)


def parse_linear(text: str, what: str = "--cache_linear") -> tuple[float, float]:
    """Parse "TMAX,TMIN" (the paper's decreasing interval) into two finite floats, TMAX >= TMIN > 0."""
    try:
        t_max, t_min = (float(v) for v in text.split(","))
    except ValueError as err:
        raise ValueError(f'{what} must be "TMAX,TMIN", got {text!r}') from err
    if not (math.isfinite(t_max) and math.isfinite(t_min) and t_max >= t_min > 0):
        raise ValueError(f'{what} "TMAX,TMIN" needs finite TMAX >= TMIN > 0, got {text!r}')
    return t_max, t_min


def runs_of(indices: tuple[int, ...]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive indices as (first, last); an isolated index is a run of one."""
    runs: list[tuple[int, int]] = []
    for i in sorted(indices):
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


@dataclass(frozen=True, kw_only=True)
class StackSchedule:
    """Which blocks of one stack are cached and on which steps their deltas are refreshed.

    Refresh steps come from exactly one source: `interval` (every k steps from `warmup`), `refresh_steps`
    (an explicit list), or `linear=(t_max, t_min)` (the paper's decreasing interval, Eq. 15, with the even
    rounding that reproduces the release's HunyuanVideo list). `last_full` forces full compute at the end.
    `for_steps` is the step count an explicit list was written for; other counts scale it (see `refreshes`).
    """

    cached: tuple[int, ...]
    warmup: int = 6
    interval: int | None = None
    refresh_steps: tuple[int, ...] | None = None
    linear: tuple[float, float] | None = None
    last_full: int = 0
    for_steps: int = 50

    def __post_init__(self) -> None:
        # Types first: a preset file or an API caller may hand in floats, NaN, None or strings, which would
        # otherwise pass the comparisons below and fail steps later, deep in a run.
        _check_int("warmup", self.warmup, 0)
        _check_int("last_full", self.last_full, 0)
        _check_int("for_steps", self.for_steps, 1)
        if self.interval is not None:
            _check_int("interval", self.interval, 1)
        if not isinstance(self.cached, tuple | list):
            raise ValueError(f"cached must be a list of block indices, got {self.cached!r}")
        for i in self.cached:
            _check_int("a cached block index", i, 0)
        if self.refresh_steps is not None:
            if not isinstance(self.refresh_steps, tuple | list):
                raise ValueError(f"refresh_steps must be a list of steps, got {self.refresh_steps!r}")
            for step in self.refresh_steps:
                _check_int("a refresh step", step, 0)
        if self.linear is not None:
            ok = isinstance(self.linear, tuple | list) and len(self.linear) == 2
            if not ok or not all(is_finite_number(v) for v in self.linear):
                raise ValueError(f"linear must be two finite numbers [t_max, t_min], got {self.linear!r}")
        sources = sum(x is not None for x in (self.interval, self.refresh_steps, self.linear))
        if sources != 1:
            raise ValueError("a schedule needs exactly one of interval, refresh_steps or linear")
        if self.linear is not None and not (self.linear[0] >= self.linear[1] > 0):
            raise ValueError(f"linear schedule needs t_max >= t_min > 0, got {self.linear}")
        if len(set(self.cached)) != len(self.cached):
            raise ValueError(f"cached blocks must be distinct, got {self.cached}")

    def refreshes(self, num_steps: int) -> tuple[int, ...]:
        """Refresh steps for a run of `num_steps`; the first one is always the first step after warm-up."""
        if self.warmup >= num_steps:
            return ()
        if self.interval is not None:
            steps = range(self.warmup, num_steps, self.interval)
        elif self.linear is not None:
            t_max, t_min = self.linear
            steps, s = [], self.warmup
            while s < num_steps:
                steps.append(s)
                t = t_max - (t_max - t_min) * (s - self.warmup) / (num_steps - self.warmup)
                s += max(2 * round(t / 2), 1)
        else:
            listed = self.refresh_steps
            if num_steps != self.for_steps:
                # Scale a list written for `for_steps` steps proportionally (documented behaviour); a step that
                # rounds onto the end of a shorter run has nothing left to refresh for.
                scaled = {round(s * num_steps / self.for_steps) for s in listed}
                listed = tuple(sorted(s for s in scaled if s < num_steps))
            bad = [s for s in listed if s >= num_steps]
            if bad:
                raise ValueError(f"refresh steps {bad} are beyond the {num_steps} sampling steps")
            steps = [s for s in listed if s >= self.warmup]
        steps = sorted(set(steps))
        if steps and steps[0] != self.warmup:
            steps = [self.warmup, *steps]  # a reuse step must never come before the first refresh
        return tuple(steps)

    def actions(self, num_steps: int) -> tuple[str, ...]:
        refresh = set(self.refreshes(num_steps))
        out = []
        for s in range(num_steps):
            if s < self.warmup or s >= num_steps - self.last_full:
                out.append(FULL)
            elif s in refresh:
                out.append(REFRESH)
            else:
                out.append(REUSE)
        return tuple(out)


@dataclass(frozen=True, kw_only=True)
class CacheConfig:
    """A schedule per block stack, keyed by the stack's attribute name.

    `depths`: blocks per stack of the model the config was made for. Every preset carries it (built-in ones and
    preset files), so that `resolve_preset` can refuse it for another model and pick the default by depth; a
    config made on the fly for the model at hand may leave it None. It describes the config's origin, not its
    behaviour: equality and repr ignore it.
    """

    stacks: dict[str, StackSchedule]
    name: str = "custom"
    depths: dict[str, int] | None = field(default=None, compare=False, repr=False)


def override_schedule(
    base: StackSchedule | None,
    num_steps: int,
    *,
    cached: tuple[int, ...] | None = None,
    warmup: int | None = None,
    interval: int | None = None,
    refresh_steps: tuple[int, ...] | None = None,
    linear: tuple[float, float] | None = None,
    last_full: int | None = None,
    what: str = "schedule",
) -> StackSchedule:
    """A preset's schedule (`base`, may be None) with the given fields replaced, checked for `num_steps`.

    A new refresh source (interval, refresh_steps or linear) replaces the preset's; an explicit list is taken
    as written for `num_steps`. Raises ValueError naming `what` on any inconsistency.
    """
    if sum(x is not None for x in (interval, refresh_steps, linear)) > 1:
        raise ValueError(f"{what}: give only one of an interval, a refresh-step list or a linear schedule")
    if base is None and cached is None:
        raise ValueError(f"{what}: no preset for this model; give the cached blocks and a schedule")
    if base is None and interval is None and refresh_steps is None and linear is None:
        raise ValueError(f"{what}: the cached blocks need a schedule (an interval, refresh steps or linear)")
    kw: dict = dict(
        cached=cached if cached is not None else base.cached,
        warmup=warmup if warmup is not None else (base.warmup if base else 6),
        last_full=last_full if last_full is not None else (base.last_full if base else 0),
    )
    if interval is not None:
        kw["interval"] = interval
    elif refresh_steps is not None:
        kw.update(refresh_steps=refresh_steps, for_steps=num_steps)
    elif linear is not None:
        kw["linear"] = linear
    else:
        kw.update(
            interval=base.interval, refresh_steps=base.refresh_steps, linear=base.linear, for_steps=base.for_steps
        )
    try:
        sched = StackSchedule(**kw)
        sched.actions(num_steps)  # surfaces errors such as refresh steps beyond the run
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from err
    return sched
