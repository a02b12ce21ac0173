"""`HoppingWindow`: per-key, overlapping event-time windows of a fixed size, one per hop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from edalab.ml.windows.base import Duration, FixedWindows

__all__ = ["HoppingWindow"]


class HoppingWindow(FixedWindows):
    """Per-key, overlapping event-time windows of a fixed `size`, one starting every `hop`.

    An event belongs to every window ``[start, start + size)`` that contains it (starts are
    multiples of `hop` since the Unix epoch). An event some of whose windows have closed is
    late (counted and routed once) and still counted in its windows that are open. The other
    parameters are those of `TumblingWindow`.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> from edalab import Event
    >>> from river import stats
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> events = [Event("tx", "/pos", {"amount": a}, key="c1",
    ...                 time=t0 + timedelta(minutes=m), id=f"tx{m}")
    ...           for m, a in [(1, 10.0), (6, 20.0), (11, 30.0), (16, 40.0)]]
    >>> op = HoppingWindow("10min", "5min", stats.Sum, value="amount")
    >>> out = [r for e in events for r in op.test(e)] + op.flush()
    >>> [(r.data["start"][11:16], r.data["end"][11:16], r.data["amount"]) for r in out]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('23:55', '00:05', 10.0), ('00:00', '00:10', 30.0), ('00:05', '00:15', 50.0),
     ('00:10', '00:20', 70.0), ('00:15', '00:25', 40.0)]
    """

    def __init__(self, size: Duration, hop: Duration, aggregate: Any, **options: Any) -> None:
        super().__init__(size, hop, aggregate, **options)
        if self.hop > self.size:
            raise ValueError("hop must not exceed size (events between windows would be lost)")

    def __repr__(self) -> str:
        return (f"HoppingWindow(size={timedelta(microseconds=self.size)}, "
                f"hop={timedelta(microseconds=self.hop)}, names={self._agg.names})")
