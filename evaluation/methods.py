"""The evaluated methods: named cache configurations built for the model at hand (the paper's Tables 1-4).

    full            no cache (the reference every other method is scored against)
    ours            the model's ProfilingDiT preset (`ours:PATH.json`: a preset file, e.g. scripts/profile_model.py's)
    fg-reuse        Table 3: the blocks ours computes are cached instead, on ours' schedule
    stepwise        Table 4: ours' blocks, the same refresh count, gaps decreasing over the run
    step-inverse    Table 4: the same with gaps increasing
    step-average    Table 4: the same with equal gaps
    delta-dit       one contiguous range of the same size, the last blocks of each stack (Δ-DiT caches the rear
                    blocks, which shape the outline, in the early steps), on ours' schedule

    split           Table 3: the blocks ours computes are cached up to ours' middle refresh, ours' blocks after it
    alternate       Table 3: the two sets take turns, one per reuse segment between ours' refreshes
                    (both phased: `evaluation/phased.py`; each phase starts with a refresh)

The peer methods (delta_cache.peers), each at its published default for the model (the tiny model: its
calibration file), or with settings changed as `name:key=value` (several joined by "+", e.g.
`dbcache:Fn=1+threshold=0.1`) for sweeps:

    teacache-slow   TeaCache at the slow threshold of its README (teacache-fast: the fast one)
    fbcache         First-Block Cache          magcache    MagCache (its K and retention ratio)
    easycache       EasyCache (output level)   dbcache     cache-dit's DBCache (Fn/Bn)
    taylorseer      TaylorSeer (every 5th step computed, first-order forecast between; taylorseer:interval=N)
    dicache         DiCache (a probe block decides; reuses extrapolate along the probe's trend)

Our own data-dependent method, through the same registry:

    adaptive        the profile's blocks on the plan profiled for the asked speedup, deltas forecast
                    (adaptive:speedup=2.5; the model's profiled preset file gives its step costs and plans)

The real libraries' caches (`evaluation/libraries.py`; with `--via diffusers`, where they run on the same
diffusers pipeline as the reference): diffusers-fbcache, diffusers-magcache, diffusers-taylorseer,
diffusers-seacache, diffusers-fastercache, diffusers-pab, cachedit-dbcache, cachedit-dbcache-taylorseer, with
settings as `name:key=value[+key=value]`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from delta_cache import CacheConfig, StackSchedule, load_preset
from delta_cache.peers import PEERS, SETTINGS, make_policy, parse_setting
from delta_cache.policy import Policy
from delta_cache.selection import fill_refreshes

from .libraries import LIBRARY_METHODS
from .libraries import build as build_library
from .phased import Phases


@dataclass(frozen=True)
class ModelContext:
    """What a method needs to know of the model: its depths, the step count, its own preset (or None)."""

    depths: dict[str, int]
    num_steps: int
    preset: CacheConfig | None
    # the peer methods' constants for this model ({method: settings}), read only when a peer method is built
    peers: Callable[[], dict] | None = None


@dataclass(frozen=True)
class Method:
    name: str
    about: str
    build: Callable[[ModelContext, str | None], CacheConfig | Phases | Policy | None]  # (context, text after ":")
    argument: str | None = None  # what may follow ":" (None: nothing)


def _ours(ctx: ModelContext, arg: str | None) -> CacheConfig:
    if arg is not None:
        return load_preset(arg, ctx.depths)
    if ctx.preset is None:
        raise ValueError("method ours: this model has no built-in preset; give ours:PATH.json (profile_model.py)")
    return ctx.preset


def _refresh_list(sched: StackSchedule, num_steps: int, shape: str) -> tuple[int, ...]:
    """As many refreshes as `sched` makes in `num_steps`, from its warm-up on, with gaps shaped as asked."""
    count = len(sched.refreshes(num_steps))
    span = num_steps - sched.warmup
    if count <= 1:
        return sched.refreshes(num_steps)
    if shape == "decreasing":
        where = [1 - (1 - k / count) ** 2 for k in range(count)]
    elif shape == "increasing":
        where = [(k / count) ** 2 for k in range(count)]
    else:
        where = [k / count for k in range(count)]
    scale = span if shape == "equal" else span - 1  # the decreasing shape's last point would round onto the end
    # neighbours that rounded onto one step: the longest reuse runs are split until the count is back
    return fill_refreshes({sched.warmup + round(scale * x) for x in where}, count, num_steps)


def _with(ctx: ModelContext, arg: str | None, name: str, change) -> CacheConfig:
    base = _ours(ctx, arg)
    stacks = {}
    for attr, sched in base.stacks.items():
        new = change(attr, sched)
        if new is not None:
            stacks[attr] = new
    if not stacks:
        raise ValueError(f"method {name}: nothing left to cache for this model")
    return CacheConfig(name=name, stacks=stacks)


def _schedule(sched: StackSchedule, num_steps: int, cached: tuple[int, ...], refresh: tuple[int, ...] | None = None):
    kw = dict(cached=cached, warmup=sched.warmup, last_full=sched.last_full)
    if refresh is not None:
        return StackSchedule(**kw, refresh_steps=refresh, for_steps=num_steps)
    return StackSchedule(
        **kw,
        interval=sched.interval,
        refresh_steps=sched.refresh_steps,
        linear=sched.linear,
        for_steps=sched.for_steps,
    )


def _fg_reuse(ctx: ModelContext, arg: str | None) -> CacheConfig:
    def change(attr, sched):
        computed = tuple(i for i in range(ctx.depths[attr]) if i not in sched.cached)
        return _schedule(sched, ctx.num_steps, computed) if computed else None

    return _with(ctx, arg, "fg-reuse", change)


def _steps(shape: str, name: str):
    def build(ctx: ModelContext, arg: str | None) -> CacheConfig:
        return _with(
            ctx,
            arg,
            name,
            lambda attr, s: _schedule(s, ctx.num_steps, s.cached, _refresh_list(s, ctx.num_steps, shape)),
        )

    return build


def _delta_dit(ctx: ModelContext, arg: str | None) -> CacheConfig:
    def change(attr, sched):
        n = ctx.depths[attr]
        return _schedule(sched, ctx.num_steps, tuple(range(n - len(sched.cached), n)))

    return _with(ctx, arg, "delta-dit", change)


def _phased(ctx: ModelContext, arg: str | None, name: str, alternate: bool) -> Phases:
    """Phases cut at ours' refreshes (of its first stack), each caching ours' blocks or their complement."""
    base = _ours(ctx, arg)
    first = next(iter(base.stacks.values()))
    cuts = list(first.refreshes(ctx.num_steps))
    if len(cuts) < 2:
        raise ValueError(f"method {name}: ours refreshes {len(cuts)} time(s); two phases need two refreshes")
    bounds = cuts[1:] if alternate else [cuts[len(cuts) // 2]]
    starts = [0, *bounds]
    ends = [*bounds, ctx.num_steps]
    phases = []
    for k, (start, end) in enumerate(zip(starts, ends, strict=True)):
        background = (k % 2 == 1) if alternate else (k == 1)  # foreground-focused first, as the paper's split
        stacks = {}
        for attr, sched in base.stacks.items():
            blocks = sched.cached if background else tuple(i for i in range(ctx.depths[attr]) if i not in sched.cached)
            if not blocks:
                continue
            warmup = sched.warmup if start == 0 else start
            inside = {r for r in sched.refreshes(ctx.num_steps) if warmup <= r < end}
            stacks[attr] = StackSchedule(
                cached=blocks,
                warmup=warmup,
                refresh_steps=tuple(sorted(inside | {warmup})),
                last_full=sched.last_full,
                for_steps=ctx.num_steps,
            )
        if not stacks:
            raise ValueError(f"method {name}: a phase has nothing to cache for this model")
        phases.append((start, CacheConfig(name=f"{name}-{k}", stacks=stacks)))
    return Phases(name=name, phases=tuple(phases))


def _peer(method: str, fixed: dict | None = None):
    """A peer method at the model's published defaults; `key=value+key=value` overrides them."""

    def build(ctx: ModelContext, arg: str | None) -> Policy:
        overrides = dict(fixed or {})
        for item in (arg or "").split("+"):
            if not item:
                continue
            key, eq, value = item.partition("=")
            if not eq:
                raise ValueError(
                    f"{method}: setting {item!r} is not key=value; accepted: {', '.join(SETTINGS[method])}"
                )
            overrides[key] = parse_setting(method, key, value)
        return make_policy(method, ctx.peers() if ctx.peers else {}, overrides)

    return build


SETTINGS_ARG = "key=value[+key=value]"

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("full", "no cache: the reference", lambda ctx, arg: None),
        Method("ours", "the model's ProfilingDiT preset, or ours:PATH.json", _ours, "PATH.json"),
        Method("fg-reuse", "Table 3: the blocks ours computes are cached instead", _fg_reuse),
        Method("stepwise", "Table 4: ours' blocks, decreasing refresh gaps", _steps("decreasing", "stepwise")),
        Method("step-inverse", "Table 4: ours' blocks, increasing refresh gaps", _steps("increasing", "step-inverse")),
        Method("step-average", "Table 4: ours' blocks, equal refresh gaps", _steps("equal", "step-average")),
        Method("delta-dit", "one contiguous range of the last blocks, ours' size", _delta_dit),
        Method(
            "split", "Table 3: foreground-focused blocks first, ours' after", lambda c, a: _phased(c, a, "split", False)
        ),
        Method("alternate", "Table 3: the two sets take turns", lambda c, a: _phased(c, a, "alternate", True)),
        # every peer of the registry, under its harness names (TeaCache: teacache-slow, teacache-fast)
        *(
            Method(
                variant,
                ", ".join([cls.about, *(f"{k}={v}" for k, v in fixed.items())]),
                _peer(cls.name, fixed),
                SETTINGS_ARG,
            )
            for cls in PEERS.values()
            for variant, fixed in (cls.variants or {cls.name: {}}).items()
        ),
        # the libraries' own implementations (cache-dit's take our dbcache's settings for the model as defaults)
        *(
            Method(
                name,
                lib.about,
                lambda ctx, arg, name=name: build_library(
                    name, arg, (ctx.peers() if ctx.peers else {}).get("dbcache", {})
                ),
                SETTINGS_ARG,
            )
            for name, lib in LIBRARY_METHODS.items()
        ),
    )
}


def parse_methods(text: str) -> list[tuple[str, str | None]]:
    """ "full,ours,ours:p.json" -> [(name, argument or None)]; unknown names are a one-line error."""
    out = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        name, _, arg = item.partition(":")
        if name not in METHODS:
            raise ValueError(f"unknown method {name!r}; accepted: {', '.join(METHODS)}")
        if arg and METHODS[name].argument is None:
            takes = ", ".join(f"{n}:{m.argument}" for n, m in METHODS.items() if m.argument)
            raise ValueError(f"method {name} takes no argument (got {item!r}); these do: {takes}")
        out.append((name, arg or None))
    if not out:
        raise ValueError("--methods is empty; give e.g. full,ours")
    if len({f"{n}:{a}" for n, a in out}) != len(out):
        raise ValueError(f"--methods lists a method twice: {text}")
    return out


def label(name: str, arg: str | None) -> str:
    """The method's name in tables and folder names (a preset file by its stem)."""
    if arg is None:
        return name
    from pathlib import Path

    if name == "ours":
        return f"{name}-{Path(arg).stem}"
    return f"{name}-{arg.replace('+', '-')}"
