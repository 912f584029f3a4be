"""`--delta_cache` flags of generate.py: parsed and validated before any model loads.

The release's list flags are accepted with corrected meaning: `--block_cache_list_background` names the
blocks to cache (the release parsed it character by character with `type=list`), and
`--block_cache_list_foreground` names the blocks always computed (its complement).
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

from .cache_peers import peer_constants
from .cache_spec import WAN_CACHE_PRESETS
from .configs import WAN_CONFIGS


def add_cache_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("delta cache (ProfilingDiT)")
    g.add_argument("--delta_cache", action="store_true", help="reuse cached block deltas on most steps")
    g.add_argument(
        "--cache_preset",
        default=None,
        help=f"a built-in preset ({', '.join(WAN_CACHE_PRESETS)}) or a preset file PATH.json "
        "(default: the built-in one matching the model's depth)",
    )
    g.add_argument("--cache_blocks", default=None, help='blocks to cache, e.g. "0,2-7,10-20" (overrides preset)')
    g.add_argument("--block_cache_list_background", default=None, help="release name of --cache_blocks")
    g.add_argument("--block_cache_list_foreground", default=None, help="release flag: blocks always computed")
    g.add_argument(
        "--cache_warmup",
        type=int,
        default=None,
        help="full-compute steps before caching (default: the preset's; 6 without one)",
    )
    g.add_argument("--cache_interval", type=int, default=None, help="refresh every k steps after warm-up")
    g.add_argument("--cache_refresh_steps", default=None, help='explicit refresh steps, e.g. "6,18,26"')
    g.add_argument("--cache_linear", default=None, help='decreasing interval "TMAX,TMIN" (paper Eq. 15)')
    g.add_argument("--cache_last_full", type=int, default=None, help="always compute the last k steps (preset's)")
    g.add_argument(
        "--cache_dtype",
        choices=["auto", *CACHE_DTYPES],
        default="auto",
        help="dtype the deltas are stored in; auto: bf16 on CUDA, the stream's dtype on CPU",
    )
    add_method_args(g)


def profile_command(args: argparse.Namespace, task: str) -> str:
    """The scripts/profile_model.py command that makes a preset for this very model and sampler."""
    parts = ["python scripts/profile_model.py", f"--task {task}"]
    for flag in ("ckpt_dir", "size", "frame_num", "sample_steps"):
        value = getattr(args, flag, None)
        if value is not None:
            parts.append(f"--{flag} {value}")
    return " ".join([*parts, f"--out {task}.json"])


def build_cache_config(args: argparse.Namespace, num_layers: int, task: str):
    """The CacheConfig (or peer Policy) the flags describe, None without --delta_cache. ValueError on bad input."""
    check_preset_name(args.cache_preset, WAN_CACHE_PRESETS)

    # read only for a peer method: a broken calibration file beside the weights must not block other runs
    def constants() -> dict:
        return peer_constants(task, getattr(args, "ckpt_dir", None), getattr(args, "size", None))

    policy = build_policy(args, constants, {"blocks": num_layers})
    if policy is not None:
        refuse_delta_flags(args, policy.name, DELTA_FLAGS)
        return policy
    if not args.delta_cache:
        return None
    cached = None
    if args.cache_blocks is not None or args.block_cache_list_background is not None:
        text = args.cache_blocks if args.cache_blocks is not None else args.block_cache_list_background
        cached = parse_index_list(text, num_layers, "--cache_blocks")
    if args.block_cache_list_foreground is not None:
        kept = complement(args.block_cache_list_foreground, num_layers, "--block_cache_list_foreground")
        if cached is not None and cached != kept:
            raise ValueError("--block_cache_list_foreground must be the complement of the cached blocks")
        cached = kept
    t2v = WAN_CONFIGS[task].model_type == "t2v"  # the built-in presets are text-to-video's: no default for I2V
    preset = resolve_preset(args.cache_preset, WAN_CACHE_PRESETS, {"blocks": num_layers}, task, default=t2v)
    if preset is None and cached is None:
        why = "" if t2v else "; the release made none for image-to-video"
        raise ValueError(
            f"no delta_cache preset for {task} ({num_layers} blocks{why}); profile one with: "
            f"{profile_command(args, task)} and pass --cache_preset {task}.json (or give --cache_blocks and a schedule)"
        )
    refresh = None
    if args.cache_refresh_steps is not None:
        refresh = parse_index_list(args.cache_refresh_steps, args.sample_steps, "--cache_refresh_steps")
    sched = override_schedule(
        preset.stacks["blocks"] if preset else None,
        args.sample_steps,
        cached=cached,
        warmup=args.cache_warmup,
        interval=args.cache_interval,
        refresh_steps=refresh,
        last_full=args.cache_last_full,
        linear=None if args.cache_linear is None else parse_linear(args.cache_linear),
        what="--delta_cache",
    )
    overrides = (
        cached,
        args.cache_warmup,
        args.cache_interval,
        args.cache_refresh_steps,
        args.cache_linear,
        args.cache_last_full,
    )
    name = preset_name(preset, any(v is not None for v in overrides))
    return CacheConfig(name=name, stacks={"blocks": sched})


# The delta cache's own flags: a peer method refuses them.
DELTA_FLAGS = (
    "cache_preset",
    "cache_blocks",
    "block_cache_list_background",
    "block_cache_list_foreground",
    "cache_warmup",
    "cache_interval",
    "cache_refresh_steps",
    "cache_linear",
    "cache_last_full",
)
