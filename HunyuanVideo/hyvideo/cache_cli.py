"""`--delta_cache` flags of sample_video.py: parsed and validated before any model loads.

Ours name the stack: `--cache_single_blocks`, `--cache_double_blocks`, `--cache_{single,double}_interval`,
`--cache_{single,double}_refresh_steps`. The release's names are accepted with corrected meaning:
`--step_start` = warm-up; `--step_interval` = the double stack's interval; `--step_cache_list` = the single
stack's refresh steps; `--block_cache_list_background` = cached single blocks; `--block_cache_list_foreground` =
single blocks always computed (the release read this one as the cached set, and parsed both lists character by
character); `--block_start_double` / `--num_blocks_double` = the cached double range.
"""

from __future__ import annotations

import argparse

from delta_cache import (
    CACHE_DTYPES,
    CacheConfig,
    check_preset_name,
    complement,
    override_schedule,
    parse_index_list,
    parse_linear,
    preset_name,
    resolve_preset,
)
from delta_cache.peers.cli import add_method_args, build_policy, refuse_delta_flags

from .cache_peers import dit_folder, peer_constants
from .cache_spec import HY_CACHE_PRESETS
from .configs import HYVideoConfig

STACKS = ("double_blocks", "single_blocks")


def add_cache_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("delta cache (ProfilingDiT)")
    g.add_argument("--delta_cache", action="store_true", help="reuse cached block deltas on most steps")
    g.add_argument(
        "--cache_preset",
        default=None,
        help=f"a built-in preset ({', '.join(HY_CACHE_PRESETS)}) or a preset file PATH.json "
        "(default: the built-in one matching the model's depths)",
    )
    for short in ("single", "double"):
        g.add_argument(f"--cache_{short}_blocks", default=None, help=f'cached {short} blocks, e.g. "0,2,4-7"')
        g.add_argument(f"--cache_{short}_interval", type=int, default=None, help=f"refresh {short} every k steps")
        g.add_argument(f"--cache_{short}_refresh_steps", default=None, help=f'{short} refresh steps, e.g. "6,18,26"')
    g.add_argument(
        "--cache_warmup",
        type=int,
        default=None,
        help="full-compute steps before caching (default: the preset's; 6 without one)",
    )
    g.add_argument("--cache_linear", default=None, help='decreasing interval "TMAX,TMIN" for both stacks (Eq. 15)')
    g.add_argument("--cache_last_full", type=int, default=None, help="always compute the last k steps (preset's)")
    g.add_argument(
        "--cache_dtype",
        choices=["auto", *CACHE_DTYPES],
        default="auto",
        help="dtype the deltas are stored in; auto: bf16 on CUDA, the stream's dtype on CPU",
    )
    add_method_args(g)
    r = p.add_argument_group("delta cache, the release's flag names (corrected meaning)")
    r.add_argument("--step_start", type=int, default=None, help="= --cache_warmup")
    r.add_argument("--step_interval", type=int, default=None, help="= --cache_double_interval")
    r.add_argument("--step_cache_list", default=None, help="= --cache_single_refresh_steps")
    r.add_argument("--block_cache_list_background", default=None, help="= --cache_single_blocks")
    r.add_argument("--block_cache_list_foreground", default=None, help="single blocks always computed")
    r.add_argument("--block_start_double", type=int, default=None, help="first cached double block")
    r.add_argument("--num_blocks_double", type=int, default=None, help="number of cached double blocks")


def _pick(ours, release, flag: str, release_flag: str):
    if ours is not None and release is not None and ours != release:
        raise ValueError(f"{flag} and {release_flag} disagree; give one")
    return ours if ours is not None else release


def _cached_sets(args: argparse.Namespace, depth: dict[str, int]) -> dict[str, tuple[int, ...] | None]:
    single = None
    text = _pick(
        args.cache_single_blocks,
        args.block_cache_list_background,
        "--cache_single_blocks",
        "--block_cache_list_background",
    )
    if text is not None:
        single = parse_index_list(text, depth["single_blocks"], "--cache_single_blocks")
    if args.block_cache_list_foreground is not None:
        kept = complement(args.block_cache_list_foreground, depth["single_blocks"], "--block_cache_list_foreground")
        if single is not None and single != kept:
            raise ValueError("--block_cache_list_foreground must be the complement of the cached single blocks")
        single = kept
    double = None
    if args.cache_double_blocks is not None:
        double = parse_index_list(args.cache_double_blocks, depth["double_blocks"], "--cache_double_blocks")
    if args.block_start_double is not None or args.num_blocks_double is not None:
        if args.block_start_double is None or args.num_blocks_double is None:
            raise ValueError("--block_start_double and --num_blocks_double go together")
        first, n = args.block_start_double, args.num_blocks_double
        if first < 0 or n < 0 or first + n > depth["double_blocks"]:
            raise ValueError(f"double range {first}..{first + n - 1} is outside 0..{depth['double_blocks'] - 1}")
        released = tuple(range(first, first + n))
        if double is not None and double != released:
            raise ValueError("--cache_double_blocks and --block_start_double/--num_blocks_double disagree")
        double = released
    return {"double_blocks": double, "single_blocks": single}


# The delta cache's own flags (ours and the release's): a peer method refuses them.
DELTA_FLAGS = (
    "cache_preset",
    *(f"cache_{short}_{kind}" for short in ("double", "single") for kind in ("blocks", "interval", "refresh_steps")),
    "cache_warmup",
    "cache_linear",
    "cache_last_full",
    "step_start",
    "step_interval",
    "step_cache_list",
    "block_cache_list_background",
    "block_cache_list_foreground",
    "block_start_double",
    "num_blocks_double",
)


def build_cache_config(args: argparse.Namespace, cfg: HYVideoConfig):
    """The CacheConfig (or peer Policy) the flags describe, None without --delta_cache. ValueError on bad input."""
    check_preset_name(args.cache_preset, HY_CACHE_PRESETS)
    folder = dit_folder(getattr(args, "model_base", None), getattr(args, "dit_weight", None), cfg.dit_weight)
    depth = {"double_blocks": cfg.mm_double_blocks_depth, "single_blocks": cfg.mm_single_blocks_depth}
    # read only for a peer method: a broken calibration file beside the weights must not block other runs
    policy = build_policy(args, lambda: peer_constants(args.video_size[0], folder, cfg.name), depth)
    if policy is not None:
        refuse_delta_flags(args, policy.name, DELTA_FLAGS)
        return policy
    if not args.delta_cache:
        return None
    preset = resolve_preset(args.cache_preset, HY_CACHE_PRESETS, depth, cfg.name)
    cached = _cached_sets(args, depth)
    warmup = _pick(args.cache_warmup, args.step_start, "--cache_warmup", "--step_start")
    linear = None if args.cache_linear is None else parse_linear(args.cache_linear)
    intervals = {
        "double_blocks": _pick(
            args.cache_double_interval, args.step_interval, "--cache_double_interval", "--step_interval"
        ),
        "single_blocks": args.cache_single_interval,
    }
    lists = {
        "double_blocks": args.cache_double_refresh_steps,
        "single_blocks": _pick(
            args.cache_single_refresh_steps, args.step_cache_list, "--cache_single_refresh_steps", "--step_cache_list"
        ),
    }
    if preset is None and all(c is None for c in cached.values()):
        raise ValueError(
            f"no delta_cache preset for {cfg.name} ({depth['double_blocks']} double, {depth['single_blocks']} "
            "single blocks); give --cache_single_blocks/--cache_double_blocks and a schedule"
        )
    stacks = {}
    for stack in STACKS:
        base = preset.stacks.get(stack) if preset else None
        if base is None and cached[stack] is None:
            continue  # this stack is not cached
        short = stack.split("_")[0]
        steps = lists[stack]
        steps = None if steps is None else parse_index_list(steps, args.infer_steps, f"--cache_{short}_refresh_steps")
        stacks[stack] = override_schedule(
            base,
            args.infer_steps,
            cached=cached[stack],
            warmup=warmup,
            interval=intervals[stack],
            refresh_steps=steps,
            linear=linear,
            last_full=args.cache_last_full,
            what=f"{short} blocks",
        )
    customised = any(
        v is not None
        for v in (*cached.values(), warmup, linear, args.cache_last_full, *intervals.values(), *lists.values())
    )
    return CacheConfig(name=preset_name(preset, customised), stacks=stacks)
