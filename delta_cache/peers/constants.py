"""Checks shared by the peers' constants readers: a calibration file is data from disk, so its tables are
checked before a run starts rather than failing inside one."""

from __future__ import annotations

import math
import numbers


def finite_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def finite_numbers(values, what: str) -> tuple[float, ...]:
    """A non-empty list (or tuple) of finite numbers as a tuple; ValueError naming `what` otherwise."""
    if not isinstance(values, list | tuple) or not values:
        raise ValueError(f"{what} must be a non-empty list of numbers")
    for v in values:
        if not finite_number(v):
            raise ValueError(f"{what} holds {v!r}, not a finite number")
    return tuple(values)
