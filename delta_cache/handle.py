"""apply_cache and the CacheHandle that owns every cached tensor, counter and the current (branch, step)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from .checks import is_integer
from .output_reuse import MODEL_OUTPUT, OUTPUT_REUSE_MARK
from .policy import Policy, PolicyRuntime, StaticSchedule
from .schedule import REFRESH, REUSE, CacheConfig, runs_of
from .spec import CacheSpec
from .wrappers import ISOLATED, RUN_END, RUN_INNER, RUN_START, CachedBlock

CACHE_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def cache_dtype_for(choice: str, device: torch.device | str) -> torch.dtype | None:
    """`--cache_dtype`: "auto" is bf16 on CUDA (Wan's fp32 deltas halve) and the stream's own dtype elsewhere."""
    if choice == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" else None
    if choice not in CACHE_DTYPES:
        raise ValueError(f"unknown cache dtype {choice!r}; accepted: auto, {', '.join(CACHE_DTYPES)}")
    return CACHE_DTYPES[choice]


def _nbytes(tensors: tuple[Tensor, ...]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


class CacheHandle:
    """Returned by `apply_cache`. Mark each model pass with `with handle.branch("cond", step=i): ...`.

    A context manager: `with apply_cache(...) as handle:` removes the wrappers on exit, exception or not.
    """

    def __init__(
        self,
        model: nn.Module,
        spec: CacheSpec,
        config: CacheConfig | Policy,
        num_steps: int,
        cache_dtype: torch.dtype | None = None,
    ):
        self.model, self.spec, self.config, self.num_steps = model, spec, config, num_steps
        self.cache_dtype = cache_dtype
        # One mechanism for every method: a static schedule is the policy that reads its plan.
        static = not isinstance(config, Policy)
        self.policy: Policy = StaticSchedule(config, num_steps) if static else config
        self.policy.bind(_depths(model, spec))
        self.cached = self.policy.cached()
        self.forecast = bool(self.policy.forecast)  # two deltas per run and branch, extrapolated on reuse
        self.actions = self.policy.plan if static else None  # a data-dependent policy decides pass by pass
        # After this step a stack's deltas are never read again: they are freed when its pass ends.
        self._last_reuse = self.policy.last_reuse(num_steps)
        self.runtime = PolicyRuntime(self.policy, model, spec, num_steps, self)
        self._originals: dict[str, dict[int, nn.Module]] = {}
        # A pass that would reuse a stack holding no delta of its branch refreshes it instead. Off for our own
        # pipelines (a policy must never do that: tested); on for a model that joins a run part way, as the
        # second expert of Wan2.2 does at the boundary step.
        self.refresh_if_empty = False
        self._branch: str | None = None
        self._step: int | None = None
        self._record: dict | None = None
        self.reset()

    def __enter__(self) -> CacheHandle:
        return self

    def __exit__(self, *exc) -> bool:
        self.remove()
        return False

    # -- state -----------------------------------------------------------------------------------------
    def start(self, num_steps: int) -> None:
        """A new generation: refuse a sampler of another step count, then forget all state (`reset`)."""
        if num_steps != self.num_steps:
            raise ValueError(
                f"delta_cache: the sampler runs {num_steps} steps but this cache was built for "
                f"{self.num_steps}; apply the cache with num_steps={num_steps}"
            )
        self.reset()

    def retarget(self, num_steps: int) -> None:
        """Plan for a sampler of `num_steps` steps instead (a static schedule's listed refresh steps scale to it,
        as when our CLIs build a cache for their `--sample_steps`), then start clean. For hosts that learn the
        step count only when a generation starts (diffusers pipelines)."""
        num_steps = _check_num_steps(num_steps)
        if isinstance(self.policy, StaticSchedule):
            self.policy.replan(num_steps)
            self.actions = self.policy.plan
        self.num_steps = self.runtime.view.num_steps = num_steps
        self._last_reuse = self.policy.last_reuse(num_steps)
        self.reset()

    def reset(self) -> None:
        """Forget all deltas and counters (`start` calls it; `apply_cache` starts clean)."""
        self.clear_deltas()
        self.records: list[dict] = []
        self.bytes_peak = 0

    def clear_deltas(self) -> None:
        """Forget the cached tensors but keep the counters: a new batch of the same run starts here."""
        self._slots: dict[tuple[str, str, int], dict[str, tuple[Tensor, ...]]] = {}
        self._delta_steps: dict[tuple[str, str, int], tuple[int | None, int]] = {}  # (previous, latest) refresh
        self.bytes_held = 0
        self.runtime.reset()  # a policy's state describes the deltas it was deciding about

    @contextmanager
    def branch(self, name: str, step: int) -> Iterator[None]:
        if not 0 <= step < self.num_steps:
            raise ValueError(f"step {step} outside the {self.num_steps} steps this cache was built for")
        self._branch, self._step = name, step
        # What the wrappers execute in this pass, filled in by them (the plan is `self.actions`).
        self._record = {"step": step, "branch": name}
        self.records.append(self._record)
        self.runtime.begin_pass(name, step, self._record)
        try:
            yield
        finally:
            for stack, last in self._last_reuse.items():
                if step >= last:
                    self._free(name, stack)
            self.runtime.end_pass()
            self._branch = self._step = self._record = None

    # The wrappers' calls into the handle are bookkeeping: Dynamo never traces them (no per-step recompiles).
    @torch.compiler.disable
    def action(self, stack: str) -> str:
        if self._step is None:
            raise RuntimeError("delta_cache: model called outside `with handle.branch(name, step)`")
        action = self.runtime.action(stack)
        if action == REUSE and self.refresh_if_empty and not self._holds(stack):
            return REFRESH
        return action

    def _holds(self, stack: str) -> bool:
        """Whether the current branch holds a delta of every run of `stack`."""
        runs = len(runs_of(self.cached.get(stack, ())))
        return all("delta" in self._slots.get((self._branch, stack, run), {}) for run in range(runs))

    @torch.compiler.disable
    def note_executed(self, stack: str, action: str) -> None:
        """Record the action the wrappers of `stack` took in this pass: the runtime decides once per pass and
        stack, so the first wrapper's is every wrapper's."""
        self._record.setdefault(stack, action)

    @torch.compiler.disable
    def count_reuse(self, stack: str, blocks: int = 1) -> None:
        self._record[f"{stack}_reused"] = self._record.get(f"{stack}_reused", 0) + blocks

    def reuse_model_pass(self) -> None:
        """Output-level reuse: this pass ran no block of any stack."""
        for stack, depth in _depths(self.model, self.spec).items():
            self.note_executed(stack, REUSE)
            self.count_reuse(stack, depth)

    def compute_model_pass(self) -> None:
        for stack in _depths(self.model, self.spec):
            self.note_executed(stack, REFRESH)

    # -- the tensors -----------------------------------------------------------------------------------
    def _slot(self, stack: str, run: int) -> dict[str, tuple[Tensor, ...]]:
        return self._slots.setdefault((self._branch, stack, run), {})

    def _hold(self, tensors: tuple[Tensor, ...]) -> None:
        self.bytes_held += _nbytes(tensors)
        self.bytes_peak = max(self.bytes_peak, self.bytes_held)

    def _drop(self, slot: dict, key: str) -> tuple[Tensor, ...] | None:
        tensors = slot.pop(key, None)
        if tensors is not None:
            self.bytes_held -= _nbytes(tensors)
        return tensors

    @torch.compiler.disable
    def set_anchor(self, stack: str, run: int, streams: tuple[Tensor, ...]) -> None:
        """A refresh starts: the run's old delta is dropped (kept as the previous one when forecasting), its input
        streams are held until the run ends."""
        slot = self._slot(stack, run)
        if self.forecast:
            if self.policy.forecast_error and "previous" in slot:
                # what a reuse at this step would have added, kept until the refresh's own delta is known
                forecast = self.delta(stack, run, -1)
                if self.cache_dtype is not None:
                    forecast = tuple(f.to(self.cache_dtype) for f in forecast)
                slot["forecast"] = forecast
                self._hold(slot["forecast"])
            self._drop(slot, "previous")
            if "delta" in slot:
                slot["previous"] = slot.pop("delta")  # still held: counted once, under its new name
        else:
            self._drop(slot, "delta")
        slot["anchor"] = streams
        self._hold(streams)  # held past the next block, so counted as cache memory

    @torch.compiler.disable
    def store_delta(self, stack: str, run: int, streams_out: tuple[Tensor, ...]) -> None:
        slot = self._slot(stack, run)
        anchor = slot["anchor"]
        dtype = self.cache_dtype
        delta = tuple((o - a) if dtype is None else (o - a).to(dtype) for o, a in zip(streams_out, anchor, strict=True))
        slot["delta"] = delta
        self._hold(delta)  # the anchor is still held here: the peak includes both
        self._drop(slot, "anchor")
        forecast = self._drop(slot, "forecast")
        if forecast is not None:  # the forecast's error at this refresh, for the policy to read
            error = sum((d.float() - f.float()).abs().sum() for d, f in zip(delta, forecast, strict=True))
            size = sum(d.float().abs().sum() for d in delta)
            self.policy.forecast_observed(self._branch, stack, run, error.detach(), size.detach())
        key = (self._branch, stack, run)
        self._delta_steps[key] = (self._delta_steps.get(key, (None, None))[1], self._step)

    @torch.compiler.disable
    def delta(self, stack: str, run: int, index: int) -> tuple[Tensor, ...]:
        """The delta a reuse adds: the last refresh's, or with `forecast` its extrapolation from the last two
        refreshes, d + (d - d_prev) * the policy's `forecast_scale` (by default the step distance: exact for a
        delta that changes linearly with the step)."""
        key = (self._branch, stack, run)
        slot = self._slots.get(key, {})
        delta = slot.get("delta")
        if delta is None:
            raise RuntimeError(f"delta_cache: reuse of {stack}[{index}] before any refresh")
        previous = slot.get("previous")
        if previous is None:
            return delta
        before, last = self._delta_steps[key]
        scale = self.policy.forecast_scale(self._branch, self._step, before, last)
        return tuple(d.float() + (d.float() - p.float()) * scale for d, p in zip(delta, previous, strict=True))

    # Output-level reuse keeps one (output - input) per branch, in the slot of the pseudo-stack MODEL_OUTPUT.
    @torch.compiler.disable
    def store_output_delta(self, delta: tuple[Tensor, ...]) -> None:
        slot = self._slot(MODEL_OUTPUT, 0)
        self._drop(slot, "delta")
        slot["delta"] = delta
        self._hold(delta)

    @torch.compiler.disable
    def output_delta(self) -> tuple[Tensor, ...] | None:
        return self._slots.get((self._branch, MODEL_OUTPUT, 0), {}).get("delta")

    def _free(self, branch: str, stack: str) -> None:
        for key in [k for k in self._slots if k[0] == branch and k[1] == stack]:
            slot = self._slots.pop(key)
            self._delta_steps.pop(key, None)
            self.bytes_held -= sum(_nbytes(v) for v in slot.values())

    # -- reporting -------------------------------------------------------------------------------------
    def stats(self) -> dict:
        """Block evaluations per branch and stack, over every block stack of the model, cached or not.

        Every model pass (one `branch` context) runs each stack once.
        """
        passes: dict[str, int] = {}
        for record in self.records:
            passes[record["branch"]] = passes.get(record["branch"], 0) + 1
        depths = _depths(self.model, self.spec)
        per = {}
        for branch, n_passes in sorted(passes.items()):
            for stack, depth in depths.items():
                total = n_passes * depth
                reused = sum(r.get(f"{stack}_reused", 0) for r in self.records if r["branch"] == branch)
                per[f"{branch}/{stack}"] = {"computed": total - reused, "total": total, "reused": reused}
        computed = sum(v["computed"] for v in per.values())
        total = sum(v["total"] for v in per.values())
        return {
            "block_evals_computed": computed,
            "block_evals_total": total,
            "theoretical_speedup": total / computed if computed else 1.0,
            "cache_bytes_peak": self.bytes_peak,
            "cache_dtype": None if self.cache_dtype is None else str(self.cache_dtype).removeprefix("torch."),
            "per_branch_stack": per,
            "method": self.policy.name,
            "method_settings": self.policy.describe(),
        }

    # -- installation ----------------------------------------------------------------------------------
    def _install(self) -> None:
        for name, cached in self.cached.items():
            stack = self.spec.stack(name)
            blocks = getattr(self.model, stack.attr)
            self._originals[name] = {}
            for run, (first, last) in enumerate(runs_of(cached)):
                for i in range(first, last + 1):
                    role = (
                        ISOLATED if first == last else RUN_START if i == first else RUN_END if i == last else RUN_INNER
                    )
                    self._originals[name][i] = blocks[i]
                    blocks[i] = CachedBlock(blocks[i], self, name, i, run, role, len(stack.streams))
        self.runtime.install()

    def remove(self) -> None:
        """Put the original blocks back; the model is then exactly as before `apply_cache`."""
        self.runtime.remove()
        for name, originals in self._originals.items():
            blocks = self.spec.blocks(self.model, name)
            for i, block in originals.items():
                blocks[i] = block
        self._originals = {}
        self.reset()


def _depths(model: nn.Module, spec: CacheSpec) -> dict[str, int]:
    """Block count of every stack of the spec that the model has, by the stack's name."""
    return {
        s.name: len(getattr(model, s.attr))
        for s in spec.stacks
        if isinstance(getattr(model, s.attr, None), nn.ModuleList)
    }


def _check_num_steps(num_steps) -> int:
    # A float would pass `range` checks here and fail deep inside the first pass: refuse it now.
    if not is_integer(num_steps) or num_steps < 1:
        raise ValueError(f"num_steps must be an int >= 1, got {num_steps!r}")
    return int(num_steps)


def _check_cache_dtype(cache_dtype) -> torch.dtype | None:
    """None, one of CACHE_DTYPES' dtypes, or its name ("bf16"); anything else is refused before wrapping."""
    if cache_dtype is None or cache_dtype in CACHE_DTYPES.values():
        return cache_dtype
    if isinstance(cache_dtype, str) and cache_dtype in CACHE_DTYPES:
        return CACHE_DTYPES[cache_dtype]
    accepted = ", ".join([*CACHE_DTYPES, *(str(d) for d in CACHE_DTYPES.values())])
    raise ValueError(f"cache_dtype must be None or one of {accepted}; got {cache_dtype!r}")


def _validate(model: nn.Module, spec: CacheSpec, config: CacheConfig | Policy, num_steps: int) -> None:
    """Every check, before anything is wrapped: a bad second stack must not leave the first one wrapped."""
    for s in spec.stacks:
        blocks = getattr(model, s.attr, None)
        if isinstance(blocks, nn.ModuleList) and any(isinstance(b, CachedBlock) for b in blocks):
            raise ValueError(f"model.{s.attr} already has delta_cache wrappers; remove that handle first")
    if getattr(model.__dict__.get("forward"), OUTPUT_REUSE_MARK, False):
        raise ValueError(
            "the model's forward already reuses outputs for a delta_cache handle; remove that handle first"
        )
    if isinstance(config, Policy):
        return  # a policy checks its settings against the depths when bound
    unknown = set(config.stacks) - {s.name for s in spec.stacks}
    if unknown:
        have = ", ".join(s.name for s in spec.stacks)
        raise ValueError(f"config names unknown block stacks {sorted(unknown)}; this model has: {have}")
    for name, sched in config.stacks.items():
        blocks = spec.blocks(model, name)
        if not isinstance(blocks, nn.ModuleList):
            raise ValueError(f"model.{spec.stack(name).attr} is not an nn.ModuleList")
        bad = [i for i in sched.cached if i >= len(blocks)]
        if bad:
            raise ValueError(f"cached {name} indices {bad} out of range; the model has {len(blocks)} blocks")
        sched.actions(num_steps)  # surfaces schedule errors (refresh steps beyond the run)


def apply_cache(
    model: nn.Module,
    spec: CacheSpec,
    config: CacheConfig | Policy,
    num_steps: int,
    cache_dtype: torch.dtype | None = None,
) -> CacheHandle:
    """Wrap the cached blocks of `model` (after its weights are loaded) and return the owning handle.

    `config` is a static schedule (`CacheConfig`, ProfilingDiT's presets) or a data-dependent `Policy`
    (`delta_cache.peers`: TeaCache, FBCache, MagCache, EasyCache, DBCache).

    `cache_dtype` stores the deltas in that dtype (e.g. torch.bfloat16 or "bf16" for Wan's fp32 stream: half
    the memory); None keeps the stream's dtype. Reuse adds them back in the stream's dtype.

    Example:
        with apply_cache(model, WAN_CACHE_SPEC, T2V_14B_RELEASED, num_steps=50) as handle:
            handle.start(50)
            for i, t in enumerate(timesteps):
                with handle.branch("cond", step=i):
                    v_c = model(...)
        # the original blocks are back
    """
    num_steps, cache_dtype = _check_num_steps(num_steps), _check_cache_dtype(cache_dtype)
    _validate(model, spec, config, num_steps)
    handle = CacheHandle(model, spec, config, num_steps, cache_dtype)
    handle._install()
    return handle
