"""`--cache_method` and the peer methods' flags, shared by generate.py and sample_video.py.

`--cache_method delta` (the default) is ProfilingDiT's static cache and its own flags; any other method takes
its model's published constants (or the checkpoint's calibration file), `--cache_thresh` for its threshold, and
`--<method>_<setting>` for the rest (each method's `settings`). A flag of another method is an error, before
any model loads.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..policy import Policy
from ..preset_file import load_adaptive
from . import METHODS, SETTINGS, make_policy


def _flag(method: str, key: str) -> str:
    return f"--{method}_{key}"


# settings with a flag of their own instead of --<method>_<setting>
SHARED_FLAGS = {**{(m, "threshold"): "cache_thresh" for m in SETTINGS}, ("adaptive", "speedup"): "cache_speedup"}


def add_method_args(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--cache_method",
        default="delta",
        choices=METHODS,
        help="delta: ProfilingDiT's block-delta cache (default); or a peer method at its published defaults",
    )
    g.add_argument("--cache_thresh", type=float, default=None, help="a peer method's threshold (default: published)")
    g.add_argument(
        "--cache_speedup",
        type=float,
        default=None,
        help="adaptive: the theoretical speedup asked for (default 2.0); the profiled plan maps it to everything",
    )
    for method, settings in SETTINGS.items():
        for key, kind in settings.items():
            if (method, key) in SHARED_FLAGS:
                continue
            if kind is bool:
                g.add_argument(_flag(method, key), action="store_true", default=None, help=f"{method}: {key}")
            elif isinstance(kind, tuple):
                g.add_argument(_flag(method, key), choices=kind, default=None, help=f"{method}: {key}")
            else:
                g.add_argument(_flag(method, key), type=kind, default=None, help=f"{method}: {key}")


def peer_overrides(args: argparse.Namespace) -> dict:
    """The settings given on the command line for `args.cache_method`; ValueError for another method's flag.

    A namespace made without `add_method_args` (a script of its own) means the delta cache.
    """
    method = getattr(args, "cache_method", "delta")
    out = {}
    for owner, settings in SETTINGS.items():
        for key in settings:
            if (owner, key) in SHARED_FLAGS:
                continue
            value = getattr(args, f"{owner}_{key}", None)
            if value is None:
                continue
            if owner != method:
                raise ValueError(f"{_flag(owner, key)} applies to --cache_method {owner}, not {method}")
            out[key] = value
    if getattr(args, "cache_thresh", None) is not None:
        if method == "delta":
            raise ValueError("--cache_thresh applies to the peer methods; --cache_method delta has no threshold")
        out["threshold"] = args.cache_thresh
    if getattr(args, "cache_speedup", None) is not None:
        if method != "adaptive":
            raise ValueError(f"--cache_speedup applies to --cache_method adaptive, not {method}")
        out["speedup"] = args.cache_speedup
    return out


def build_policy(args: argparse.Namespace, constants: Callable[[], dict], depths: dict[str, int]) -> Policy | None:
    """The peer policy the flags name, or None for `delta`; checked against the model's depths (blocks per
    stack) before any weight loads. `constants()` gives the model's {method: settings}, called only for a peer.
    Raises ValueError on bad input."""
    overrides = peer_overrides(args)
    method = getattr(args, "cache_method", "delta")
    if method == "delta":
        return None
    if not args.delta_cache:
        raise ValueError(f"--cache_method {method} needs --delta_cache")
    base = constants()
    preset = getattr(args, "cache_preset", None)
    if method == "adaptive" and preset is not None:  # a profiled preset file: its adaptive section
        if not preset.endswith(".json"):
            raise ValueError(f"--cache_method adaptive takes a profiled preset file PATH.json, not {preset!r}")
        base = {**base, "adaptive": load_adaptive(preset, depths)}
    policy = make_policy(method, base, overrides)
    policy.bind(depths)  # e.g. DBCache's Fn + Bn against the stacks' depth
    return policy


def refuse_delta_flags(args: argparse.Namespace, method: str, flags: tuple[str, ...]) -> None:
    """The delta cache's block and schedule flags mean nothing to a peer method: refuse them, never ignore."""
    if method == "adaptive":  # it reads the profile from --cache_preset's file
        flags = tuple(f for f in flags if f != "cache_preset")
    given = [f"--{f}" for f in flags if getattr(args, f, None) is not None]
    if given:
        raise ValueError(f"{', '.join(given)} set the delta cache; --cache_method {method} decides by itself")
