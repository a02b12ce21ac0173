"""Catch-up subscriptions: replay an event store's history, then follow live appends.

A subscription is a cursor over the global order. `poll` returns the next events (waiting up to
`timeout` seconds when there are none); iterating yields them one by one. Because positions are
gap-free and in commit order, a subscriber that has seen position ``p`` has seen everything up
to ``p``: its checkpoint is one number.

>>> from datetime import datetime, timezone
>>> from edalab import Event
>>> from edalab.patterns.eventstore import MemoryEventStore
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> store = MemoryEventStore()
>>> _ = store.append("a", [Event("x", "/t", i, time=t0) for i in range(3)], 0)
>>> sub = store.subscribe(timeout=0)
>>> [s.event.data for s in sub]              # history, then stop: nothing new within timeout
[0, 1, 2]
>>> _ = store.append("b", [Event("x", "/t", 9, time=t0)], 0)
>>> [(s.stream_id, s.position) for s in sub.poll()], sub.checkpoint, sub.lag()
([('b', 4)], 4, 0)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edalab.patterns.eventstore.base import EventStore, StoredEvent

__all__ = ["CatchUpSubscription"]

#: Longest single wait, so that `close()` from another thread ends a blocked iteration soon.
_WAIT_SLICE = 0.05


class CatchUpSubscription:
    """A cursor over `store`'s global order, starting at `from_position`.

    Parameters
    ----------
    store
        Any `EventStore`. Works across threads (memory) and across connections and processes
        (SQLite: new appends are found by polling the head position).
    from_position
        The first global position to deliver.
    batch_size
        Events read per round trip.
    timeout
        How long iteration waits for a new event before it stops; None follows forever (until
        `close`).
    """

    def __init__(self, store: EventStore, from_position: int = 1, *, batch_size: int = 500,
                 timeout: float | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must be >= 0 or None, got {timeout}")
        self.store = store
        self.position = from_position
        self.batch_size = batch_size
        self.timeout = timeout
        self.closed = False

    @property
    def checkpoint(self) -> int:
        """The last global position delivered (``from_position - 1`` before any)."""
        return self.position - 1

    def lag(self) -> int:
        """Events committed to the store but not yet delivered by this subscription."""
        return max(0, self.store.head() - self.checkpoint)

    def poll(self, timeout: float | None = 0.0, max_events: int | None = None
             ) -> list[StoredEvent]:
        """The next events (at most `max_events`, default `batch_size`); waits up to `timeout`
        seconds (None: until one arrives or the subscription is closed) when there are none."""
        batch = self._fetch(timeout, self.batch_size if max_events is None else max_events)
        if batch:
            self.position = batch[-1].position + 1
        return batch

    def __iter__(self) -> Iterator[StoredEvent]:
        while not self.closed:
            batch = self._fetch(self.timeout, self.batch_size)
            if not batch:
                return
            for stored in batch:
                # Advance per event: a consumer that stops midway resumes at the next one.
                self.position = stored.position + 1
                yield stored

    def _fetch(self, timeout: float | None, limit: int) -> list[StoredEvent]:
        batch = self.store.read_all(self.position, limit)
        if batch or (timeout is not None and timeout <= 0):
            return batch
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.closed:
            left = _WAIT_SLICE if deadline is None else min(_WAIT_SLICE,
                                                            deadline - time.monotonic())
            if left <= 0:
                break
            if self.store.wait(self.position, left):
                return self.store.read_all(self.position, limit)
        return []

    def close(self) -> None:
        """Stop: a blocked iteration ends within about 50 ms."""
        self.closed = True

    def __repr__(self) -> str:
        return f"CatchUpSubscription(checkpoint={self.checkpoint}, closed={self.closed})"
