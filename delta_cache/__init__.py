"""delta_cache: ProfilingDiT's block-delta feature cache, applied to any DiT from outside.

A model package describes its block stacks (`CacheSpec`) and ships presets (`CacheConfig`); `apply_cache`
wraps the cached blocks and returns a `CacheHandle` that owns all state. This package never imports a model.
A model package also declares a `target.Target` (how the CLIs, the profiler and the harness drive it);
`profiling.profile` turns a target and a `ProfileConfig` into a preset file.
"""

from .compile import compile_blocks
from .distributed import RankDivergence, reduce_stats
from .handle import CACHE_DTYPES, CacheHandle, apply_cache, cache_dtype_for
from .preset_file import (
    check_preset_name,
    load_preset,
    preset_from_dict,
    preset_name,
    preset_to_dict,
    resolve_preset,
    save_preset,
)
from .report import full_compute_stats, run_report, save_with_report, write_report
from .schedule import (
    FULL,
    REFRESH,
    REUSE,
    CacheConfig,
    StackSchedule,
    complement,
    override_schedule,
    parse_index_list,
    parse_linear,
    runs_of,
)
from .spec import BlockStack, CacheSpec
from .step_cache import StepCache

__all__ = [
    "apply_cache",
    "check_preset_name",
    "resolve_preset",
    "preset_name",
    "load_preset",
    "save_preset",
    "preset_to_dict",
    "preset_from_dict",
    "cache_dtype_for",
    "CACHE_DTYPES",
    "compile_blocks",
    "full_compute_stats",
    "run_report",
    "reduce_stats",
    "RankDivergence",
    "write_report",
    "save_with_report",
    "CacheHandle",
    "StepCache",
    "CacheConfig",
    "StackSchedule",
    "BlockStack",
    "CacheSpec",
    "parse_index_list",
    "complement",
    "override_schedule",
    "parse_linear",
    "runs_of",
    "FULL",
    "REFRESH",
    "REUSE",
]
