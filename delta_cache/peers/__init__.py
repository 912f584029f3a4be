"""The peer caching methods as data-dependent policies on delta_cache's one mechanism.

Each method is a small `Policy` in its own file. A model package supplies the published constants per model
(`wan.cache_peers`, `hyvideo.cache_peers`: thresholds, TeaCache's polynomials, MagCache's ratio tables) as a
dict {method: settings}; `make_policy` builds the method from them with the user's overrides, validated.

Names: `delta` is ProfilingDiT's static cache (not a policy); the others are below. Overridable settings per
method (`--cache_thresh` = threshold; `--<method>_<setting>` flags; `name:key=value` in the harness) are in
`SETTINGS`, with their types.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

from ..policy import Policy
from .dbcache import DBCache
from .easycache import EasyCache
from .fbcache import FBCache
from .magcache import MagCache
from .teacache import TeaCache

PEERS: dict[str, type[Policy]] = {
    "teacache": TeaCache,
    "fbcache": FBCache,
    "magcache": MagCache,
    "easycache": EasyCache,
    "dbcache": DBCache,
}
METHODS = ("delta", *PEERS)

SETTINGS: dict[str, dict[str, type]] = {
    "teacache": {"threshold": float, "use_ret_steps": bool, "speed": str},
    "fbcache": {"threshold": float, "warmup_steps": int},
    "magcache": {"threshold": float, "K": int, "retention_ratio": float},
    "easycache": {"threshold": float, "ret_steps": int},
    "dbcache": {
        "threshold": float,
        "Fn": int,
        "Bn": int,
        "max_warmup_steps": int,
        "warmup_interval": int,
        "max_cached_steps": int,
        "max_continuous_cached_steps": int,
    },
}


def parse_setting(method: str, key: str, text: str):
    """One `key=value` override, typed by SETTINGS; ValueError naming what is accepted."""
    known = SETTINGS[method]
    if key not in known:
        raise ValueError(f"{method} has no setting {key!r}; accepted: {', '.join(known)}")
    kind = known[key]
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{method} {key} must be true or false, got {text!r}")
        return text.lower() in ("true", "1")
    if kind is str:
        return text
    try:
        return kind(text)
    except ValueError as err:
        raise ValueError(f"{method} {key} must be {kind.__name__}, got {text!r}") from err


def _check_type(method: str, key: str, kind: type, value) -> None:
    """A setting of the type SETTINGS gives it; a float must be finite (NaN passes every `<` check)."""
    if kind is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    elif kind is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        what = {float: "a finite number", int: "an integer"}.get(kind, kind.__name__)
        raise ValueError(f"{method} {key} must be {what}, got {value!r}")


def load_calibration(path: str | Path) -> dict:
    """A calibration file (scripts/calibrate_peers.py: JSON with lists) as {method: settings} of tuples.

    Read only when a peer method is asked for; any problem is one ValueError naming the file.
    """
    path = Path(path)
    try:
        return _read_calibration(json.loads(path.read_text()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
        why = f"missing {err}" if isinstance(err, KeyError) else str(err)
        raise ValueError(
            f"{path} is not a usable peer calibration ({why}); rerun scripts/calibrate_peers.py or remove the file"
        ) from err


def _numbers(values, what: str) -> tuple[float, ...]:
    if not isinstance(values, list) or not values:
        raise ValueError(f"{what} must be a non-empty list of numbers")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"{what} holds {v!r}, not a finite number")
    return tuple(values)


def _read_calibration(data: dict) -> dict:
    out = {}
    for method, settings in data["methods"].items():
        if method not in PEERS:
            raise ValueError(f"unknown method {method!r}")
        settings = dict(settings)
        if method == "teacache":
            modes = {}
            for mode in settings.pop("modes"):
                mode = dict(mode)
                mode["coefficients"] = _numbers(mode["coefficients"], "teacache coefficients")
                modes[mode.pop("use_ret_steps")] = mode
            settings["modes"] = modes
        if method == "magcache":
            settings["ratios"] = _numbers(settings["ratios"], "magcache ratios")
            settings["branches"] = None if settings.get("branches") is None else tuple(settings["branches"])
        out[method] = settings
    return out


def make_policy(method: str, constants: dict, overrides: dict | None = None) -> Policy:
    """`method` at the model's published defaults (`constants[method]`), with `overrides` applied."""
    if method not in PEERS:
        raise ValueError(f"unknown cache method {method!r}; accepted: {', '.join(METHODS)}")
    if method not in constants:
        raise ValueError(f"{method}: no published constants for this model; calibrate it (scripts/calibrate_peers.py)")
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(SETTINGS[method])
    if unknown:
        raise ValueError(f"{method} has no setting {sorted(unknown)[0]!r}; accepted: {', '.join(SETTINGS[method])}")
    settings = dict(constants[method])
    if method == "teacache":
        # Two published indicator modes, each with its own polynomial, forced steps and slow/fast thresholds.
        modes = settings.pop("modes")
        ret = overrides.pop("use_ret_steps", False)
        if ret not in modes:
            raise ValueError(f"teacache: use_ret_steps={ret} has no published constants for this model")
        mode = dict(modes[ret])
        speed = overrides.pop("speed", "fast")
        if speed not in ("slow", "fast"):
            raise ValueError(f"teacache speed must be slow or fast, got {speed!r}")
        settings = {k: v for k, v in mode.items() if k not in ("slow", "fast")}
        settings["threshold"] = mode[speed]
    settings.update(overrides)
    for key, kind in SETTINGS[method].items():
        if key in settings:
            _check_type(method, key, kind, settings[key])
    try:
        return PEERS[method](**settings)
    except TypeError as err:
        raise ValueError(f"{method}: {err}") from err


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
]
