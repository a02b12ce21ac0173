"""`TumblingWindow`: per-key, non-overlapping event-time windows of a fixed size."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from edalab.ml.windows.base import Duration, FixedWindows

__all__ = ["TumblingWindow"]


class TumblingWindow(FixedWindows):
    """Per-key, non-overlapping event-time windows of a fixed `size`, aggregated with river.

    Parameters
    ----------
    size
        Window length: a `timedelta`, seconds, or a pandas string (``"15min"``). Windows are
        ``[start, start + size)``, aligned on the Unix epoch (pandas ``origin="epoch"``).
    aggregate
        A river statistic factory (``stats.Mean``), a statistic to copy (``stats.Quantile(0.9)``)
        or a dict name -> either (``{"pulse": stats.Mean, "spo2": stats.Min}``).
    key
        True (default): one set of windows per event key; None: one for all events; a data
        field name, or a function event -> key.
    value
        What each statistic is fed: a data field name or a function event -> number. With a
        dict `aggregate`, a dict name -> field/function, and by default each name is the data
        field. Missing values (None, NaN) are skipped, as pandas does; ``count`` in the result
        counts events. Not needed for `stats.Count` alone.
    out_of_orderness
        The watermark is the largest event time seen minus this (default 0).
    allowed_lateness
        A window closes when the watermark reaches its end plus this (default 0).
    on_late
        Called with each late event; by default a ``window.late`` event is emitted instead
        (data: event id, type, key, time, the watermark and the event's data).
    types, forward
        Only events of `types` (if given) are windowed; events of `forward` are returned
        unchanged; others are ignored.

    Notes
    -----
    Each closed window emits a ``window.result`` event: key and time the window's key and
    end, id ``window-<key>-<start>``, data ``{"key", "start", "end" (ISO strings), "count",
    <aggregate name>: value}`` (None when the window had no value for it).

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> from edalab import Event
    >>> from river import stats
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> def reading(minute, pulse, key="p1"):
    ...     return Event("vitals", "/ward", {"pulse": pulse}, key=key,
    ...                  time=t0 + timedelta(minutes=minute), id=f"{key}-{minute}")
    >>> op = TumblingWindow("10min", {"pulse": stats.Mean}, allowed_lateness="2min")
    >>> [op.test(reading(m, p)) for m, p in [(1, 80), (4, 90), (11, 70)]]
    [[], [], []]
    >>> [r] = op.test(reading(12, 110))  # watermark 12 min = end 10 + lateness 2: it closes
    >>> r.type, r.id, r.time.isoformat()
    ('window.result', 'window-p1-2024-01-01T00:00:00+00:00', '2024-01-01T00:10:00+00:00')
    >>> r.data  # doctest: +NORMALIZE_WHITESPACE
    {'key': 'p1', 'start': '2024-01-01T00:00:00+00:00', 'end': '2024-01-01T00:10:00+00:00',
     'count': 2, 'pulse': 85.0}
    >>> [e.type for e in op.test(reading(3, 60))]  # window [0, 10) is closed: late
    ['window.late']
    >>> [(e.data["start"][11:16], e.data["pulse"]) for e in op.flush()]
    [('00:10', 90.0)]
    >>> op.stats
    {'events': 5, 'late': 1, 'closed': 2, 'open': 0, 'keys': 0}
    """

    def __init__(self, size: Duration, aggregate: Any, **options: Any) -> None:
        super().__init__(size, None, aggregate, **options)

    def __repr__(self) -> str:
        return f"TumblingWindow(size={timedelta(microseconds=self.size)}, names={self._agg.names})"
