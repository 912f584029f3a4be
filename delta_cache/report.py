"""The per-run stats file both CLIs write next to the video: `<video stem>.delta_cache.json`.

A cached run reports its handle's counts and per-step actions; a baseline run reports the same fields with
nothing reused (`full_compute_stats`), so that the two compare field by field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from .handle import CacheHandle


def full_compute_stats(passes: dict[str, int], depths: dict[str, int]) -> dict:
    """What `CacheHandle.stats()` reports for a run that caches nothing: `passes` model passes per branch name,
    each running all `depths` blocks of every stack."""
    per = {
        f"{branch}/{stack}": {"computed": n * depth, "total": n * depth, "reused": 0}
        for branch, n in sorted(passes.items())
        for stack, depth in depths.items()
    }
    total = sum(v["total"] for v in per.values())
    return {
        "block_evals_computed": total,
        "block_evals_total": total,
        "theoretical_speedup": 1.0,
        "cache_bytes_peak": 0,
        "cache_dtype": None,
        "per_branch_stack": per,
        "method": None,
        "method_settings": None,
    }


def run_report(handle: CacheHandle | None, full: dict, denoise_seconds: float, stats: dict | None = None) -> dict:
    """Stats of one run; `full` (`full_compute_stats` of the run's passes) stands in when there is no handle.

    `stats` replaces `handle.stats()`, e.g. the group-wide stats of `delta_cache.distributed.reduce_stats`.
    """
    if handle is not None:
        report = dict(stats) if stats is not None else handle.stats()
        report["preset"] = handle.config.name
        report["steps"] = [dict(r) for r in handle.records]
    else:
        report = dict(full, preset=None, steps=[])
    report["denoise_seconds"] = denoise_seconds
    report["delta_cache"] = handle is not None
    return report


def write_report(report: dict, video: str | Path) -> Path:
    """Write `report` atomically as `<video stem>.delta_cache.json` beside `video`; returns its path."""
    video = Path(video)
    path = video.with_name(video.stem + ".delta_cache.json")
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tmp.write_text(json.dumps(report, indent=1))
        os.replace(tmp, path)
    except OSError as err:  # e.g. a full disk: no half-written file is left under either name
        tmp.unlink(missing_ok=True)
        raise OSError(err.errno, f"could not write {path}: {err.strerror or err}") from None
    return path


def save_with_report(save: Callable[[Path], object], video: str | Path, report: dict) -> None:
    """`save(video)`, then the stats file beside it: a video without its stats is not a finished run, so a
    failure to write the stats (a full disk) removes the video again and re-raises."""
    video = Path(video)
    save(video)
    try:
        write_report(report, video)
    except OSError:
        video.unlink()
        raise
