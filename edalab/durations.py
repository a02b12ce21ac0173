"""One way to read a duration: pandas strings, timedeltas and, when a unit says so, numbers.

Every option of edalab that takes a length of time (a label delay, a window, a lateness) reads
it with `parse_duration`, so they all accept the same inputs and refuse bad ones with the same
message; `duration_text` writes one back as a person reads it (``7 days``).
"""

from __future__ import annotations

import math
from datetime import timedelta
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["duration_text", "parse_duration"]


def parse_duration(value: Any, *, name: str = "duration", number_unit: str | None = None,
                   allow_zero: bool = False) -> pd.Timedelta:
    """`value` as a `pandas.Timedelta`, or one clear error naming `name` and the value.

    Accepts a pandas offset string (``"30min"``, ``"7D"``, ``"1h"``), a `datetime.timedelta`,
    a `pandas.Timedelta` or `numpy.timedelta64`, and a number only when `number_unit` says what
    it counts (``"s"``, ``"ms"``, ``"D"``). Refuses None, NaN/NaT, negative durations, zero
    (unless `allow_zero`) with a `ValueError`; bools and other types with a `TypeError`.

    >>> parse_duration("30min")
    Timedelta('0 days 00:30:00')
    >>> parse_duration(7, name="delay", number_unit="D")
    Timedelta('7 days 00:00:00')
    >>> parse_duration(timedelta(0), name="lateness", allow_zero=True)
    Timedelta('0 days 00:00:00')
    >>> parse_duration(7, name="delay")
    Traceback (most recent call last):
    ...
    TypeError: delay must be a duration such as '30min' or a timedelta, got int 7
    >>> parse_duration("-1h", name="window")
    Traceback (most recent call last):
    ...
    ValueError: window must be a duration > 0, got '-1h'
    >>> parse_duration("soon", name="delay", number_unit="D")
    Traceback (most recent call last):
    ...
    ValueError: delay must be a duration such as '30min', a timedelta or a number of D, got 'soon'
    """
    duration = _read(value, name, number_unit)
    if duration is pd.NaT or (duration < pd.Timedelta(0)) or (duration == pd.Timedelta(0)
                                                             and not allow_zero):
        raise ValueError(f"{name} must be a duration {'>= 0' if allow_zero else '> 0'}, "
                         f"got {value!r}")
    return duration


def _read(value: Any, name: str, number_unit: str | None) -> pd.Timedelta:
    """`value` read by pandas (NaT included), or the one message that says what was expected."""
    wanted = "a duration such as '30min' or a timedelta" if number_unit is None else \
        f"a duration such as '30min', a timedelta or a number of {number_unit}"
    if isinstance(value, (str, timedelta, np.timedelta64)) or value is pd.NaT:
        try:
            return pd.Timedelta(value)
        except (ValueError, OverflowError):
            raise ValueError(f"{name} must be {wanted}, got {value!r}") from None
    if number_unit is not None and isinstance(value, (Real, np.number)) \
            and not isinstance(value, (bool, np.bool_)):
        if math.isnan(value):
            return pd.Timedelta("NaT")
        try:
            return pd.Timedelta(value, unit=number_unit)
        except (ValueError, OverflowError):
            raise ValueError(f"{name} must be {wanted}, got {value!r}") from None
    if value is None:  # a missing value, like NaN, rather than a wrong type
        raise ValueError(f"{name} must be {wanted}, got None")
    raise TypeError(f"{name} must be {wanted}, got {type(value).__name__} {value!r}")


def duration_text(value: pd.Timedelta) -> str:
    """A duration as a person writes it: whole units, the zero ones left out.

    >>> duration_text(pd.Timedelta("7D")), duration_text(pd.Timedelta("1D 6h"))
    ('7 days', '1 day 6 h')
    >>> duration_text(pd.Timedelta("90s")), duration_text(pd.Timedelta(0))
    ('1 min 30 s', '0 s')
    """
    c = value.components
    parts = [f"{c.days} day{'s' if c.days != 1 else ''}"] if c.days else []
    parts += [f"{n} {unit}" for n, unit in ((c.hours, "h"), (c.minutes, "min")) if n]
    seconds = c.seconds + c.milliseconds / 1e3 + c.microseconds / 1e6
    if seconds or not parts:
        parts.append(f"{seconds:g} s")
    return " ".join(parts)
