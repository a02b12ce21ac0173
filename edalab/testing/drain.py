"""`drain`: poll a consumer until it has nothing more (the conformance suites' reader)."""

from __future__ import annotations

from edalab.brokers import Consumer, Record

__all__ = ["drain"]


def drain(consumer: Consumer, ack: bool = True, max_events: int = 100,
          wait: float = 1.0) -> list[Record]:
    """Poll `consumer` until a poll comes back empty; the records, acked unless ``ack=False``.

    An empty poll while the group's lag says records are still to come (a networked broker
    answers a poll with what has arrived so far, which on a loaded machine may be nothing
    yet) is tried once more, waiting up to `wait` seconds.

    >>> from edalab import MemoryBroker
    >>> from edalab.testing.samples import numbered_event
    >>> with MemoryBroker() as broker:
    ...     broker.create_topic("t")
    ...     _ = broker.publish_many("t", [numbered_event(i) for i in range(3)])
    ...     [r.event.id for r in drain(broker.subscribe("t", group="g"))]
    ['e0', 'e1', 'e2']
    """
    out: list[Record] = []
    while True:
        batch = consumer.poll(max_events)
        if not batch and sum(consumer.lag().values()) > (0 if ack else len(out)):
            batch = consumer.poll(max_events, wait)
        if not batch:
            return out
        out += list(batch)
        if ack:
            consumer.ack(batch)
