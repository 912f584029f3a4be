"""Cache presets as JSON files: what to cache per block stack, the schedule, and where it came from.

    {"format": "delta_cache.preset", "version": 1, "name": "...",
     "depths": {"blocks": 40},                                  # blocks per stack of the model it was made for
     "stacks": {"blocks": {"cached": [0, 2, 3], "warmup": 6, "interval": 6, "last_full": 0}},
     "provenance": {...},                                       # free-form: model, checkpoint, prompts, ...
     "adaptive": {"step_costs": [...], "cached": {...}}}       # optional: what `adaptive` needs (the profiler)

A stack's schedule has exactly one of `interval`, `refresh_steps` (with `for_steps`) or `linear` ([t_max,
t_min]), as `StackSchedule`. Both CLIs take such a file as `--cache_preset PATH.json`; the built-in presets
write out to it and read back unchanged.

A pipeline of several transformers (Wan2.2 A14B's experts in diffusers) may get one file with a preset each:

    {"format": "delta_cache.preset", "version": 1, "experts": {"transformer": {...a preset...},
                                                               "transformer_2": {...}}}
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from .schedule import CacheConfig, StackSchedule

FORMAT, VERSION = "delta_cache.preset", 1
_SOURCES = ("interval", "refresh_steps", "linear")


def preset_to_dict(
    config: CacheConfig,
    depths: dict[str, int] | None = None,
    provenance: dict | None = None,
    adaptive: dict | None = None,
) -> dict:
    """The file's content for `config`, made for a model with `depths` blocks per stack (default: the config's)."""
    depths = depths if depths is not None else config.depths
    if depths is None:
        raise ValueError(f"preset {config.name}: the depths of the model it is for are not known; pass depths")
    stacks = {}
    for attr, s in config.stacks.items():
        entry: dict = {"cached": list(s.cached), "warmup": s.warmup, "last_full": s.last_full}
        if s.interval is not None:
            entry["interval"] = s.interval
        elif s.refresh_steps is not None:
            entry.update(refresh_steps=list(s.refresh_steps), for_steps=s.for_steps)
        else:
            entry["linear"] = list(s.linear)
        stacks[attr] = entry
    out = {
        "format": FORMAT,
        "version": VERSION,
        "name": config.name,
        "depths": dict(depths),
        "stacks": stacks,
        "provenance": provenance or {},
    }
    if adaptive is not None:
        out["adaptive"] = adaptive
    return out


def save_preset(
    path: str | Path,
    config: CacheConfig,
    depths: dict[str, int] | None = None,
    provenance: dict | None = None,
    adaptive: dict | None = None,
) -> Path:
    """Write the preset atomically (a crash never leaves half a file); returns the path."""
    return write_preset_dict(path, preset_to_dict(config, depths, provenance, adaptive))


def write_preset_dict(path: str | Path, data: dict) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def preset_from_dict(data: dict, depths: dict[str, int], what: str = "preset") -> CacheConfig:
    """A CacheConfig from a file's content, checked against the model's `depths`; ValueError names the problem."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f'{what} is not a delta_cache preset (no "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        raise ValueError(f"{what} has version {data.get('version')!r}; this code reads version {VERSION}")
    made_for = data.get("depths", {})
    if made_for != depths:
        raise ValueError(f"{what} was made for a model with {made_for} blocks per stack; this model has {depths}")
    stacks = data.get("stacks")
    if not isinstance(stacks, dict) or not stacks:
        raise ValueError(f"{what} caches no block stack")
    unknown = sorted(set(stacks) - set(depths))
    if unknown:
        raise ValueError(f"{what} names block stacks {unknown}; this model has {sorted(depths)}")
    out = {}
    for attr, entry in stacks.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{what}, stack {attr}: expected an object of cached blocks and a schedule, got {entry!r}")
        if not isinstance(entry.get("cached"), list):
            raise ValueError(f'{what}, stack {attr}: "cached" must be a list of block indices')
        extra = sorted(set(entry) - {"cached", "warmup", "last_full", "for_steps", *_SOURCES})
        if extra:
            raise ValueError(f"{what}, stack {attr}: unknown fields {extra}")
        kw = {k: entry[k] for k in ("warmup", "last_full", "interval", "for_steps") if k in entry}
        for key in ("refresh_steps", "linear"):
            if key in entry:  # JSON lists; anything else is left for StackSchedule to name
                kw[key] = tuple(entry[key]) if isinstance(entry[key], list) else entry[key]
        try:
            sched = StackSchedule(cached=tuple(entry["cached"]), **kw)
        except ValueError as err:
            raise ValueError(f"{what}, stack {attr}: {err}") from err
        cached = tuple(sorted(sched.cached))
        out[attr] = replace(sched, cached=cached)
        bad = [i for i in cached if i >= depths[attr]]
        if bad:
            raise ValueError(f"{what}, stack {attr}: blocks {bad} out of range 0..{depths[attr] - 1}")
    return CacheConfig(stacks=out, name=str(data.get("name", "custom")), depths=dict(made_for))


def load_preset(path: str | Path, depths: dict[str, int]) -> CacheConfig:
    """Read a preset file for a model with `depths` blocks per stack; one-line ValueError on any problem."""
    return preset_from_dict(read_preset_dict(path), depths, what=f"--cache_preset {path}")


def read_preset_dict(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--cache_preset file not found: {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"--cache_preset {path} is not valid JSON: {err}") from err


def save_expert_presets(path: str | Path, presets: dict[str, dict]) -> Path:
    """One file of a preset per transformer: `presets` maps each (`transformer`, `transformer_2`) to a preset's
    content (`preset_to_dict`)."""
    return write_preset_dict(path, {"format": FORMAT, "version": VERSION, "experts": presets})


def expert_presets(path: str | Path) -> dict[str, dict] | None:
    """A file's preset per transformer (the content of each), or None for a file of one preset."""
    data = read_preset_dict(path)
    experts = data.get("experts")
    if experts is None:
        return None
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(f"--cache_preset {path} is not a delta_cache preset file of version {VERSION}")
    if not isinstance(experts, dict) or not experts or not all(isinstance(v, dict) for v in experts.values()):
        raise ValueError(f'--cache_preset {path}: "experts" must map each transformer to a preset')
    return experts


def load_adaptive(path: str | Path | dict, depths: dict[str, int]) -> dict:
    """The "adaptive" section of a preset file (or of a preset's content) made for `depths` (what `adaptive`
    reads: the profiled step costs and cacheable blocks); one-line ValueError when it has none or is for another
    model."""
    data = path if isinstance(path, dict) else read_preset_dict(path)
    what = "the preset" if isinstance(path, dict) else f"--cache_preset {path}"
    preset_from_dict(data, depths, what)  # the same checks as a preset: format, version, depths
    section = data.get("adaptive")
    if not isinstance(section, dict) or not isinstance(section.get("step_costs"), list):
        raise ValueError(
            f"{what} has no adaptive section; scripts/profile_model.py writes one (or --adaptive_only adds it)"
        )
    return section


def shipped_adaptive(path: str | Path) -> dict | None:
    """The "adaptive" section of a preset file a model package ships (its tiny model's default), or None."""
    return read_preset_dict(path).get("adaptive")


def check_preset_name(value: str | None, builtin: dict) -> None:
    """`--cache_preset` is a built-in name or a path ending in .json; anything else is a one-line error."""
    if value is not None and value not in builtin and not value.endswith(".json"):
        raise ValueError(f"unknown --cache_preset {value!r}; give one of {', '.join(builtin)} or a preset file .json")


def _blocks(depths: dict[str, int]) -> str:
    return ", ".join(f"{n} {stack}" for stack, n in depths.items())


def resolve_preset(
    value: str | None, builtin: dict[str, CacheConfig], depths: dict[str, int], model: str, default: bool = True
) -> CacheConfig | None:
    """What `--cache_preset value` means for `model`, a model of `depths` blocks per stack, in both CLIs.

    A built-in name (its depths must be the model's), a preset file PATH.json (checked the same way), or None:
    the built-in preset made for these depths when `default` (None if there is none, or without `default`).
    ValueError naming the problem.
    """
    if value is None:
        return next((c for c in builtin.values() if c.depths == depths), None) if default else None
    check_preset_name(value, builtin)
    if value.endswith(".json"):
        return load_preset(value, depths)
    preset = builtin[value]
    if preset.depths != depths:
        raise ValueError(f"preset {value} is for {_blocks(preset.depths)}; {model} has {_blocks(depths)}")
    return preset


def preset_name(preset: CacheConfig | None, overridden: bool) -> str:
    """The name a run reports: the preset's, or "custom" once a flag changed any of its blocks or schedule."""
    return preset.name if preset is not None and not overridden else "custom"
