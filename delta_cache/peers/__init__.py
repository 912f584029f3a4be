"""The peer caching methods as data-dependent policies on delta_cache's one mechanism.

Each method is a small `Policy` in its own file that also owns its user-facing surface: its overridable
`settings` with their types, its `about` line, its harness names (`variants`), and how its constants are read
from a calibration file and turned into a policy (`read_constants`, `from_constants`). Everything below is
derived from those classes: the registry, the CLI flags (`delta_cache.peers.cli`) and the harness's method list
(`evaluation.methods`). A model package supplies the published constants per model (`wan.cache_peers`,
`hyvideo.cache_peers`: thresholds, TeaCache's polynomials, MagCache's ratio tables) as {method: settings};
`make_policy` builds the method from them with the user's overrides, validated.

Names: `delta` is ProfilingDiT's static cache (not a policy); the others are below. Our own data-dependent method,
`adaptive` (`delta_cache/adaptive.py`), is registered here beside the peers so that it takes the same flags,
harness names and constants (its constants: a preset file's "adaptive" section, written by the profiler).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..adaptive import Adaptive
from ..checks import is_finite_number, is_integer
from ..policy import Policy
from .dbcache import DBCache
from .dicache import DiCache
from .easycache import EasyCache
from .fbcache import FBCache
from .magcache import MagCache
from .taylorseer import TaylorSeer
from .teacache import TeaCache

PEERS: dict[str, type[Policy]] = {
    cls.name: cls for cls in (TeaCache, FBCache, MagCache, EasyCache, DBCache, DiCache, TaylorSeer, Adaptive)
}
METHODS = ("delta", *PEERS)
SETTINGS: dict[str, dict[str, type | tuple[str, ...]]] = {name: dict(cls.settings) for name, cls in PEERS.items()}


def _describe_kind(kind) -> str:
    if isinstance(kind, tuple):
        return " or ".join(kind)
    return {float: "a finite number", int: "an integer", bool: "true or false"}.get(kind, kind.__name__)


def parse_setting(method: str, key: str, text: str):
    """One `key=value` override, typed by the method's settings; ValueError naming what is accepted."""
    known = SETTINGS[method]
    if key not in known:
        raise ValueError(f"{method} has no setting {key!r}; accepted: {', '.join(known)}")
    kind = known[key]
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{method} {key} must be true or false, got {text!r}")
        return text.lower() in ("true", "1")
    if isinstance(kind, tuple):
        if text not in kind:
            raise ValueError(f"{method} {key} must be {_describe_kind(kind)}, got {text!r}")
        return text
    try:
        return kind(text)
    except ValueError as err:
        raise ValueError(f"{method} {key} must be {kind.__name__}, got {text!r}") from err


def _check_type(method: str, key: str, kind, value) -> None:
    """A setting of its declared type; a float must be finite (NaN passes every `<` check)."""
    if kind is float:
        ok = is_finite_number(value)
    elif kind is int:
        ok = is_integer(value)
    elif isinstance(kind, tuple):
        ok = value in kind
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ValueError(f"{method} {key} must be {_describe_kind(kind)}, got {value!r}")


def load_calibration(path: str | Path) -> dict:
    """A calibration file (scripts/calibrate_peers.py: JSON with lists) as {method: settings} of tuples.

    Read only when a peer method is asked for; any problem is one ValueError naming the file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        out = {}
        for method, settings in data["methods"].items():
            if method not in PEERS:
                raise ValueError(f"unknown method {method!r}")
            out[method] = PEERS[method].read_constants(settings)
        return out
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
        why = f"missing {err}" if isinstance(err, KeyError) else str(err)
        raise ValueError(
            f"{path} is not a usable peer calibration ({why}); rerun scripts/calibrate_peers.py or remove the file"
        ) from err


def make_policy(method: str, constants: dict, overrides: dict | None = None) -> Policy:
    """`method` at the model's published defaults (`constants[method]`, else the method's own model-independent
    `published` ones), with `overrides` applied."""
    if method not in PEERS:
        raise ValueError(f"unknown cache method {method!r}; accepted: {', '.join(METHODS)}")
    base = constants.get(method, PEERS[method].published)
    if base is None:
        how = (
            "profile it (scripts/profile_model.py)"
            if method == Adaptive.name
            else "calibrate it (scripts/calibrate_peers.py)"
        )
        raise ValueError(f"{method}: no constants for this model; {how}")
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(SETTINGS[method])
    if unknown:
        raise ValueError(f"{method} has no setting {sorted(unknown)[0]!r}; accepted: {', '.join(SETTINGS[method])}")
    for key, value in overrides.items():
        _check_type(method, key, SETTINGS[method][key], value)
    try:
        policy = PEERS[method].from_constants(base, overrides)
    except TypeError as err:
        raise ValueError(f"{method}: {err}") from err
    for key, kind in SETTINGS[method].items():  # the constants' own values too: a threshold of NaN runs silently
        if hasattr(policy, key):
            _check_type(method, key, kind, getattr(policy, key))
    return policy


__all__ = [
    "PEERS",
    "METHODS",
    "SETTINGS",
    "make_policy",
    "load_calibration",
    "parse_setting",
    "TeaCache",
    "FBCache",
    "MagCache",
    "EasyCache",
    "DBCache",
    "DiCache",
    "TaylorSeer",
    "Adaptive",
]
