"""`OutboxRelay`: publishes an event store's outbox to a broker (the transactional outbox).

A writer that changes state and must tell others cannot do both atomically when the state is
in a database and the message goes to a broker: a crash between the two either loses the
message or sends one for a change that never happened. The outbox pattern writes the outgoing
events into the store in the same transaction as the state change
(``store.append(stream, events, version, outbox=[(topic, event), ...])``); the relay then
publishes them, in order, and marks them sent.

Delivery is at-least-once: a crash after publishing and before marking publishes those events
again on restart, with the same ids, so the consumer deduplicates by event id
(`edalab.resilience.MemoryIdempotencyStore` or `SqliteIdempotencyStore`). Run one relay per
store: two relays would publish the same entries twice and could interleave their order.

>>> from edalab import Event, MemoryBroker
>>> from edalab.patterns.eventstore import MemoryEventStore
>>> store, broker = MemoryEventStore(), MemoryBroker()
>>> broker.create_topic("payments")
>>> paid = Event("order.paid", "/shop", {"order": 7}, key="o7")
>>> charge = Event("payment.requested", "/shop", {"order": 7}, key="o7", id="pay-7")
>>> _ = store.append("order-7", [paid], 0, outbox=[("payments", charge)])
>>> relay = OutboxRelay(store, broker)
>>> relay.run_once(), relay.run_once(), [r.event.id for r in broker.read("payments")]
(1, 0, ['pay-7'])
"""

from __future__ import annotations

import threading
import time
from itertools import groupby

from edalab.brokers.base import Broker
from edalab.patterns.eventstore.base import EventStore

__all__ = ["OutboxRelay"]


class OutboxRelay:
    """Publish `store`'s unsent outbox entries to `broker` in order, then mark them sent.

    Parameters
    ----------
    store
        The event store whose outbox is relayed (`SqliteEventStore` for durability).
    broker
        Where the entries are published, each to its own topic.
    batch_size
        Most entries read and published per `run_once`.
    interval
        Seconds `run` sleeps when the outbox is empty before looking again.
    """

    def __init__(self, store: EventStore, broker: Broker, *, batch_size: int = 500,
                 interval: float = 0.05) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if not isinstance(interval, int | float) or not interval > 0:
            raise ValueError(f"interval must be a number of seconds > 0, got {interval!r}")
        self.store = store
        self.broker = broker
        self.batch_size = batch_size
        self.interval = interval
        self.published = 0

    def run_once(self) -> int:
        """Publish up to `batch_size` unsent entries, oldest first; returns how many.

        Consecutive entries of one topic go out as one ``publish_many``, and are marked
        sent as soon as it returns: a failure later in the batch republishes only the rest.
        """
        entries = self.store.pending(self.batch_size)
        for topic, group in groupby(entries, key=lambda entry: entry.topic):
            run = list(group)
            self.broker.publish_many(topic, [entry.event for entry in run])
            self.store.mark_sent(run[-1].seq)
            self.published += len(run)
        return len(entries)

    def run(self, stop: threading.Event | None = None, *, idle: float | None = None,
            timeout: float | None = None) -> int:
        """Relay until `stop` is set, the outbox stays empty for `idle` seconds, or `timeout`
        seconds pass; returns how many entries were published."""
        start = last = time.monotonic()
        total = 0
        while stop is None or not stop.is_set():
            n = self.run_once()
            total += n
            now = time.monotonic()
            if n:
                last = now
            elif idle is not None and now - last >= idle:
                break
            if timeout is not None and now - start >= timeout:
                break
            if n < self.batch_size:  # caught up: wait for the writers
                if stop is None:
                    time.sleep(self.interval)
                elif stop.wait(self.interval):
                    break
        return total

    def __repr__(self) -> str:
        return f"OutboxRelay({self.store!r}, {self.broker!r}, batch_size={self.batch_size})"
