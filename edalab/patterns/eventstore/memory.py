"""`MemoryEventStore`: the event store in process memory (tests, notebooks, the fast path).

Thread-safe: one lock orders appends, so positions are gap-free in commit order, and a
condition wakes catch-up subscriptions in other threads when events arrive.

>>> from datetime import datetime, timezone
>>> from edalab import Event
>>> from edalab.patterns.eventstore import ConcurrencyError
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> store = MemoryEventStore()
>>> opened = Event("account.opened", "/cards", {"limit": 500}, time=t0)
>>> [(s.version, s.position) for s in store.append("card-1", [opened], expected_version=0)]
[(1, 1)]
>>> try:
...     store.append("card-1", [opened], expected_version=0)
... except ConcurrencyError as exc:
...     print(exc.expected, exc.actual)
0 1
>>> store.version("card-1"), store.head(), [s.event.type for s in store.read("card-1")]
(1, 1, ['account.opened'])
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_right
from datetime import UTC, datetime
from operator import attrgetter

from edalab.events import Event
from edalab.patterns.eventstore.base import (
    ConcurrencyError,
    EventStore,
    OutboxEntry,
    Snapshot,
    StoredEvent,
)
from edalab.patterns.eventstore.rows import check_data
from edalab.patterns.eventstore.upcasting import Upcasters

__all__ = ["MemoryEventStore"]

_seq = attrgetter("seq")


class MemoryEventStore(EventStore):
    """Streams of events in memory, with a global order.

    Events are kept as the (immutable) `Event` objects; each one's data is checked to be
    JSON-serialisable on append, as the SQLite store needs it to be.

    Parameters
    ----------
    upcasters
        Applied on read (see `Upcasters`).
    """

    def __init__(self, upcasters: Upcasters | None = None) -> None:
        super().__init__(upcasters)
        self._all: list[StoredEvent] = []
        self._streams: dict[str, list[StoredEvent]] = {}
        self._snapshots: dict[str, tuple[int, str, datetime]] = {}
        self._outbox: list[OutboxEntry] = []  # the entries not yet sent, oldest first
        self._outbox_seq = 0
        self._lock = threading.Lock()
        self._appended = threading.Condition(self._lock)

    def _append(self, stream_id: str, events: list[Event], expected_version: int | None,
                outbox: list[tuple[str, Event]] | None = None) -> list[StoredEvent]:
        check_data(events)  # raises EventError when the data cannot be stored as JSON
        if outbox:
            check_data([e for _, e in outbox])
        now = datetime.now(UTC)
        with self._lock:
            stream = self._streams.get(stream_id)
            current = len(stream) if stream else 0
            if expected_version is not None and expected_version != current:
                raise ConcurrencyError(stream_id, expected_version, current)
            if outbox:
                seq = self._outbox_seq
                self._outbox += [OutboxEntry(seq + i, topic, e, now)
                                 for i, (topic, e) in enumerate(outbox, 1)]
                self._outbox_seq = seq + len(outbox)
            if not events:
                return []
            head = len(self._all)
            stored = [StoredEvent(stream_id, current + i, head + i, e, now)
                      for i, e in enumerate(events, 1)]
            if stream is None:
                self._streams[stream_id] = stored
            else:
                stream += stored
            self._all += stored
            self._appended.notify_all()
        return list(stored)

    def _read(self, stream_id: str, from_version: int,
              to_version: int | None) -> list[StoredEvent]:
        with self._lock:
            stream = self._streams.get(stream_id, ())
            return list(stream[from_version - 1:to_version])

    def _read_all(self, from_position: int, limit: int | None) -> list[StoredEvent]:
        with self._lock:
            stop = None if limit is None else from_position - 1 + limit
            return self._all[from_position - 1:stop]

    def version(self, stream_id: str) -> int:
        with self._lock:
            return len(self._streams.get(stream_id, ()))

    def head(self) -> int:
        return len(self._all)

    def streams(self) -> list[str]:
        with self._lock:
            return list(self._streams)

    def wait(self, position: int, timeout: float | None) -> bool:
        with self._appended:
            return self._appended.wait_for(lambda: len(self._all) >= position, timeout)

    def _pending(self, limit: int | None) -> list[OutboxEntry]:
        with self._lock:
            return self._outbox[:limit]

    def _mark_sent(self, seq: int) -> int:
        with self._lock:
            n = bisect_right(self._outbox, seq, key=_seq)  # the entries are in seq order
            del self._outbox[:n]
        return n

    def _save_snapshot(self, stream_id: str, version: int, state_json: str) -> None:
        with self._lock:
            self._snapshots[stream_id] = (version, state_json, datetime.now(UTC))

    def _load_snapshot(self, stream_id: str) -> Snapshot | None:
        with self._lock:
            found = self._snapshots.get(stream_id)
        if found is None:
            return None
        version, text, at = found
        # A fresh dict each time: a caller mutating it cannot change the stored snapshot.
        return Snapshot(stream_id, version, json.loads(text), at)

    def __repr__(self) -> str:
        return f"MemoryEventStore(streams={len(self._streams)}, head={self.head()})"

