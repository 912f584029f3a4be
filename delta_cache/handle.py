"""apply_cache and the CacheHandle that owns every cached tensor, counter and the current (branch, step)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

from .schedule import CacheConfig, runs_of
from .spec import CacheSpec
from .wrappers import ISOLATED, RUN_END, RUN_INNER, RUN_START, CachedBlock


class CacheHandle:
    """Returned by `apply_cache`. Mark each model pass with `with handle.branch("cond", step=i): ...`."""

    def __init__(self, model: nn.Module, spec: CacheSpec, config: CacheConfig, num_steps: int):
        self.model, self.spec, self.config, self.num_steps = model, spec, config, num_steps
        self.actions = {attr: sched.actions(num_steps) for attr, sched in config.stacks.items()}
        self._originals: dict[str, dict[int, nn.Module]] = {}
        self._branch: str | None = None
        self._step: int | None = None
        self.reset()

    # -- state -----------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all deltas and counters (call between generations; `apply_cache` starts clean)."""
        self.clear_deltas()
        self._reused: dict[tuple[str, str], int] = {}
        self.records: list[dict] = []
        self.bytes_peak = 0

    def clear_deltas(self) -> None:
        """Forget the cached tensors but keep the counters: a new batch of the same run starts here."""
        self._slots: dict[tuple[str, str, int], dict] = {}

    @contextmanager
    def branch(self, name: str, step: int) -> Iterator[None]:
        if not 0 <= step < self.num_steps:
            raise ValueError(f"step {step} outside the {self.num_steps} steps this cache was built for")
        self._branch, self._step = name, step
        self.records.append({"step": step, "branch": name, **{a: acts[step] for a, acts in self.actions.items()}})
        try:
            yield
        finally:
            self._branch = self._step = None

    def action(self, stack: str) -> str:
        if self._step is None:
            raise RuntimeError("delta_cache: model called outside `with handle.branch(name, step)`")
        return self.actions[stack][self._step]

    def slot(self, stack: str, run: int) -> dict:
        return self._slots.setdefault((self._branch, stack, run), {})

    def count_reuse(self, stack: str) -> None:
        key = (self._branch, stack)
        self._reused[key] = self._reused.get(key, 0) + 1

    def note_bytes(self) -> None:
        total = sum(t.numel() * t.element_size() for s in self._slots.values() for v in s.values() for t in v)
        self.bytes_peak = max(self.bytes_peak, total)

    # -- reporting -------------------------------------------------------------------------------------
    def stats(self) -> dict:
        """Block evaluations per branch and stack; every model pass (one `branch` context) runs each stack once."""
        passes: dict[str, int] = {}
        for record in self.records:
            passes[record["branch"]] = passes.get(record["branch"], 0) + 1
        per = {}
        for branch, n_passes in sorted(passes.items()):
            for stack in self.config.stacks:
                total = n_passes * len(getattr(self.model, stack))
                reused = self._reused.get((branch, stack), 0)
                per[f"{branch}/{stack}"] = {"computed": total - reused, "total": total, "reused": reused}
        computed = sum(v["computed"] for v in per.values())
        total = sum(v["total"] for v in per.values())
        return {
            "block_evals_computed": computed,
            "block_evals_total": total,
            "theoretical_speedup": total / computed if computed else 1.0,
            "cache_bytes_peak": self.bytes_peak,
            "per_branch_stack": per,
        }

    # -- installation ----------------------------------------------------------------------------------
    def _install(self) -> None:
        for attr, sched in self.config.stacks.items():
            stack = self.spec.stack(attr)
            blocks = getattr(self.model, attr)
            if not isinstance(blocks, nn.ModuleList):
                raise ValueError(f"model.{attr} is not an nn.ModuleList")
            bad = [i for i in sched.cached if i >= len(blocks)]
            if bad:
                raise ValueError(f"cached {attr} indices {bad} out of range; the model has {len(blocks)} blocks")
            self._originals[attr] = {}
            for run, (first, last) in enumerate(runs_of(sched.cached)):
                for i in range(first, last + 1):
                    role = (
                        ISOLATED if first == last else RUN_START if i == first else RUN_END if i == last else RUN_INNER
                    )
                    self._originals[attr][i] = blocks[i]
                    blocks[i] = CachedBlock(blocks[i], self, attr, i, run, role, len(stack.streams))

    def remove(self) -> None:
        """Put the original blocks back; the model is then exactly as before `apply_cache`."""
        for attr, originals in self._originals.items():
            blocks = getattr(self.model, attr)
            for i, block in originals.items():
                blocks[i] = block
        self._originals = {}
        self.reset()


def apply_cache(model: nn.Module, spec: CacheSpec, config: CacheConfig, num_steps: int) -> CacheHandle:
    """Wrap the cached blocks of `model` (after its weights are loaded) and return the owning handle.

    Example:
        handle = apply_cache(model, WAN_CACHE_SPEC, T2V_14B_RELEASED, num_steps=50)
        for i, t in enumerate(timesteps):
            with handle.branch("cond", step=i):
                v_c = model(...)
        handle.remove()
    """
    unknown = set(config.stacks) - {s.attr for s in spec.stacks}
    if unknown:
        raise ValueError(f"config names unknown block stacks {sorted(unknown)}")
    handle = CacheHandle(model, spec, config, num_steps)
    handle._install()
    return handle
