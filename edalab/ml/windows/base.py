"""What tumbling, hopping and session windows share: durations, keys, the watermark, closing
in order, late events and the result events; and the fixed grid tumbling and hopping share."""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from edalab.durations import parse_duration
from edalab.events import Event
from edalab.ml.anomaly import KeyOption, key_function
from edalab.ml.windows.aggregation import Value, WindowStats
from edalab.operators.base import Operator

__all__ = ["Duration", "FixedWindows", "Windows", "duration_micros"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

Duration = timedelta | float | int | str


def duration_micros(value: Duration, name: str, *, positive: bool = True) -> int:
    """A duration (timedelta, seconds, or a pandas string such as ``"15min"``) in µs."""
    us = round(parse_duration(value, name=name, number_unit="s",
                              allow_zero=not positive).value / 1000)
    if positive and us == 0:  # less than half a microsecond
        raise ValueError(f"{name} must be a duration > 0, got {value!r}")
    return us


def _time(us: float) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


class Windows(Operator, abstract=True):
    """What tumbling, hopping and session windows share: keys, watermark, closing, routing."""

    #: The attributes that hold what the operator has seen (its `snapshot`).
    _state_fields: ClassVar[tuple[str, ...]] = ("_max", "_heap", "_open")

    def __init__(self, aggregate: Any, *, key: KeyOption = True,
                 value: Value | dict[str, Value] | None = None,
                 out_of_orderness: Duration = 0, allowed_lateness: Duration = 0,
                 on_late: Callable[[Event], Any] | None = None,
                 types: Iterable[str] | None = None, forward: Iterable[str] = (),
                 result_type: str = "window.result",
                 late_type: str = "window.late", source: str = "/edalab/ml/windows") -> None:
        self._agg = WindowStats(aggregate, value)
        self._key = key_function(key)
        self.out_of_orderness = duration_micros(out_of_orderness, "out_of_orderness",
                                               positive=False)
        self.allowed_lateness = duration_micros(allowed_lateness, "allowed_lateness",
                                               positive=False)
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

    def snapshot(self) -> dict[str, Any]:
        """The open windows and the watermark (live objects), for `edalab.state`."""
        return {name: getattr(self, name) for name in self._state_fields}

    def restore(self, state: dict[str, Any] | None) -> None:
        """Go on from a `snapshot` (None: no window open, no event seen)."""
        if state is None:
            state = {"_max": -math.inf, "_heap": [], "_open": {}, "_closed_until": {}}
        for name in self._state_fields:
            setattr(self, name, state[name])

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


class FixedWindows(Windows, abstract=True):
    """Windows on a fixed grid (tumbling, hopping): per key, a dict start -> state."""

    def __init__(self, size: Duration, hop: Duration | None, aggregate: Any, **options: Any):
        super().__init__(aggregate, **options)
        self.size = duration_micros(size, "size")
        self.hop = self.size if hop is None else duration_micros(hop, "hop")
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
