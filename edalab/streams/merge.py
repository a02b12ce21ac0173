"""`merge`: several event streams as one, in event-time order.

An online learner with delayed feedback reads two streams at once: the transactions, and their
labels a week later. Merged by time, each label comes after every transaction made before it
was known, which is the order a live system would see them in.

>>> from edalab.streams import label_events, transaction_events, transactions
>>> df = transactions(customers=20, terminals=40, days=10, seed=1)
>>> events = list(merge(transaction_events(df), label_events(df, delay="7D")))
>>> len(events) == 2 * len(df), events[0].type, events[-1].type
(True, 'card.transaction', 'fraud.label')
>>> all(a.time <= b.time for a, b in zip(events, events[1:]))
True
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import datetime
from operator import attrgetter

from edalab.events import Event

__all__ = ["merge"]

_TIME = attrgetter("time")


def merge(*streams: Iterable[Event]) -> Iterator[Event]:
    """Merge event streams, each in event-time order, into one stream in event-time order.

    Lazy (one event of each stream in memory at a time) and stable: events with the same time
    keep their order within a stream, and between streams the one passed first comes first
    (a transaction before a label stamped the same instant).

    Parameters
    ----------
    *streams
        Iterables of `Event`, each sorted by ``time``.

    Raises
    ------
    ValueError
        While iterating, when a stream goes back in time (naming the stream and the event):
        its events would otherwise come out of order without a word.
    TypeError
        When a stream yields something other than an `Event`.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> def at(hour, type):
    ...     return Event(type, "/doc", None, id=f"{type}{hour}",
    ...                  time=datetime(2024, 1, 1, hour, tzinfo=timezone.utc))
    >>> [(e.time.hour, e.type) for e in merge([at(1, "a"), at(3, "a")], [at(1, "b"), at(2, "b")])]
    [(1, 'a'), (1, 'b'), (2, 'b'), (3, 'a')]
    >>> try:
    ...     list(merge([at(2, "a"), at(1, "a")]))
    ... except ValueError as exc:
    ...     print(exc)
    stream 0 is not in event-time order: event 'a1' at 2024-01-01T01:00:00+00:00 comes after \
one at 2024-01-01T02:00:00+00:00
    """
    return heapq.merge(*(_checked(s, i) for i, s in enumerate(streams)), key=_TIME)


def _checked(stream: Iterable[Event], index: int) -> Iterator[Event]:
    """`stream` as it is, raising as soon as an event is earlier than the one before it."""
    last: datetime | None = None
    for event in stream:
        try:
            time = event.time
        except AttributeError:
            raise TypeError(f"stream {index} yielded a {type(event).__name__}, "
                            f"not an Event") from None
        if last is not None and time < last:
            raise ValueError(f"stream {index} is not in event-time order: event {event.id!r} "
                             f"at {time.isoformat()} comes after one at {last.isoformat()}")
        last = time
        yield event
