"""Event-time windows per key: tumbling, hopping and session, aggregated with `river.stats`.

Time is the events' own time, not the clock of the machine. The operator's **watermark** is the
largest event time it has seen minus `out_of_orderness`: a promise that earlier events are not
expected any more. One watermark serves all keys (like a Kafka Streams task's stream time), so a
quiet key's windows still close while other keys advance time. A window ``[start, end)`` closes,
emitting one ``window.result`` event, as soon as ``watermark >= end + allowed_lateness``; an
event that arrives for a window that is already closed is **late**: counted in
``op.stats["late"]`` and routed (a ``window.late`` event, or the `on_late` callback), never
dropped silently. Closed windows are dropped, so state is the open windows only.

At the end of a stream, ``op.flush()`` closes every open window. Inside an `App` pipeline the
App does it when its sources drain, and the stages downstream handle the results (and flush
in turn) before the run ends.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime, timedelta
from numbers import Real
from typing import Any

import pandas as pd

from edalab.events import Event
from edalab.ml.anomaly import KeyOption, key_function
from edalab.operators.base import Operator

__all__ = ["HoppingWindow", "SessionWindow", "TumblingWindow"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_RESERVED = frozenset({"key", "start", "end", "count"})

Duration = timedelta | float | int | str
Value = str | Callable[[Event], Any]


def _micros(value: Duration, name: str, *, positive: bool = True) -> int:
    """A duration (timedelta, seconds, or a pandas string such as ``"15min"``) in µs."""
    if isinstance(value, str):
        value = pd.Timedelta(value).to_pytimedelta()
    if isinstance(value, timedelta):
        us = value // _US
    elif isinstance(value, Real) and not isinstance(value, bool):
        us = round(float(value) * 1_000_000)
    else:
        raise TypeError(f"{name} must be a timedelta, seconds or a string like '5min', "
                        f"got {value!r}")
    if us < 0 or (positive and us == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return us


def _time(us: float) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


class _Aggregate:
    """Compiled `aggregate` and `value` options: named river statistics, each fed one value."""

    def __init__(self, aggregate: Any, value: Value | dict[str, Value] | None):
        if isinstance(aggregate, dict):
            factories = {str(n): _factory(f, n) for n, f in aggregate.items()}
            if not factories:
                raise ValueError("aggregate dict is empty")
            if value is None or isinstance(value, dict):
                given = value or {}
                unknown = set(given) - set(factories)
                if unknown:
                    raise ValueError(f"value names {sorted(unknown)} are not in aggregate")
                sources = {n: given.get(n, None if _is_count(f) else n)
                           for n, f in factories.items()}
            else:
                sources = dict.fromkeys(factories, value)
        else:
            factory = _factory(aggregate, "aggregate")
            if isinstance(value, dict):
                raise TypeError("a dict of values needs a dict of aggregates")
            if value is None and not _is_count(factory):
                raise ValueError("give value= (a data field or a function of the event); "
                                 "only stats.Count needs none")
            name = value if isinstance(value, str) else "value"
            factories, sources = {name: factory}, {name: value}
        clash = _RESERVED & set(factories)
        if clash:
            raise ValueError(f"aggregate names {sorted(clash)} clash with result fields")
        self.names = tuple(factories)
        self.factories = tuple(factories.values())
        self.getters = tuple(_getter(sources[n], n) for n in self.names)
        self.width = len(self.names)
        # The common case, every value a data field: one comprehension, checked at C speed.
        fields = tuple(sources[n] for n in self.names)
        self._fields = fields if all(isinstance(f, str) for f in fields) else None

    def values(self, event: Event) -> list:
        fields = self._fields
        if fields is not None:
            try:
                data = event.data
                values = [data[f] for f in fields]
                s = sum(values)  # None or text raise TypeError; NaN makes s != s
                if s == s:
                    return values
            except (KeyError, TypeError):
                pass
        return [get(event) for get in self.getters]  # the slow path names what is wrong

    def new(self) -> list:
        """Window state: [events, stats, missing values per stat, bound update methods]."""
        stats = [f() for f in self.factories]
        return [0, stats, [0] * self.width, [s.update for s in stats]]

    @staticmethod
    def update(state: list, values: list) -> None:
        state[0] += 1
        if None not in values:
            for update, v in zip(state[3], values, strict=True):
                update(v)
            return
        missing = state[2]
        for i, (update, v) in enumerate(zip(state[3], values, strict=True)):
            if v is None:
                missing[i] += 1
            else:
                update(v)

    @staticmethod
    def merge(into: list, other: list) -> None:
        into[0] += other[0]
        for i, (a, b) in enumerate(zip(into[1], other[1], strict=True)):
            _merge_stat(a, b)
            into[2][i] += other[2][i]

    def result(self, state: list) -> dict:
        out = {}
        count = state[0]
        for name, stat, missing in zip(self.names, state[1], state[2], strict=True):
            value = stat.get() if missing < count else None
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            out[name] = value
        return out


def _factory(spec: Any, name: Any) -> Callable[[], Any]:
    if not isinstance(spec, type) and hasattr(spec, "update") and hasattr(spec, "clone"):
        return spec.clone  # a statistic instance: fresh copies of it
    if callable(spec):
        return spec
    raise TypeError(f"aggregate {name!r} must be a river statistic or a factory, got {spec!r}")


def _is_count(factory: Callable) -> bool:
    from river import stats

    return factory is stats.Count or isinstance(getattr(factory, "__self__", None), stats.Count)


def _count_all(event: Event) -> int:
    return 1


def _getter(source: Value | None, name: str) -> Callable[[Event], Any]:
    """event -> a number, or None when missing (None or NaN, skipped like pandas does)."""
    if source is None:
        return _count_all
    if isinstance(source, str):
        field = source

        def get(event: Event) -> Any:
            try:
                v = event.data[field]
            except (KeyError, TypeError):
                raise ValueError(f"event {event.id!r}: field {field!r} is missing") from None
            if v.__class__ is float:
                return v if v == v else None
            return _checked(event, field, v)

        return get
    if callable(source):
        fn = source

        def get_fn(event: Event) -> Any:
            return _checked(event, name, fn(event))

        return get_fn
    raise TypeError(f"value for {name!r} must be a field name or a function, got {source!r}")


def _checked(event: Event, name: str, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, Real):
        return None if v != v else v
    raise ValueError(f"event {event.id!r}: field {name!r} is not numeric "
                     f"({type(v).__name__} {v!r})")


def _merge_stat(a: Any, b: Any) -> None:
    """Fold statistic `b` into `a` (session windows merge when an event bridges them)."""
    from river import stats

    if isinstance(a, stats.Count):
        a.n += b.n
    elif isinstance(a, stats.Sum):
        a.sum += b.sum
    elif isinstance(a, stats.Max):
        a.max = max(a.max, b.max)
    elif isinstance(a, stats.Min):
        a.min = min(a.min, b.min)
    elif getattr(type(a), "__iadd__", None) is not None:
        a += b  # river's Mean, Var, ... merge exactly
    else:
        raise TypeError(f"cannot merge two {type(a).__name__} statistics: session windows need "
                        "mergeable ones (Count, Sum, Min, Max, Mean, Var)")


class _Windows(Operator, abstract=True):
    """What tumbling, hopping and session windows share: keys, watermark, closing, routing."""

    def __init__(self, aggregate: Any, *, key: KeyOption = True,
                 value: Value | dict[str, Value] | None = None,
                 out_of_orderness: Duration = 0, allowed_lateness: Duration = 0,
                 on_late: Callable[[Event], Any] | None = None,
                 types: Iterable[str] | None = None, forward: Iterable[str] = (),
                 result_type: str = "window.result",
                 late_type: str = "window.late", source: str = "/edalab/ml/windows") -> None:
        self._agg = _Aggregate(aggregate, value)
        self._key = key_function(key)
        self.out_of_orderness = _micros(out_of_orderness, "out_of_orderness", positive=False)
        self.allowed_lateness = _micros(allowed_lateness, "allowed_lateness", positive=False)
        self.on_late = on_late
        self.types = frozenset(types) if types is not None else None
        self.forward = frozenset(forward)
        self.result_type = result_type
        self.late_type = late_type
        self.source = source
        self._max = -math.inf  # largest event time seen, µs
        self._heap: list[tuple] = []  # (close at, seq, key, window)
        self._seq = itertools.count().__next__
        self._events = 0
        self._late = 0
        self._closed = 0
        self.__name__ = type(self).__name__.lower()

    @property
    def watermark(self) -> datetime | None:
        """Largest event time seen minus `out_of_orderness` (None before any event)."""
        return None if self._max == -math.inf else _time(self._max - self.out_of_orderness)

    def process(self, event: Event) -> list[Event]:
        etype = event.type
        if etype in self.forward:
            return [event]
        if self.types is not None and etype not in self.types:
            return []
        key = self._key(event) if self._key is not None else None
        ts = (event.time - _EPOCH) // _US
        values = self._agg.values(event)
        self._events += 1
        late = self._add(key, ts, values, self._max - self.out_of_orderness)
        out = []
        if ts > self._max:
            self._max = ts
            heap = self._heap
            if heap and heap[0][0] <= ts - self.out_of_orderness:
                out = self._close(ts - self.out_of_orderness)
        if late:
            self._late += 1
            if self.on_late is not None:
                self.on_late(event)
            else:
                out.append(self._late_event(event))
        return out

    def flush(self, now: datetime | None = None) -> list[Event]:
        """Close every open window (end of stream): their results, in closing order (each
        at its window's end, whatever `now`)."""
        return self._close(math.inf)

    @property
    def stats(self) -> dict[str, int]:
        """Events windowed, late events, windows closed, windows open, keys with open ones."""
        return {"events": self._events, "late": self._late, "closed": self._closed,
                "open": self._open_count(), "keys": self._open_keys()}

    # -- subclass hooks --------------------------------------------------------------------

    def _add(self, key: Hashable, ts: int, values: list, watermark: float) -> bool:
        raise NotImplementedError

    def _close(self, watermark: float) -> list[Event]:
        raise NotImplementedError

    def _open_count(self) -> int:
        raise NotImplementedError

    def _open_keys(self) -> int:
        raise NotImplementedError

    # -- events ----------------------------------------------------------------------------

    def _result(self, key: Hashable, start: int, end: int, state: list) -> Event:
        self._closed += 1
        begin = _time(start).isoformat()
        finish = _time(end)
        data = {"key": key, "start": begin, "end": finish.isoformat(), "count": state[0]}
        data.update(self._agg.result(state))
        event_key = key if isinstance(key, (str, int)) and not isinstance(key, bool) else None
        return Event(self.result_type, self.source, data, key=event_key, time=finish,
                     id=f"window-{key}-{begin}")

    def _late_event(self, event: Event) -> Event:
        watermark = self.watermark
        data = {"event_id": event.id, "event_type": event.type, "key": event.key,
                "time": event.time.isoformat(),
                "watermark": watermark.isoformat() if watermark else None, "data": event.data}
        return Event(self.late_type, self.source, data, key=event.key, time=event.time,
                     id=f"late-{event.id}")


class _FixedWindows(_Windows, abstract=True):
    """Windows on a fixed grid (tumbling, hopping): per key, a dict start -> state."""

    def __init__(self, size: Duration, hop: Duration | None, aggregate: Any, **options: Any):
        super().__init__(aggregate, **options)
        self.size = _micros(size, "size")
        self.hop = self.size if hop is None else _micros(hop, "hop")
        self._open: dict[Hashable, dict[int, list]] = {}

    def _add(self, key: Hashable, ts: int, values: list, watermark: float) -> bool:
        size, hop, lateness = self.size, self.hop, self.allowed_lateness
        start = ts - ts % hop  # windows aligned on the Unix epoch, like pandas' origin="epoch"
        windows = self._open.get(key)
        late = False
        update = self._agg.update
        while start > ts - size:
            end = start + size
            if end + lateness <= watermark:
                late = True  # this window closed already; any earlier ones did too
                break
            if windows is None:
                windows = self._open[key] = {}
            state = windows.get(start)
            if state is None:
                state = windows[start] = self._agg.new()
                heapq.heappush(self._heap, (end + lateness, self._seq(), key, start))
            update(state, values)
            start -= hop
        return late

    def _close(self, watermark: float) -> list[Event]:
        heap, out = self._heap, []
        lateness = self.allowed_lateness
        while heap and heap[0][0] <= watermark:
            close_at, _, key, start = heapq.heappop(heap)
            windows = self._open[key]
            state = windows.pop(start)
            if not windows:
                del self._open[key]
            out.append(self._result(key, start, close_at - lateness, state))
        return out

    def _open_count(self) -> int:
        return sum(len(w) for w in self._open.values())

    def _open_keys(self) -> int:
        return len(self._open)


class TumblingWindow(_FixedWindows):
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


class HoppingWindow(_FixedWindows):
    """Per-key, overlapping event-time windows of a fixed `size`, one starting every `hop`.

    An event belongs to every window ``[start, start + size)`` that contains it (starts are
    multiples of `hop` since the Unix epoch). An event some of whose windows have closed is
    late (counted and routed once) and still counted in its windows that are open. The other
    parameters are those of `TumblingWindow`.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
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


class _Session:
    __slots__ = ("start", "last", "state", "close_at", "alive")

    def __init__(self, ts: int, state: list, close_at: int):
        self.start = ts
        self.last = ts
        self.state = state
        self.close_at = close_at
        self.alive = True


class SessionWindow(_Windows):
    """Per-key activity sessions: a session ends after `gap` without an event of its key.

    A session is ``[first event, last event + gap)``; it closes when the watermark reaches
    its end plus `allowed_lateness`. An out-of-order event that falls within `gap` of two
    open sessions merges them (so statistics must be mergeable: `Count`, `Sum`, `Min`, `Max`,
    `Mean`, `Var`). An event is late if it falls in or before a closed session of its key, or
    its own session would already be closed. The other parameters are those of
    `TumblingWindow`.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> from river import stats
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> clicks = [Event("click", "/web", {"ms": ms}, key="u1", time=t0 + timedelta(minutes=m),
    ...                 id=f"c{m}") for m, ms in [(0, 100), (3, 300), (20, 50), (22, 70)]]
    >>> op = SessionWindow("10min", {"clicks": stats.Count, "ms": stats.Mean})
    >>> out = [r for e in clicks for r in op.test(e)] + op.flush()
    >>> [(r.data["start"][11:16], r.data["end"][11:16], r.data["clicks"], r.data["ms"])
    ...  for r in out]
    [('00:00', '00:13', 2, 200.0), ('00:20', '00:32', 2, 60.0)]
    """

    def __init__(self, gap: Duration, aggregate: Any, **options: Any) -> None:
        super().__init__(aggregate, **options)
        self.gap = _micros(gap, "gap")
        self._open: dict[Hashable, list[_Session]] = {}
        self._closed_until: dict[Hashable, int] = {}  # per key: end of its last closed session

    def __repr__(self) -> str:
        return f"SessionWindow(gap={timedelta(microseconds=self.gap)}, names={self._agg.names})"

    def _add(self, key: Hashable, ts: int, values: list, watermark: float) -> bool:
        gap, lateness = self.gap, self.allowed_lateness
        if ts + gap + lateness <= watermark or ts < self._closed_until.get(key, -math.inf):
            return True
        sessions = self._open.get(key)
        if sessions is None:
            sessions = self._open[key] = []
        hits = [s for s in sessions if s.start - gap < ts < s.last + gap]
        if not hits:
            target = _Session(ts, self._agg.new(), ts + gap + lateness)
            sessions.append(target)
            heapq.heappush(self._heap, (target.close_at, self._seq(), key, target))
        else:
            target = hits[0]
            for other in hits[1:]:  # this event bridges sessions: one session now
                self._agg.merge(target.state, other.state)
                target.start = min(target.start, other.start)
                target.last = max(target.last, other.last)
                other.alive = False
                sessions.remove(other)
            target.start = min(target.start, ts)
            target.last = max(target.last, ts)
            target.close_at = target.last + gap + lateness
        self._agg.update(target.state, values)
        return False

    def _close(self, watermark: float) -> list[Event]:
        heap, out, gap = self._heap, [], self.gap
        while heap and heap[0][0] <= watermark:
            close_at, _, key, session = heapq.heappop(heap)
            if not session.alive:
                continue
            if session.close_at > close_at:  # extended since it was queued: queue it again
                heapq.heappush(heap, (session.close_at, self._seq(), key, session))
                continue
            session.alive = False
            sessions = self._open[key]
            sessions.remove(session)
            if not sessions:
                del self._open[key]
            end = session.last + gap
            if end > self._closed_until.get(key, -math.inf):
                self._closed_until[key] = end
            out.append(self._result(key, session.start, end, session.state))
        return out

    def _open_count(self) -> int:
        return sum(len(s) for s in self._open.values())

    def _open_keys(self) -> int:
        return len(self._open)
