"""`Handler`: a function registered on a topic, and `as_events`, what it returned as events."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from edalab.brokers.base import Consumer
from edalab.errors import BatchFailure, EdalabError
from edalab.events import Event
from edalab.runtime.stats import HandlerStats

__all__ = ["Handler", "HandlerError", "Output", "as_events"]

Output = str | Callable[[Event], str] | None


class HandlerError(EdalabError, TypeError):
    """A handler returned something that is not an event, or events with nowhere to go."""


class Handler:
    """A registered handler: the function, where it reads, where its events go."""

    def __init__(self, fn: Callable[[Any], Any], topic: str, group: str, output: Output,
                 max_attempts: int, batch: bool = False):
        self.fn = fn
        self.batch = batch
        self.name = getattr(fn, "__name__", repr(fn))
        self.topic = topic
        self.group = group
        self.output = output
        self.max_attempts = max_attempts
        self.consumer: Consumer | None = None
        self.guard: Any = None  # a runtime.guard.Guard when resilience options are set
        self.stats = HandlerStats(self.name, topic, group)

    def __repr__(self) -> str:
        return (f"Handler({self.name!r}, topic={self.topic!r}, group={self.group!r}, "
                f"output={self.output!r})")

    def __call__(self, event: Event) -> Any:
        if not self.batch:
            return self.fn(event)
        try:
            return self.fn([event])
        except BatchFailure as exc:  # a batch of one failed at its event: that event's error
            raise (exc.__cause__ or exc) from None

    def test(self, event: Event) -> list[Event]:
        """Run one event through the handler with no broker: the events it would emit."""
        return as_events(self(event), self.name)

    def flush(self, now: datetime) -> list[Event]:
        """What the handler still holds when the stream ends: its function's ``flush(now)``
        (an operator's), normalised; [] for a function that has none."""
        if hasattr(self.guard, "flush"):  # a stateful operator: each partition's state
            return self.guard.flush(now)
        flush = getattr(self.fn, "flush", None)
        return [] if flush is None else as_events(flush(now), self.name)


_EVENT_ONLY = frozenset({Event})


def as_events(result: Any, name: str) -> list[Event]:
    """What a handler returned (None, an Event or an iterable of them) as a list of events;
    `HandlerError` naming the handler for anything else.

    >>> from edalab import Event
    >>> as_events(None, "h"), len(as_events(Event("t", "/s", 1), "h"))
    ([], 1)
    >>> as_events("text", "h")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    edalab.runtime.handler.HandlerError: handler 'h' returned str; return None, an Event or ...
    """
    if result is None:
        return []
    if result.__class__ is Event:
        return [result]
    if isinstance(result, Event):
        return [result]
    if isinstance(result, (str, bytes, dict)) or not isinstance(result, Iterable):
        raise HandlerError(f"handler {name!r} returned {type(result).__name__}; return None, "
                           "an Event or an iterable of Events")
    events = list(result)
    if set(map(type, events)) <= _EVENT_ONLY:  # one C-level pass, the common case
        return events
    for item in events:
        if not isinstance(item, Event):
            raise HandlerError(f"handler {name!r} returned a {type(item).__name__} among its "
                               "events; every item must be an Event")
    return events
