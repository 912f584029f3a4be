"""The per-run stats file both CLIs write next to the video: `<video stem>.delta_cache.json`.

A cached run reports its handle's counts and per-step actions; a baseline run reports the same fields with
nothing reused, so that the two compare field by field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .handle import CacheHandle


def run_report(
    handle: CacheHandle | None, baseline_block_evals: int, denoise_seconds: float, stats: dict | None = None
) -> dict:
    """Stats of one run; `baseline_block_evals` (every block of every pass) is used when there is no handle.

    `stats` replaces `handle.stats()`, e.g. the group-wide stats of `delta_cache.distributed.reduce_stats`.
    """
    if handle is not None:
        report = dict(stats) if stats is not None else handle.stats()
        report["preset"] = handle.config.name
        report["steps"] = [dict(r) for r in handle.records]
    else:
        n = baseline_block_evals
        report = dict(
            block_evals_computed=n,
            block_evals_total=n,
            theoretical_speedup=1.0,
            cache_bytes_peak=0,
            preset=None,
            steps=[],
        )
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
