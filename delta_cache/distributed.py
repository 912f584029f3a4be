"""The cache under sequence parallelism: one report for the group, and a check that every rank acted alike.

Each rank wraps its own model, so each caches the deltas of its own shard of the sequence (cache memory
divides with the group) and no tensor is exchanged. Decisions are planned as a pure function of (step, stack)
(`schedule.py`); `reduce_stats` all-gathers what each rank *executed* (the action its wrappers took and the
blocks they reused, per pass) and raises on every rank, never only on some, if they differ (a rank-local
divergence would otherwise hang the next collective).
"""

from __future__ import annotations

import torch.distributed as dist

from .handle import CacheHandle


class RankDivergence(RuntimeError):
    pass


def reduce_stats(handle: CacheHandle, group: dist.ProcessGroup | None = None) -> dict:
    """Group-wide stats on every rank: block counts of rank 0 (identical everywhere), cache bytes summed.

    Adds `ranks`, `cache_bytes_peak_per_rank` and `reused_per_rank`. Call it on every rank of the group.
    """
    mine = {"executed": handle.records, "stats": handle.stats()}
    world = dist.get_world_size(group)
    everyone: list = [None] * world
    dist.all_gather_object(everyone, mine, group=group)
    first = everyone[0]
    bad = [
        r
        for r, other in enumerate(everyone)
        if other["executed"] != first["executed"]
        or other["stats"]["per_branch_stack"] != first["stats"]["per_branch_stack"]
    ]
    if bad:
        raise RankDivergence(f"delta_cache: ranks {bad} executed other skip/refresh actions than rank 0")
    out = dict(first["stats"])
    out["ranks"] = world
    out["cache_bytes_peak_per_rank"] = [e["stats"]["cache_bytes_peak"] for e in everyone]
    out["cache_bytes_peak"] = sum(out["cache_bytes_peak_per_rank"])
    out["reused_per_rank"] = [sum(v["reused"] for v in e["stats"]["per_branch_stack"].values()) for e in everyone]
    return out
