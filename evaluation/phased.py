"""A cached set that changes with the step: the paper's Table 3 "split" and "alternate" ablations.

`Phases` lists (first step, CacheConfig) pairs. `PhasedCache` is a step cache for the pipelines
(`generate(cache=...)` / `predict(cache=...)`): at the first pass of each phase it removes the previous phase's
wrappers and applies the next phase's config (`delta_cache.apply_cache`, so the cached blocks of each phase are
wrapped from outside exactly as a plain cache's), whose first step must be a refresh. Deltas never cross a
phase boundary. Nothing here changes how a single config caches.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from torch import nn

from delta_cache import REFRESH, CacheConfig, CacheSpec, apply_cache


@dataclass(frozen=True)
class Phases:
    name: str
    phases: tuple[tuple[int, CacheConfig], ...]  # (first step, config), first steps increasing

    def check(self, num_steps: int) -> None:
        starts = [s for s, _ in self.phases]
        if not starts or starts != sorted(set(starts)) or starts[-1] >= num_steps:
            raise ValueError(f"{self.name}: phase starts {starts} must increase within the {num_steps} steps")
        for start, config in self.phases[1:]:
            for attr, sched in config.stacks.items():
                if sched.actions(num_steps)[start] != REFRESH:
                    raise ValueError(f"{self.name}: the phase from step {start} must refresh {attr} there")


class PhasedCache:
    def __init__(self, model: nn.Module, spec: CacheSpec, phases: Phases, num_steps: int):
        phases.check(num_steps)
        self.model, self.spec, self.phases, self.num_steps = model, spec, phases, num_steps
        self._handle = None  # the current phase's CacheHandle
        self._phase: int | None = None
        self._finished: list[dict] = []  # stats of the phases already left

    def _phase_of(self, step: int) -> int:
        return max(i for i, (start, _) in enumerate(self.phases.phases) if start <= step)

    def _leave(self) -> None:
        if self._handle is not None:
            self._finished.append(self._handle.stats())
            self._handle.remove()
            self._handle = None

    # -- the StepCache protocol ------------------------------------------------------------------------
    def start(self, num_steps: int) -> None:
        if num_steps != self.num_steps:
            raise ValueError(f"{self.phases.name}: built for {self.num_steps} steps, the sampler runs {num_steps}")
        self.remove()
        self._finished = []

    def clear_deltas(self) -> None:
        if self._handle is not None:
            self._handle.clear_deltas()

    @contextmanager
    def branch(self, name: str, step: int):
        phase = self._phase_of(step)
        if phase != self._phase:
            self._leave()
            self._handle = apply_cache(self.model, self.spec, self.phases.phases[phase][1], self.num_steps)
            self._phase = phase
        with self._handle.branch(name, step):
            yield

    def stats(self) -> dict:
        """Block evaluations over every phase (each phase's handle counts the passes it saw)."""
        parts = self._finished + ([self._handle.stats()] if self._handle is not None else [])
        computed = sum(p["block_evals_computed"] for p in parts)
        total = sum(p["block_evals_total"] for p in parts)
        return {
            "block_evals_computed": computed,
            "block_evals_total": total,
            "theoretical_speedup": total / computed if computed else 1.0,
            "cache_bytes_peak": max((p["cache_bytes_peak"] for p in parts), default=0),
        }

    def remove(self) -> None:
        """Put the original blocks back; `stats` still counts every phase run so far."""
        self._leave()
        self._phase = None
