"""enable_delta_cache: delta_cache on a diffusers pipeline or transformer, in one call.

The cache is the same mechanism as in our own stacks (`apply_cache`: block wrappers and a policy); what the
pipeline adds is where a pass stands. One stateful diffusers hook per transformer receives the pipeline's
`cache_context` (its name is the CFG branch, "cond" / "uncond" or HunyuanVideo-1.5's "pred_cond" /
"pred_uncond"; "inference" where a loop sets none, as diffusers' MagCache does), and torch's module hooks mark
each forward with `handle.branch(name, step)` (they outlive what replaces `forward`, such as accelerate's
offload hook, which every pipeline call re-installs). The step is the context's `step_index` where the
pipeline gives one (WanPipeline), else counted per branch. A pipeline with two transformers (Wan2.2's experts)
gets one handle per expert, each with its own blocks and deltas, and one step count for both, so the index
runs on across the boundary; an expert's first pass after it refreshes. The step count is read when a
generation starts (the context's `num_inference_steps`, else the pipeline's), and the plan follows it, as our
CLIs plan for `--sample_steps`. The pipeline's `maybe_free_model_hooks` at the end of each call resets the
hooks: the next call starts anew.
"""

from __future__ import annotations

import functools
from pathlib import Path

from torch import nn

from ..handle import CacheHandle, apply_cache
from ..policy import Policy
from ..preset_file import expert_presets, load_adaptive, preset_from_dict, resolve_preset
from ..schedule import CacheConfig
from .models import DiffusersModel, describe

HOOK = "delta_cache"
FALLBACK_BRANCH = "inference"
EXPERTS = ("transformer", "transformer_2")


class _Enabled:
    """What `transformer._cache_config` holds while delta_cache is on: diffusers' own `enable_cache` then refuses
    to stack another cache on ours, as it refuses to stack two of its own."""

    def __init__(self, cache: DiffusersCache):
        self.cache = cache

    def __repr__(self) -> str:
        return f"delta_cache ({self.cache.method})"


class DiffusersCache:
    """What `enable_delta_cache` returns: the handles (one per transformer), their joint `stats()`, and a context
    manager that disables the cache on exit."""

    def __init__(self, pipeline, experts: dict[str, nn.Module], num_inference_steps: int | None, owned: bool = True):
        self.pipeline, self.experts = pipeline, experts
        self.owned = owned  # the handles are ours (removed with the hooks; planned anew for each step count)
        self.num_inference_steps = num_inference_steps
        self.handles: dict[str, CacheHandle] = {}  # or any StepCache where not owned
        self.method = "delta"
        self._hooks: dict[str, object] = {}
        self._installed: dict[str, object] = {}  # the forward our hook installed, per transformer
        self._marks: dict[str, list] = {}  # torch hook handles that mark each pass
        self._created_registry: dict[str, bool] = {}
        self.generations = 0
        self._reset_clock()

    def __enter__(self) -> DiffusersCache:
        return self

    def __exit__(self, *exc) -> bool:
        self.remove()
        return False

    # -- where a pass stands ---------------------------------------------------------------------------
    def _reset_clock(self) -> None:
        self._counts: dict[str, int] = {}
        self._last_step: int | None = None
        self._running = False
        self._steps: int | None = None

    def _step_count(self, context) -> int:
        """The sampler's step count of the generation that starts: the context's, the pipeline's, or the one
        given to `enable_delta_cache`."""
        for n in (
            getattr(context, "num_inference_steps", None),
            getattr(self.pipeline, "_num_timesteps", None),
            self.num_inference_steps,
        ):
            if n is not None:
                return int(n)
        raise ValueError(
            "delta_cache: the step count is unknown (no pipeline, no num_inference_steps in the cache context); "
            "pass num_inference_steps= to enable_delta_cache"
        )

    def _start(self, context) -> None:
        self._counts, self._last_step = {}, None
        self._steps = self._step_count(context)
        for handle in self.handles.values():
            handle.retarget(self._steps) if self.owned else handle.start(self._steps)
        self._running = True
        self.generations += 1

    def pass_position(self, context) -> tuple[str, int]:
        """(branch, step) of the forward that is about to run; starts a generation where one starts."""
        branch = context.name if context is not None else FALLBACK_BRANCH
        given = getattr(context, "step_index", None)
        if given is not None:
            step = int(given)
            # a loop without maybe_free_model_hooks (a custom one): step 0 after later steps is a new generation
            if not self._running or (step == 0 and (self._last_step or 0) > 0):
                self._start(context)
        else:
            if not self._running or self._counts.get(branch, 0) >= self._steps:
                self._start(context)
            step = self._counts.get(branch, 0)
            self._counts[branch] = step + 1
        self._last_step = step
        return branch, step

    def end_generation(self) -> None:
        """The pipeline's call ended (its `maybe_free_model_hooks`): the next forward starts a new generation. The
        deltas go now; the counters stay for `stats()` until then."""
        for handle in self.handles.values():
            handle.clear_deltas()
        self._reset_clock()

    # -- report ----------------------------------------------------------------------------------------
    def stats(self) -> dict:
        """Block evaluations of the last generation over every transformer (per expert where there are two),
        in the form our CLIs report."""
        parts = {name: h.stats() for name, h in self.handles.items()}
        if len(parts) == 1:
            return next(iter(parts.values()))
        computed = sum(p["block_evals_computed"] for p in parts.values())
        total = sum(p["block_evals_total"] for p in parts.values())
        first = next(iter(parts.values()))
        return {
            "block_evals_computed": computed,
            "block_evals_total": total,
            "theoretical_speedup": total / computed if computed else 1.0,
            "cache_bytes_peak": sum(p["cache_bytes_peak"] for p in parts.values()),
            "cache_dtype": first["cache_dtype"],
            "per_branch_stack": {f"{n}/{k}": v for n, p in parts.items() for k, v in p["per_branch_stack"].items()},
            "method": first["method"],
            "method_settings": first["method_settings"],
        }

    def report(self, denoise_seconds: float) -> dict:
        """The stats file of the last generation, with the fields of our CLIs' (`delta_cache.report`)."""
        report = self.stats()
        report["preset"] = next(iter(self.handles.values())).config.name if self.method == "delta" else None
        many = len(self.handles) > 1
        report["steps"] = [
            {**r, "expert": name} if many else dict(r) for name, h in self.handles.items() for r in h.records
        ]
        report["denoise_seconds"] = denoise_seconds
        report["delta_cache"] = True
        return report

    # -- removal ---------------------------------------------------------------------------------------
    def remove(self) -> None:
        """Take every hook and wrapper off: each transformer is exactly as before `enable_delta_cache`."""
        for name, transformer in self.experts.items():
            for mark in self._marks.pop(name, []):
                mark.remove()
            registry = getattr(transformer, "_diffusers_hook", None)
            if registry is not None and registry.get_hook(HOOK) is not None:
                now = transformer.__dict__.get("forward")
                registry.remove_hook(HOOK, recurse=False)  # puts back the forward it found
                registry.invalidate_child_registries_cache()
                if now is not self._installed.get(name):
                    _keep_outer_wrapper(transformer, now, self._installed.get(name))
            handle = self.handles.pop(name, None)
            if handle is not None and self.owned:
                handle.remove()
            if isinstance(getattr(transformer, "_cache_config", None), _Enabled):
                transformer._cache_config = None
            if self._created_registry.get(name) and registry is not None and not registry.hooks:
                del transformer._diffusers_hook
        self._hooks = {}


def _keep_outer_wrapper(transformer: nn.Module, outer, ours) -> None:
    """Something replaced the forward after our hook was registered (accelerate's offload hook, which every
    pipeline call with `enable_model_cpu_offload` removes and adds again): removing our hook has just put the
    forward it found back over that. Give the outer wrapper its place again; where it wraps our pass-through
    (accelerate keeps what it wrapped as `_old_forward`), it now wraps the original forward instead."""
    if getattr(transformer, "_old_forward", None) is ours:
        transformer._old_forward = transformer.forward
    if outer is None:
        transformer.__dict__.pop("forward", None)
    else:
        transformer.forward = outer


@functools.cache
def _hook_class():
    """The diffusers hook, built on first use (diffusers is imported only when a user enables the cache)."""
    from diffusers.hooks.hooks import BaseState, ModelHook, StateManager

    class _NoState(BaseState):
        def reset(self, *args, **kwargs) -> None:
            pass

    class DeltaCacheHook(ModelHook):
        """Receives the pipeline's cache context (stateful: diffusers sets it on the StateManager) and its reset
        after each pipeline call. It passes the forward through: the pass itself is marked by torch's module
        hooks (`mark_passes`), which survive what replaces `forward` (accelerate's offload hooks, re-installed
        by every pipeline call)."""

        _is_stateful = True

        def __init__(self, cache: DiffusersCache, handle: CacheHandle):
            super().__init__()
            self.cache, self.handle = cache, handle
            self.state = StateManager(_NoState)
            self._open = None

        def begin(self, module, args, kwargs):
            branch, step = self.cache.pass_position(self.state._context)
            self._open = self.handle.branch(branch, step)
            self._open.__enter__()

        def end(self, module, args, kwargs, output):
            if self._open is not None:
                opened, self._open = self._open, None
                opened.__exit__(None, None, None)

        def mark_passes(self, module) -> list:
            return [
                module.register_forward_pre_hook(self.begin, with_kwargs=True, prepend=True),
                module.register_forward_hook(self.end, with_kwargs=True, always_call=True),
            ]

        def reset_state(self, module):
            self.cache.end_generation()
            return module

    return DeltaCacheHook


def _experts(target) -> tuple[object, dict[str, nn.Module]]:
    """(the pipeline or None, {name: transformer}) of what the user passed."""
    if isinstance(target, nn.Module):
        return None, {"transformer": target}
    experts = {n: getattr(target, n) for n in EXPERTS if getattr(target, n, None) is not None}
    if not experts:
        raise ValueError(
            f"enable_delta_cache takes a diffusers pipeline with a transformer, or the transformer; got "
            f"{type(target).__name__}"
        )
    return target, experts


def _check_free(name: str, transformer: nn.Module) -> None:
    enabled = getattr(transformer, "_cache_config", None)
    if isinstance(enabled, _Enabled):
        raise ValueError(f"delta_cache is already enabled on {name}; call disable_delta_cache first")
    if enabled is not None:
        raise ValueError(
            f"{name} already has diffusers' {type(enabled).__name__} enabled; call {name}.disable_cache() first "
            "(two caches would each skip what the other computes)"
        )
    if getattr(transformer, "_parallel_config", None) is not None:
        # its split of the sequence is a hook on blocks.0 (Wan's _cp_plan): our wrapper would see the whole
        # input and a shard out; untested besides, as diffusers 0.42's parallelism needs an accelerator
        raise ValueError(
            f"{name} runs diffusers' context parallelism, which delta_cache does not support yet; run it on one "
            "GPU, or use our own stacks' sequence parallelism (torchrun generate.py / sample_video.py)"
        )


def _static_config(preset, model: DiffusersModel, depths: dict[str, int], expert: str) -> CacheConfig:
    if isinstance(preset, dict):  # an expert's section of a preset file
        return preset_from_dict(preset, depths, f"{expert}'s preset")
    if isinstance(preset, CacheConfig):
        if preset.depths is not None and preset.depths != depths:
            raise ValueError(f"preset {preset.name} is for {preset.depths}; {expert} has {depths}")
        return preset
    value = str(preset) if isinstance(preset, Path) else preset
    config = resolve_preset(value, model.presets, depths, f"{expert} ({model.family})")
    if config is None:
        raise ValueError(
            f"no built-in preset for {expert}'s {depths}; pass preset=PATH.json (scripts/profile_model.py makes one)"
        )
    return config


def _policy(method: str, preset, constants, settings: dict, model: DiffusersModel, depths: dict) -> Policy:
    from ..peers import load_calibration, make_policy

    if constants is None:
        table = model.constants()
    elif isinstance(constants, dict):
        table = dict(constants)
    else:
        table = load_calibration(constants)
    if method == "adaptive" and preset is not None:
        table["adaptive"] = load_adaptive(preset, depths)
    return make_policy(method, table, settings)


def enable_delta_cache(
    pipe_or_transformer,
    preset=None,
    method: str | Policy | None = None,
    *,
    num_inference_steps: int | None = None,
    constants=None,
    cache_dtype=None,
    **settings,
) -> DiffusersCache:
    """Cache a diffusers pipeline's transformer(s) (or a transformer) with delta_cache; returns the handle.

    preset: a release preset's name (`wan2.1-t2v-14B`, `hunyuanvideo-t2v`), a preset file PATH.json, a
        `CacheConfig`, or None for the built-in preset made for the model's depths; a dict {"transformer": ...,
        "transformer_2": ...} gives Wan2.2's experts each their own, as does a preset file with an "experts"
        section (`delta_cache.preset_file.save_expert_presets`). With `method="adaptive"`, the preset file whose
        adaptive section it reads.
    method: None or "delta" (the static preset), or a peer / our method by name (teacache, fbcache, magcache,
        easycache, dbcache, dicache, taylorseer, adaptive), with its `settings` as keywords; or a `Policy` built
        already (what our CLIs' flags build; one transformer only: a policy holds one model's state).
    constants: the peers' constants: None (published for this checkpoint, where they are), a calibration file
        (scripts/calibrate_peers.py) or a dict {method: settings}.
    num_inference_steps: only needed for a bare transformer called without a pipeline's step count.
    """
    pipeline, experts = _experts(pipe_or_transformer)
    for name, transformer in experts.items():
        _check_free(name, transformer)
    if isinstance(method, Policy):  # built by the caller (our CLIs' flags): it holds state for one transformer
        if len(experts) > 1 or settings:
            raise ValueError("a Policy instance serves one transformer without settings; give the method's name")
        policy, method = method, method.name
    else:
        policy = None
    method = method or "delta"
    if method == "delta" and settings:
        raise ValueError(f"settings {sorted(settings)} need a method; the static preset takes none")
    models = {name: describe(t, two_experts=len(experts) > 1) for name, t in experts.items()}
    # everything is built and checked before anything is wrapped: a bad second expert leaves the first untouched
    if isinstance(preset, str | Path) and str(preset).endswith(".json"):
        sections = expert_presets(preset)  # a file with a preset per transformer
        if sections is not None:
            if set(sections) != set(experts):
                raise ValueError(f"preset file {preset} is for {sorted(sections)}; the pipeline has {sorted(experts)}")
            preset = sections
    configs = {}
    for name, transformer in experts.items():
        depths = models[name].depths(transformer)
        chosen = preset.get(name) if isinstance(preset, dict) else preset
        if policy is not None:
            configs[name] = policy
        elif method == "delta":
            configs[name] = _static_config(chosen, models[name], depths, name)
        else:
            configs[name] = _policy(method, chosen, constants, settings, models[name], depths)
    for name, config in configs.items():
        if getattr(config, "level", "blocks") == "model" and hasattr(experts[name], "_hf_hook"):
            # accelerate re-installs its hook on every pipeline call, dropping a replaced forward
            raise ValueError(
                f"{method} reuses the whole model output, which enable_model_cpu_offload's hooks undo; "
                "use a block-level method or group offloading"
            )
    cache = DiffusersCache(pipeline, experts, num_inference_steps)
    cache.method = method
    # planned again for the real count when a generation starts; until then a count every config accepts
    # (`adaptive` plans only for the step count it was profiled at)
    costs = [getattr(c, "step_costs", None) for c in configs.values()]
    steps = num_inference_steps or next((len(c) for c in costs if c), 50)
    try:
        for name, transformer in experts.items():
            handle = apply_cache(transformer, models[name].spec, configs[name], steps, cache_dtype)
            handle.refresh_if_empty = len(experts) > 1
            cache.handles[name] = handle
            _hook(cache, name)
    except Exception:
        cache.remove()
        raise
    return cache


def _hook(cache: DiffusersCache, name: str, mark: bool = True) -> None:
    """Register the diffusers hook that hands `cache.handles[name]` the passes of the transformer `name`."""
    from diffusers.hooks import HookRegistry

    transformer = cache.experts[name]
    cache._created_registry[name] = not hasattr(transformer, "_diffusers_hook")
    registry = HookRegistry.check_if_exists_or_initialize(transformer)
    hook = _hook_class()(cache, cache.handles[name])
    registry.register_hook(hook, HOOK)
    registry.invalidate_child_registries_cache()  # diffusers #14037: a stale list would miss the hook
    cache._hooks[name] = hook
    cache._installed[name] = transformer.__dict__.get("forward")
    # torch's hooks run around whatever `forward` is: an output-level reuse runs inside a marked pass
    cache._marks[name] = hook.mark_passes(transformer)
    if mark:  # diffusers' enable_cache then refuses to stack on ours
        transformer._cache_config = _Enabled(cache)


def drive_step_cache(pipeline, step_cache, expert: str = "transformer", alongside: bool = False) -> DiffusersCache:
    """Hand the passes of a pipeline's transformer `expert` to any `StepCache` (`delta_cache.step_cache`: the
    profiler, or a `CacheHandle` the caller applied): `start(num_steps)` when a generation starts and
    `branch(name, step)` around each pass, as our own sampling loops do. `remove()` takes the hooks off and
    leaves `step_cache` as it is (its owner removes it). `alongside`: the transformer carries another cache,
    which `step_cache` only observes (the harness counting a library's block evaluations): it is neither
    refused nor marked as ours."""
    _, experts = _experts(pipeline)
    if expert not in experts:
        raise ValueError(f"the pipeline has no {expert}; it has {', '.join(experts)}")
    if not alongside:
        _check_free(expert, experts[expert])
    cache = DiffusersCache(pipeline, {expert: experts[expert]}, None, owned=False)
    cache.handles[expert] = step_cache
    try:
        _hook(cache, expert, mark=not alongside)
    except Exception:
        cache.remove()
        raise
    return cache


def disable_delta_cache(pipe_or_transformer) -> None:
    """Remove delta_cache from a pipeline or transformer enabled with `enable_delta_cache` (a no-op where it is
    not enabled): each transformer is exactly as before."""
    _, experts = _experts(pipe_or_transformer)
    for transformer in experts.values():
        enabled = getattr(transformer, "_cache_config", None)
        if isinstance(enabled, _Enabled):
            enabled.cache.remove()
