"""`SessionWindow`: per-key activity sessions that end after a gap without an event."""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable
from datetime import timedelta
from typing import Any

from edalab.events import Event
from edalab.ml.windows.base import Duration, Windows, duration_micros

__all__ = ["SessionWindow"]


class _Session:
    __slots__ = ("start", "last", "state", "close_at", "alive")

    def __init__(self, ts: int, state: list, close_at: int):
        self.start = ts
        self.last = ts
        self.state = state
        self.close_at = close_at
        self.alive = True


class SessionWindow(Windows):
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

    _state_fields = ("_max", "_heap", "_open", "_closed_until")

    def __init__(self, gap: Duration, aggregate: Any, **options: Any) -> None:
        super().__init__(aggregate, **options)
        self.gap = duration_micros(gap, "gap")
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
