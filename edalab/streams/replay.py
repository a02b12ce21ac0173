"""Replay any DataFrame as a stream of `Event`\\ s, in event-time order.

Bring your own data: a CSV you downloaded, a simulator's output, a frame you built. Replay either
as fast as possible or paced against the wall clock (``speed=60`` plays one hour of event time in
one minute).

>>> import pandas as pd
>>> df = pd.DataFrame({"at": pd.to_datetime(["2024-01-01 00:00:02", "2024-01-01 00:00:01"]),
...                    "card": [7, 9], "amount": [12.5, float("nan")]})
>>> [(e.id, e.key, e.data) for e in replay(df, time="at", key="card", type="card.tx")]
[('1', '9', {'at': '2024-01-01T00:00:01', 'card': 9, 'amount': None}), \
('0', '7', {'at': '2024-01-01T00:00:02', 'card': 7, 'amount': 12.5})]
"""

from __future__ import annotations

import math
import time as _time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from itertools import repeat, starmap
from typing import Any, Literal

import numpy as np
import pandas as pd

from edalab.events import Event

__all__ = ["Replay", "replay"]

_PLAIN = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """One value as a JSON-ready plain Python value (for columns of mixed objects)."""
    cls = value.__class__
    if cls in _PLAIN:
        return None if cls is float and value != value else value
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.isoformat()
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float):  # float subclasses
        return None if math.isnan(value) else float(value)
    return value


def _column_values(column: pd.Series) -> list:
    """A column as a list of plain Python values: no numpy scalars, NaN → None, times → ISO."""
    dtype = column.dtype
    if dtype.kind in "iub" and isinstance(dtype, np.dtype):
        return column.tolist()
    if dtype.kind == "f" and isinstance(dtype, np.dtype):
        values = column.tolist()
        if column.isna().any():
            values = [None if v != v else v for v in values]
        return values
    if dtype.kind == "M":
        return _iso_strings(column)
    return [_plain(v) for v in column.tolist()]


def _iso_strings(column: pd.Series) -> list:
    """Datetimes as ISO 8601 strings, vectorised; naive stay naive, aware are given in UTC."""
    aware = getattr(column.dtype, "tz", None) is not None
    if aware:
        column = column.dt.tz_convert(None)
    us = column.to_numpy(dtype="datetime64[us]")
    missing = np.isnat(us)
    ticks = us[~missing].astype(np.int64)
    # One precision for the whole column, the coarsest that loses nothing.
    unit: Literal["s", "ms", "us"]
    unit = "s" if not (ticks % 1_000_000).any() else "ms" if not (ticks % 1000).any() else "us"
    text = np.datetime_as_string(us, unit=unit, timezone="UTC" if aware else "naive").tolist()
    if missing.any():
        text = [None if m else t for m, t in zip(missing.tolist(), text, strict=True)]
    return text


def _record_maker(names: list[str]) -> Callable[..., dict]:
    """A function building one data dict from positional values.

    A dict display is about twice as fast as ``dict(zip(names, values))`` per row. The
    generated source holds only numbered identifiers (``k0``, ``_0``); the names reach the
    function as values of its closure, so no column label ever becomes code.

    >>> _record_maker(["a", "x'] or print('hi') or ['"])(1, 2)
    {'a': 1, "x'] or print('hi') or ['": 2}
    """
    n = range(len(names))
    source = (f"def make({', '.join(f'k{i}' for i in n)}):\n"
              f"    return lambda {', '.join(f'_{i}' for i in n)}: "
              f"{{{', '.join(f'k{i}: _{i}' for i in n)}}}")
    scope: dict[str, Any] = {}
    exec(source, scope)  # noqa: S102 (numbered identifiers only, see above)
    return scope["make"](*names)


def _check_data_names(data: list) -> list[str]:
    """The data dict's keys: each column label as a string, refusing two with the same string."""
    names = [str(c) for c in data]
    if len(set(names)) < len(names):
        clash = [c for c, name in zip(data, names, strict=True) if names.count(name) > 1]
        raise ValueError(f"replay: column labels {clash!r} are the same data key as strings; "
                         f"rename them or choose data= columns with distinct names")
    return names


def _keys(column: pd.Series) -> list:
    dtype = column.dtype
    if dtype.kind in "iu" and isinstance(dtype, np.dtype):
        return column.tolist()  # Event turns int keys into strings
    if dtype.kind == "f" and isinstance(dtype, np.dtype):
        integral = column.dropna()
        if (integral == np.floor(integral)).all():  # ids read as floats because of a gap
            return [None if v != v else str(int(v)) for v in column.tolist()]
    return [None if v is None else str(v) for v in _column_values(column)]


def _times_us(df: pd.DataFrame, name: str, unit: str | None, origin: Any) -> np.ndarray:
    """The time column as int64 microseconds since the epoch (UTC)."""
    column = df[name]
    kind = column.dtype.kind
    if kind in "iuf" and unit is None:
        raise ValueError(
            f"time column {name!r} holds numbers: pass unit= ('s', 'ms', 'us', 'ns') "
            f"to read them as epoch times"
        )
    try:
        if kind in "iuf":
            times = pd.to_datetime(column, unit=unit, origin=origin, utc=True)
        elif kind == "M":
            times = column
            if getattr(times.dtype, "tz", None) is None:
                times = times.dt.tz_localize("UTC")
        else:
            try:
                with warnings.catch_warnings():  # "could not infer format": we fall back below
                    warnings.simplefilter("ignore", UserWarning)
                    times = pd.to_datetime(column, utc=True)
            except ValueError:  # the format guessed from the first row does not fit them all
                times = pd.to_datetime(column, utc=True, format="ISO8601")
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(
            f"time column {name!r} cannot be read as times: {str(exc).splitlines()[0]}"
        ) from None
    missing = times.isna().to_numpy()
    if missing.any():
        row = df.index[int(np.argmax(missing))]
        raise ValueError(
            f"time column {name!r} has {int(missing.sum())} missing time(s) (NaT), "
            f"first at index {row!r}"
        )
    naive = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return naive.to_numpy(dtype="datetime64[us]").astype(np.int64)


class Replay:
    """An iterator of `Event`\\ s built from a DataFrame; see `replay`.

    It has a length (``len(r)`` is the number of events), so progress bars know the total.
    """

    def __init__(self, events: Iterator[Event], times_us: list[int], speed: float | None) -> None:
        self._times_us = times_us
        self.speed = speed
        self._events = events if speed is None else self._paced(events)

    def __len__(self) -> int:
        return len(self._times_us)

    def __iter__(self) -> Replay:
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def __repr__(self) -> str:
        return f"Replay(events={len(self)}, speed={self.speed!r})"

    def _paced(self, events: Iterator[Event]) -> Iterator[Event]:
        # Each event's due time is computed from one origin, so sleep errors never add up.
        scale = 1.0 / (self.speed * 1e6)  # type: ignore[operator]  # paced only with a speed
        monotonic, sleep = _time.monotonic, _time.sleep
        origin_wall = None
        first = self._times_us[0] if self._times_us else 0
        for t, event in zip(self._times_us, events, strict=True):
            if origin_wall is None:
                origin_wall = monotonic()
            wait = origin_wall + (t - first) * scale - monotonic()
            if wait > 0:
                sleep(wait)
            yield event


def replay(
    df: pd.DataFrame,
    time: str,
    key: str | None = None,
    type: str = "edalab.record",
    source: str = "/edalab/replay",
    *,
    id: str | None = None,
    data: Sequence[str] | None = None,
    unit: str | None = None,
    origin: Any = "unix",
    speed: float | None = None,
) -> Replay:
    """Replay the rows of `df` as `Event`\\ s in event-time order.

    Rows are stably sorted by the `time` column (rows with equal times keep their order). A
    column of naive times is taken as UTC; tz-aware times are converted to UTC; numbers are
    epoch times in `unit` (or time since `origin`); strings are parsed as ISO 8601. Times have
    microsecond resolution (the resolution of `datetime`).

    Parameters
    ----------
    df
        The data, one event per row.
    time
        Name of the event-time column.
    key
        Name of the column holding the partitioning key (turned into strings); none by default.
    type
        The events' type, or the name of a column holding each row's type.
    source
        The events' source (a URI-reference, e.g. ``"/kaggle/creditcard"``).
    id
        Name of a column of unique event ids. By default the row's index label (as a string),
        which is deterministic and survives the sort; the row's position if the index is not
        unique.
    data
        Columns to put in each event's data dict (default: all), keyed by their labels as
        strings; two labels with the same string (``1`` and ``"1"``) are refused rather than
        one value silently lost. Values are plain Python types:
        numpy scalars become ``int``/``float``/``bool``, missing values (NaN, NA, NaT) ``None``,
        timestamps ISO 8601 strings.
    unit, origin
        For numeric time columns: the unit (``"s"``, ``"ms"``, ``"us"``, ``"ns"``) and the
        origin (``"unix"`` or a timestamp), as in `pandas.to_datetime`. The credit-card fraud
        CSV's ``Time`` is seconds since its first transaction: ``unit="s",
        origin="2013-09-01"``.
    speed
        `None`: as fast as possible. A positive number: paced against the wall clock, `speed`
        seconds of event time per second (``speed=60`` plays an hour in a minute). Pacing sleeps
        until each event's due time, measured from the first event on a monotonic clock, so
        delays do not accumulate; a consumer slower than the pace gets events without waiting.

    Returns
    -------
    Replay
        An iterator of events with a length.

    Raises
    ------
    ValueError
        A named column is missing, two data columns have the same label as strings, the time
        column cannot be read as times or has missing times, or `speed` is not positive; the
        message names the column.

    Examples
    --------
    >>> df = pd.DataFrame({"ms": [2000, 0, 1000], "sensor": ["b", "a", "b"],
    ...                    "kind": ["off", "on", "on"]})
    >>> events = replay(df, time="ms", unit="ms", key="sensor", type="kind", data=["sensor"])
    >>> len(events)
    3
    >>> [(e.type, e.key, e.time.second) for e in events]
    [('on', 'a', 0), ('on', 'b', 1), ('off', 'b', 2)]
    >>> replay(df, time="when")
    Traceback (most recent call last):
    ...
    ValueError: replay: no column 'when' (time=); columns are ['ms', 'sensor', 'kind']
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"replay: df must be a pandas DataFrame, got {df.__class__.__name__}")
    columns = list(df.columns)
    for argument, name in (("time", time), ("key", key), ("id", id)):
        if name is not None and name not in df.columns:
            raise ValueError(f"replay: no column {name!r} ({argument}=); columns are {columns}")
    if data is None:
        data = columns
    else:
        data = list(data)
        unknown = [c for c in data if c not in df.columns]
        if unknown:
            raise ValueError(f"replay: no column(s) {unknown} (data=); columns are {columns}")
    if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float))
                              or not speed > 0):
        raise ValueError(f"replay: speed must be None or a positive number, got {speed!r}")
    if not isinstance(type, str) or not type:
        raise ValueError(f"replay: type must be a non-empty string, got {type!r}")
    if df.columns.duplicated().any():
        dup = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise ValueError(f"replay: duplicated column name(s) {dup}")
    names = _check_data_names(data)

    times = _times_us(df, time, unit, origin)
    order = np.argsort(times, kind="stable")
    used = list(dict.fromkeys([*data, *(c for c in (key, id, type) if c in df.columns)]))
    ordered = df[used].take(order)
    times_us = times[order].tolist()
    py_times = pd.to_datetime(times[order], unit="us", utc=True).to_pydatetime().tolist()

    cols = [_column_values(ordered[c]) for c in data]
    keys = _keys(ordered[key]) if key is not None else repeat(None)
    if id is not None:
        ids = [None if v is None else str(v) for v in _column_values(ordered[id])]
        if None in ids or len(set(ids)) != len(ids):
            raise ValueError(f"replay: id column {id!r} must hold unique, non-missing ids")
    elif df.index.is_unique:
        ids = [str(v) for v in ordered.index.tolist()]
    else:
        ids = [str(v) for v in order.tolist()]
    if type in df.columns:
        types: Iterable[str | None] = [None if v is None else str(v)
                                       for v in _column_values(ordered[type])]
        if None in types:
            raise ValueError(f"replay: type column {type!r} has missing values")
    else:
        types = repeat(type)
    rows = starmap(_record_maker(names), zip(*cols, strict=True)) if cols else (
        {} for _ in py_times)
    events = (
        Event(t, source, d, key=k, time=tm, id=i)  # type: ignore[arg-type]  # None raised above
        for t, d, k, tm, i in zip(types, rows, keys, py_times, ids, strict=False)
    )
    return Replay(events, times_us, speed)
