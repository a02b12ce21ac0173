"""The one duration parser: what it reads, what it refuses and that it agrees with pandas."""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edalab.durations import parse_duration


@pytest.mark.parametrize(("value", "expected"), [
    ("30min", pd.Timedelta(minutes=30)), ("7D", pd.Timedelta(days=7)),
    ("1h", pd.Timedelta(hours=1)), (timedelta(seconds=5), pd.Timedelta(seconds=5)),
    (pd.Timedelta("2h"), pd.Timedelta(hours=2)), (np.timedelta64(3, "s"), pd.Timedelta(seconds=3)),
])
def test_parse_duration_reads_strings_and_timedeltas(value, expected):
    result = parse_duration(value)
    assert result == expected and isinstance(result, pd.Timedelta)


@pytest.mark.parametrize(("value", "unit", "expected"), [
    (7, "D", pd.Timedelta(days=7)), (0.5, "D", pd.Timedelta(hours=12)),
    (1500, "ms", pd.Timedelta(seconds=1.5)), (np.int64(90), "s", pd.Timedelta(seconds=90)),
])
def test_parse_duration_reads_numbers_in_the_unit_given(value, unit, expected):
    assert parse_duration(value, number_unit=unit) == expected


def test_parse_duration_refuses_numbers_without_a_unit():
    with pytest.raises(TypeError, match=r"^delay must be a duration such as '30min' or a "
                                        r"timedelta, got int 7$"):
        parse_duration(7, name="delay")


@pytest.mark.parametrize("value", [True, False, np.True_, [1], object()])
def test_parse_duration_refuses_bools_and_other_types(value):
    with pytest.raises(TypeError, match=r"^window must be a duration .*, got "):
        parse_duration(value, name="window", number_unit="s")


@pytest.mark.parametrize("value", ["soon", "1.5", "3 parsecs", None])
def test_parse_duration_refuses_strings_pandas_cannot_read(value):
    with pytest.raises(ValueError, match=rf"^delay must be a duration such as '30min'.*, "
                                         rf"got {re.escape(repr(value))}$"):
        parse_duration(value, name="delay")


@pytest.mark.parametrize("value", ["nan", "NaT", pd.NaT, np.timedelta64("NaT"), float("nan")])
def test_parse_duration_refuses_nan_and_nat(value):
    with pytest.raises(ValueError, match=r"^lateness must be a duration >= 0, got "):
        parse_duration(value, name="lateness", number_unit="s", allow_zero=True)


@pytest.mark.parametrize("value", ["-1h", timedelta(seconds=-1), -3])
def test_parse_duration_refuses_negative_durations(value):
    message = rf"^delay must be a duration >= 0, got {re.escape(repr(value))}$"
    with pytest.raises(ValueError, match=message):
        parse_duration(value, name="delay", number_unit="D", allow_zero=True)


@pytest.mark.parametrize("value", ["0s", timedelta(0), 0, 0.0])
def test_parse_duration_refuses_zero_unless_allowed(value):
    message = rf"^every must be a duration > 0, got {re.escape(repr(value))}$"
    with pytest.raises(ValueError, match=message):
        parse_duration(value, name="every", number_unit="s")
    assert parse_duration(value, number_unit="s", allow_zero=True) == pd.Timedelta(0)


def test_parse_duration_names_an_overflow_as_a_bad_duration():
    with pytest.raises(ValueError, match=r"^delay must be a duration .*, got 1e\+30$"):
        parse_duration(1e30, name="delay", number_unit="D")


_UNITS = st.sampled_from(["D", "h", "min", "s", "ms", "us", "ns"])
_STRINGS = st.builds(lambda n, unit: f"{n}{unit}", st.integers(-10**6, 10**6), _UNITS)
_TIMEDELTAS = st.timedeltas(min_value=timedelta(days=-10**5), max_value=timedelta(days=10**5))


@given(st.one_of(_STRINGS, _TIMEDELTAS, st.text(max_size=8)))
def test_parse_duration_agrees_with_pandas_on_what_it_accepts(value):
    try:
        expected = pd.Timedelta(value)
    except (ValueError, OverflowError):
        with pytest.raises(ValueError):
            parse_duration(value, allow_zero=True)
        return
    if expected is pd.NaT or expected < pd.Timedelta(0):
        with pytest.raises(ValueError, match="must be a duration >= 0"):
            parse_duration(value, allow_zero=True)
    else:
        assert parse_duration(value, allow_zero=True) == expected
