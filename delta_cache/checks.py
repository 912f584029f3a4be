"""Value checks shared by everything that takes numbers from users or files (schedules, presets, the peers'
settings and calibration files, apply_cache): NaN passes every `<` comparison and a bool is an int to
Python, so both are refused here before a run starts rather than failing inside one."""

from __future__ import annotations

import math
import numbers


def is_integer(value) -> bool:
    """An int (numpy's too), not a bool and not a float such as 6.0 or NaN."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_finite_number(value) -> bool:
    """A real number (int or float, not a bool) that is neither NaN nor infinite."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def finite_numbers(values, what: str) -> tuple[float, ...]:
    """A non-empty list (or tuple) of finite numbers as a tuple; ValueError naming `what` otherwise."""
    if not isinstance(values, list | tuple) or not values:
        raise ValueError(f"{what} must be a non-empty list of numbers")
    for v in values:
        if not is_finite_number(v):
            raise ValueError(f"{what} holds {v!r}, not a finite number")
    return tuple(values)
