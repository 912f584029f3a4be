"""The real libraries' caches as harness methods: diffusers' built-in caches and cache-dit, as they ship.

Every other peer in our tables is our own re-implementation of a published rule (`delta_cache.peers`); these
run the code a user would install, on the same diffusers pipeline as the reference and our methods (a tiny
model converted by scripts/to_diffusers.py, `scripts/reproduce.py --via diffusers`):

    diffusers-fbcache        FirstBlockCacheConfig(threshold)
    diffusers-magcache       MagCacheConfig(threshold, max_skip_steps, retention_ratio), its ratios from one
                             calibration run (calibrate=True) as diffusers documents, the two branches averaged
    diffusers-taylorseer     TaylorSeerCacheConfig(cache_interval, disable_cache_before_step, max_order); on Wan
                             with attn1, attn2 and ffn as its modules (its default patterns match none there)
    diffusers-seacache       SeaCacheConfig(threshold, max_consecutive_cached, residual_order)
    diffusers-fastercache    FasterCacheConfig(spatial_attention_block_skip_range, spatial attention timestep
                             range as timestep_low, timestep_high: default (-1, 681)), guidance-distilled mode
                             (its CFG part expects one batched [uncond, cond] pass and fails on these pipelines)
    diffusers-pab            PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range, timestep_low,
                             timestep_high: default (100, 800))
    cachedit-dbcache         cache-dit's DBCacheConfig, settings named as our dbcache's (and its defaults for
                             the model: cache-dit's Fn=8 computes every block of an 8-block model)
    cachedit-dbcache-taylorseer   the same with TaylorSeerCalibratorConfig(taylorseer_order=1)

Block evaluations are counted from outside and the same way for every library: a forward pre-hook on each
block's self-attention query projection (`<attention>.to_q`), which runs only when the block's attention is
really computed; a library that replaces a block's or an attention's forward skips it. PAB and FasterCache
skip only attention (the block's FFN still runs), so their count overstates what they save.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import json
import re
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

LIBRARIES = ("diffusers", "cache-dit")


@dataclass(frozen=True)
class Library:
    """One library method: its settings (name -> type, default) and how it is put on a pipeline."""

    name: str
    library: str
    settings: dict[str, tuple[type, object]]
    about: str


LIBRARY_METHODS: dict[str, Library] = {
    m.name: m
    for m in (
        Library("diffusers-fbcache", "diffusers", {"threshold": (float, 0.05)}, "diffusers' First-Block Cache"),
        Library(
            "diffusers-magcache",
            "diffusers",
            {"threshold": (float, 0.06), "max_skip_steps": (int, 3), "retention_ratio": (float, 0.2)},
            "diffusers' MagCache, ratios from a calibration run",
        ),
        Library(
            "diffusers-taylorseer",
            "diffusers",
            {"cache_interval": (int, 5), "disable_cache_before_step": (int, 3), "max_order": (int, 1)},
            "diffusers' TaylorSeer",
        ),
        Library(
            "diffusers-seacache",
            "diffusers",
            {"threshold": (float, 0.25), "max_consecutive_cached": (int, 2), "residual_order": (int, 1)},
            "diffusers' SeaCache",
        ),
        Library(
            "diffusers-fastercache",
            "diffusers",
            {"spatial_attention_block_skip_range": (int, 2), "timestep_low": (int, -1), "timestep_high": (int, 681)},
            "diffusers' FasterCache (attention reuse)",
        ),
        Library(
            "diffusers-pab",
            "diffusers",
            {"spatial_attention_block_skip_range": (int, 2), "timestep_low": (int, 100), "timestep_high": (int, 800)},
            "diffusers' Pyramid Attention Broadcast",
        ),
        *(
            Library(
                name,
                "cache-dit",
                {
                    "threshold": (float, None),
                    "Fn": (int, None),
                    "Bn": (int, None),
                    "max_warmup_steps": (int, None),
                    "warmup_interval": (int, None),
                    "max_cached_steps": (int, None),
                    "max_continuous_cached_steps": (int, None),
                },
                about,
            )
            for name, about in (
                ("cachedit-dbcache", "cache-dit's DBCache"),
                ("cachedit-dbcache-taylorseer", "cache-dit's DBCache with its TaylorSeer calibrator"),
            )
        ),
    )
}


def missing_library(name: str) -> str | None:
    """Why a library method cannot run here (its library is not installed), or None."""
    import importlib.util

    module = {"diffusers": "diffusers", "cache-dit": "cache_dit"}[LIBRARY_METHODS[name].library]
    if importlib.util.find_spec(module) is None:
        extra = "peers" if module == "cache_dit" else "diffusers"
        return f"{name}: {LIBRARY_METHODS[name].library} is not installed (pip install -e '.[{extra}]')"
    return None


@dataclass(frozen=True)
class LibraryMethod:
    """A library method with its settings resolved (what a harness job holds; its fingerprint)."""

    name: str
    settings: tuple[tuple[str, object], ...]

    def describe(self) -> dict:
        return {"library": LIBRARY_METHODS[self.name].library, "method": self.name, **dict(self.settings)}


def build(name: str, arg: str | None, dbcache_defaults: dict) -> LibraryMethod:
    """`name` with `key=value[+key=value]` settings over its defaults (cache-dit: our dbcache's for the model)."""
    spec = LIBRARY_METHODS[name]
    values = {k: default for k, (_, default) in spec.settings.items()}
    if spec.library == "cache-dit":
        from delta_cache.peers.dbcache import DBCache

        ours = {k: p.default for k, p in inspect.signature(DBCache.__init__).parameters.items() if k in values}
        values = {**ours, **{k: v for k, v in dbcache_defaults.items() if k in values}}
    for item in (arg or "").split("+"):
        if not item:
            continue
        key, eq, text = item.partition("=")
        if not eq or key not in spec.settings:
            raise ValueError(f"{name}: setting {item!r} is not one of {', '.join(f'{k}=...' for k in spec.settings)}")
        kind = spec.settings[key][0]
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"{name}: {key} must be {kind.__name__}, got {text!r}") from None
        # cache-dit's max_*: -1 is no limit; a timestep range's low end: -1 takes in timestep 0 (diffusers' own)
        floor = -1 if key.startswith("max_") or key == "timestep_low" else 0
        if value != value or value < floor:  # NaN would compare false everywhere and run silently
            raise ValueError(f"{name}: {key} must be a number >= {floor}, got {text!r}")
        values[key] = value
    return LibraryMethod(name, tuple(sorted(values.items())))


# ---------------------------------------------------------------------------------------------------
# Putting a method on a pipeline


def _diffusers_config(method: LibraryMethod, pipe, steps: int, magcache_ratios: Callable[[], list[float]]):
    import diffusers

    s = dict(method.settings)
    transformer = pipe.transformer
    if method.name == "diffusers-fbcache":
        return diffusers.FirstBlockCacheConfig(threshold=s["threshold"])
    if method.name == "diffusers-magcache":
        return diffusers.MagCacheConfig(
            threshold=s["threshold"],
            max_skip_steps=s["max_skip_steps"],
            retention_ratio=s["retention_ratio"],
            num_inference_steps=steps,
            mag_ratios=magcache_ratios(),
        )
    if method.name == "diffusers-taylorseer":
        identifiers = None  # its defaults match HunyuanVideo's attention modules
        if hasattr(transformer, "blocks"):  # Wan: attn1 / attn2 / ffn, which no default pattern matches
            identifiers = [r"blocks\.\d+\.attn1", r"blocks\.\d+\.attn2", r"blocks\.\d+\.ffn"]
        return diffusers.TaylorSeerCacheConfig(
            cache_interval=s["cache_interval"],
            disable_cache_before_step=s["disable_cache_before_step"],
            max_order=s["max_order"],
            cache_identifiers=identifiers,
        )
    if method.name == "diffusers-seacache":
        return diffusers.SeaCacheConfig(
            threshold=s["threshold"],
            max_consecutive_cached=s["max_consecutive_cached"],
            residual_order=s["residual_order"],
        )
    if method.name == "diffusers-fastercache":
        return diffusers.FasterCacheConfig(
            spatial_attention_block_skip_range=s["spatial_attention_block_skip_range"],
            spatial_attention_timestep_skip_range=(s["timestep_low"], s["timestep_high"]),
            is_guidance_distilled=True,
            current_timestep_callback=lambda: pipe.current_timestep,
        )
    return diffusers.PyramidAttentionBroadcastConfig(
        spatial_attention_block_skip_range=s["spatial_attention_block_skip_range"],
        spatial_attention_timestep_skip_range=(s["timestep_low"], s["timestep_high"]),
        current_timestep_callback=lambda: pipe.current_timestep,
    )


def enable(method: LibraryMethod, pipe, steps: int, magcache_ratios: Callable[[], list[float]]) -> Callable:
    """Put `method` on `pipe` as its library does; returns what takes it off again."""
    if LIBRARY_METHODS[method.name].library == "diffusers":
        config = _diffusers_config(method, pipe, steps, magcache_ratios)
        pipe.transformer.enable_cache(config)
        return pipe.transformer.disable_cache
    import cache_dit

    s = dict(method.settings)
    config = cache_dit.DBCacheConfig(
        Fn_compute_blocks=s["Fn"],
        Bn_compute_blocks=s["Bn"],
        residual_diff_threshold=s["threshold"],
        max_warmup_steps=s["max_warmup_steps"],
        warmup_interval=s["warmup_interval"],
        max_cached_steps=s["max_cached_steps"],
        max_continuous_cached_steps=s["max_continuous_cached_steps"],
        num_inference_steps=steps,
    )
    calibrator = None
    if method.name == "cachedit-dbcache-taylorseer":
        calibrator = cache_dit.TaylorSeerCalibratorConfig(taylorseer_order=1)
    with contextlib.redirect_stdout(io.StringIO()):  # its summary banners
        cache_dit.enable_cache(pipe, cache_config=config, calibrator_config=calibrator)
    return lambda: cache_dit.disable_cache(pipe)


def calibrate_magcache(target, prompt: str, seed: int = 0) -> list[float]:
    """MagCache's ratios for `target`'s pipeline and step count, as diffusers documents: one generation with
    `calibrate=True`, whose printed ratio list per cache context (cond, uncond) is read back; the contexts'
    lists are averaged (diffusers' MagCache takes one list for every branch)."""
    import diffusers

    pipe = target.pipe
    config = diffusers.MagCacheConfig(calibrate=True, num_inference_steps=target.steps)
    out = io.StringIO()
    pipe.transformer.enable_cache(config)
    try:
        with contextlib.redirect_stdout(out):
            target.generate(prompt, seed)
    finally:
        pipe.transformer.disable_cache()
    lists = [json.loads(m) for m in re.findall(r"^\[[^\]]*\]$", out.getvalue(), flags=re.MULTILINE)]
    if not lists or any(len(values) != target.steps for values in lists):
        raise RuntimeError(f"diffusers-magcache: the calibration printed no ratio list of {target.steps} steps")
    return [sum(v) / len(lists) for v in zip(*lists, strict=True)]


# ---------------------------------------------------------------------------------------------------
# Counting what a library computes


class LibraryRun:
    """A library method on a target's pipeline for the harness, and the count of what it computes.

    A `StepCache` that only measures (`alongside`: it shares the transformer with the library's cache): the
    pipeline's passes reach it through the same hook as our caches', so its per-pass records and its
    `stats()` read as a `CacheHandle`'s. `remove()` takes the library's cache and the counting hooks off."""

    alongside = True

    def __init__(self, target, method: LibraryMethod, magcache_ratios: Callable[[], list[float]]):
        self.method, self.target = method, target
        self.depths = dict(target.depths)
        self._disable = enable(method, target.pipe, target.steps, magcache_ratios)
        self._probes = []
        try:
            for stack in target.spec.stacks:
                for block in getattr(target.model, stack.attr):
                    query = block.get_submodule(f"{stack.attention}.to_q")
                    self._probes.append(query.register_forward_pre_hook(functools.partial(self._computed, stack.name)))
        except Exception:
            self.remove()
            raise
        self.records: list[dict] = []
        self._record: dict | None = None

    def _computed(self, stack: str, module, args) -> None:
        if self._record is not None:
            self._record[stack] = self._record.get(stack, 0) + 1

    # -- the StepCache protocol ------------------------------------------------------------------------
    def start(self, num_steps: int) -> None:
        self.records = []

    def clear_deltas(self) -> None:
        pass

    @contextmanager
    def branch(self, name: str, step: int):
        self._record = {"step": step, "branch": name}
        try:
            yield
        finally:
            self.records.append(self._record)
            self._record = None

    def stats(self) -> dict:
        """Block evaluations of the last generation, in `CacheHandle.stats()`'s fields."""
        per = {}
        for r in self.records:
            for stack, depth in self.depths.items():
                entry = per.setdefault(f"{r['branch']}/{stack}", {"computed": 0, "total": 0, "reused": 0})
                done = min(r.get(stack, 0), depth)
                entry["computed"] += done
                entry["total"] += depth
                entry["reused"] += depth - done
        computed = sum(v["computed"] for v in per.values())
        total = sum(v["total"] for v in per.values())
        return {
            "block_evals_computed": computed,
            "block_evals_total": total,
            "theoretical_speedup": total / computed if computed else float("inf"),
            "cache_bytes_peak": None,  # held inside the library
            "cache_dtype": None,
            "per_branch_stack": per,
            "method": self.method.name,
            "method_settings": self.method.describe(),
            "steps": [dict(r) for r in self.records],
        }

    def remove(self) -> None:
        for probe in self._probes:
            probe.remove()
        self._probes = []
        if self._disable is not None:
            disable, self._disable = self._disable, None
            disable()
