"""Data-dependent cache decisions: a policy decides per (branch, step) from signals the model produces.

A static schedule (`CacheConfig`) is a plan fixed before the run. A `Policy` instead answers, once per model pass
and stack (or once per pass for all stacks), whether the wrapped blocks refresh (compute and record their
deltas) or reuse them, from signals taken by hooks during that same pass: a named signal of the model's spec
(the timestep embedding, a block's modulated input), the residual of the first blocks of a stack, or the
model's input and output (output-level reuse, `level = "model"`).

Every statistic a decision compares goes through `PassView.rel_l1`: the sums of |a - b| and |b| are all-reduced
over the default process group when one is initialised, so under sequence parallelism every rank divides the
same global numbers and takes the same decision, whether its signal is a shard or a full tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .output_reuse import OutputReuse
from .schedule import FULL, REFRESH, REUSE


@dataclass(frozen=True)
class BlockTap:
    """The first stream entering (`"input"`) or leaving (`"output"`) block `index` of stack `stack`."""

    stack: str
    index: int
    where: str


class Policy:
    """Base of every data-dependent method. Subclasses are small: which blocks they wrap, and one decision.

    `signals`: names of the spec's signals read; `taps`: block streams read (`BlockTap`s, resolved per model in
    `bind`); `per_stack`: decide each stack separately (DBCache) instead of once per pass for all of them.
    `level = "model"`: reuse the whole model output (EasyCache), decided in `decide_model`.
    """

    name = "policy"
    level = "blocks"
    per_stack = False
    signals: tuple[str, ...] = ()
    # A method of the registry (delta_cache.peers) also declares what a user may set and how it is listed:
    # `settings` {name: int | float | bool | (choices, ...)} are the overridable settings (CLI flags
    # `--<name>_<setting>`, harness `name:key=value`); `about` is its one-line description; `variants` are its
    # harness names with the settings they fix (TeaCache: teacache-slow and teacache-fast).
    settings: dict[str, type | tuple[str, ...]] = {}
    about = ""
    variants: dict[str, dict] | None = None  # None: the method's own name, nothing fixed
    # Constants that hold for every model (TaylorSeer's interval), used where a model's constants lack the method
    published: dict | None = None
    # Reuse a run's delta extrapolated to first order from its last two computed ones (two deltas held per run
    # and branch) instead of the last one as is
    forecast = False
    # With `forecast`: at each refresh, also measure what a reuse would have added against the delta computed
    # (`forecast_observed` receives the summed |error| and |delta| per run, not yet reduced over ranks)
    forecast_error = False

    @classmethod
    def read_constants(cls, data: dict) -> dict:
        """The method's constants as a calibration file (JSON) stores them -> the form `from_constants` takes."""
        return dict(data)

    @classmethod
    def from_constants(cls, constants: dict, overrides: dict) -> Policy:
        """The policy at a model's constants with the user's `overrides` (already type-checked) applied."""
        return cls(**{**constants, **overrides})

    def bind(self, depths: dict[str, int]) -> None:
        """Called once with the depth of every stack of the model, before `cached` and `taps`."""
        self.depths = dict(depths)

    def cached(self) -> dict[str, tuple[int, ...]]:
        """Blocks wrapped, per stack (each maximal run of consecutive indices reuses one delta)."""
        return {}

    def taps(self) -> tuple[BlockTap, ...]:
        return ()

    def reset(self) -> None:
        """Forget all state: a new generation (or a new batch of one) starts."""

    def decide(self, view: PassView, stack: str | None) -> str:
        """FULL, REFRESH or REUSE for this pass (`stack` is None unless `per_stack`)."""
        raise NotImplementedError

    def decide_model(self, view: PassView, inputs: list[Tensor]) -> bool:
        """Output level: True to return `inputs + the branch's cached (output - input)` without running the model."""
        raise NotImplementedError

    def computed_model(self, view: PassView, inputs: list[Tensor], outputs: list[Tensor]) -> None:
        """Output level: the model ran on `inputs` and returned `outputs` in this pass."""

    def forecast_scale(self, branch: str, step: int, before: int, last: int) -> float:
        """With `forecast`: how far past the last refresh (at step `last`, the one before at `before`) a reuse at
        `step` extrapolates, in units of the difference of their deltas. First order in the step by default."""
        return (step - last) / (last - before)

    def forecast_observed(self, branch: str, stack: str, run: int, error: Tensor, size: Tensor) -> None:
        """With `forecast_error`: a refresh of `run` computed a delta whose forecast missed it by `error`."""

    def last_reuse(self, num_steps: int) -> dict[str, int]:
        """Per stack, the last step that may reuse: its deltas are freed when that step's pass ends."""
        return {stack: num_steps - 1 for stack in self.cached()}  # a data-dependent policy cannot know earlier

    def describe(self) -> dict | None:
        """The settings, for the stats file."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "depths"}


class StaticSchedule(Policy):
    """ProfilingDiT's schedules (a `CacheConfig`) as a policy: each stack's action is a pure function of the step,
    planned before the run (`plan`), so every sequence-parallel rank decides alike by construction."""

    name = "delta"
    per_stack = True

    def __init__(self, config, num_steps: int):
        self.config = config
        self.replan(num_steps)

    def replan(self, num_steps: int) -> None:
        """The plan for a sampler of `num_steps` steps (listed refresh steps scale to it)."""
        self.plan = {name: sched.actions(num_steps) for name, sched in self.config.stacks.items()}

    def cached(self) -> dict[str, tuple[int, ...]]:
        return {attr: sched.cached for attr, sched in self.config.stacks.items()}

    def last_reuse(self, num_steps: int) -> dict[str, int]:
        return {a: max((s for s, x in enumerate(acts) if x == REUSE), default=-1) for a, acts in self.plan.items()}

    def decide(self, view: PassView, stack: str | None) -> str:
        return self.plan[stack][view.step]

    def describe(self) -> None:
        return None  # the preset file / config name says it all


def _mean_abs(x: list[Tensor] | Tensor) -> tuple[Tensor, int]:
    xs = x if isinstance(x, list | tuple) else [x]
    return sum(t.detach().float().abs().sum() for t in xs), sum(t.numel() for t in xs)


class PassView:
    """What a policy sees of the current pass: branch, step, the signals taken so far, and reduced statistics."""

    def __init__(self, num_steps: int):
        self.num_steps = num_steps
        self.branch: str | None = None
        self.step: int | None = None
        self.record: dict | None = None
        self.values: dict = {}
        self.first_of_step = True  # no other branch ran this step before this pass (EasyCache: the pair leader)

    def signal(self, name) -> Tensor:
        if name not in self.values:
            raise RuntimeError(f"delta_cache: signal {name!r} was not produced before the decision in this pass")
        return self.values[name]

    def note(self, **values) -> None:
        """Record indicator values behind this pass's decision (they go to the stats file, per step)."""
        if self.record is not None:
            self.record.setdefault("indicator", {}).update(values)

    def reduce(self, *values: Tensor) -> list[float]:
        """Sums over the process group (identity without one), as floats: every rank gets the same numbers."""
        stacked = torch.stack([v.detach().float().reshape(()) for v in values])
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
        return [float(v) for v in stacked.cpu()]

    def rel_l1(self, current, previous) -> float:
        """mean|current - previous| / mean|previous| over all elements (of every rank's shard)."""
        cur = current if isinstance(current, list | tuple) else [current]
        prev = previous if isinstance(previous, list | tuple) else [previous]
        num = sum((c.detach().float() - p.detach().float()).abs().sum() for c, p in zip(cur, prev, strict=True))
        den, _ = _mean_abs(prev)
        n, d = self.reduce(num, den)
        return n / d if d > 0 else float("inf")

    def mean_abs(self, x) -> float:
        """mean|x| over all elements of every rank (counts reduced too)."""
        total, count = _mean_abs(x)
        s, n = self.reduce(total, torch.tensor(float(count)))
        return s / n


def _module_at(model: nn.Module, path: str) -> nn.Module:
    return model.get_submodule(path) if path else model


def _first(out):
    return out if isinstance(out, Tensor) else out[0]


class PolicyRuntime:
    """Binds a policy to a model: the hooks that take its signals and the per-pass decisions (the output-level
    wrapper, for a policy of that level, is installed and removed with them)."""

    def __init__(self, policy: Policy, model: nn.Module, spec, num_steps: int, handle):
        self.policy, self.model, self.spec, self.handle = policy, model, spec, handle
        self.view = PassView(num_steps)
        self._hooks: list = []
        self._decided: dict = {}
        self._last_step_seen: int | None = None
        self._output_reuse: OutputReuse | None = None  # output level (EasyCache): in front of model.forward
        # checked here, before `apply_cache` wraps anything
        for name in policy.signals:
            if name not in spec.signals:
                have = ", ".join(spec.signals) or "none"
                raise ValueError(f"{policy.name} reads signal {name!r}; this model's spec declares: {have}")
        if policy.level == "model" and spec.io is None:
            raise ValueError(f"{policy.name} reuses the model output; this model's spec declares no io")

    # -- installation ----------------------------------------------------------------------------------
    def install(self) -> None:
        """After the blocks are wrapped: hooks on the modules now in place (wrappers are reached on reuse too)."""
        view = self.view
        for name in self.policy.signals:
            sig = self.spec.signals[name]
            module = _module_at(self.model, sig.module)
            if sig.when == "output":
                hook = module.register_forward_hook(lambda m, a, out, n=name: view.values.__setitem__(n, _first(out)))
            else:
                hook = module.register_forward_pre_hook(
                    lambda m, a, kw, n=name, f=sig.fn: view.values.__setitem__(n, f(m, a, kw)), with_kwargs=True
                )
            self._hooks.append(hook)
        for tap in self.policy.taps():
            block = self.spec.blocks(self.model, tap.stack)[tap.index]
            key = (tap.stack, tap.index, tap.where)
            if tap.where == "input":
                hook = block.register_forward_pre_hook(lambda m, a, k=key: view.values.__setitem__(k, a[0]))
            else:
                hook = block.register_forward_hook(lambda m, a, out, k=key: view.values.__setitem__(k, _first(out)))
            self._hooks.append(hook)
        if self.policy.level == "model":
            self._output_reuse = OutputReuse(self.model, self.handle, self.policy, view, self.spec.io)
            self._output_reuse.install()

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
        if self._output_reuse is not None:
            self._output_reuse.remove()
            self._output_reuse = None

    def reset(self) -> None:
        self.policy.reset()
        self._last_step_seen = None

    # -- passes ----------------------------------------------------------------------------------------
    def begin_pass(self, branch: str, step: int, record: dict) -> None:
        v = self.view
        v.branch, v.step, v.record, v.values = branch, step, record, {}
        v.first_of_step = step != self._last_step_seen
        self._last_step_seen = step
        self._decided = {}

    def end_pass(self) -> None:
        v = self.view
        v.branch = v.step = v.record = None
        v.values = {}

    @torch.compiler.disable
    def action(self, stack: str) -> str:
        key = stack if self.policy.per_stack else None
        if key not in self._decided:
            decision = self.policy.decide(self.view, key)
            if decision not in (FULL, REFRESH, REUSE):
                raise RuntimeError(f"{self.policy.name} returned {decision!r}; expected full, refresh or reuse")
            self._decided[key] = decision
        return self._decided[key]
