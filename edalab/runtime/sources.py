"""How `App` feeds its sources: take the next events (merged by event time when there are
several) and publish them to their topics, dead-lettering one no broker can carry."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from itertools import islice, repeat
from operator import attrgetter
from typing import Any

from edalab.brokers.base import Broker, dead_letter_topic, unpublishable
from edalab.events import Event, EventError
from edalab.runtime.clock import Clock
from edalab.runtime.outputs import write_error

__all__ = ["SourcesMixin"]

_event_time = attrgetter("time")


class SourcesMixin:
    """`App`'s source feeding (see `App.source`)."""

    broker: Broker
    clock: Clock
    _sources: list[tuple[str, Iterable[Event]]]

    def _feeder(self) -> Callable[[int], list] | None:
        """``take(n)``: the next n source items. One source gives its events (a list is
        sliced, not iterated); several give (topic, event) pairs merged by event time."""
        if not self._sources:
            return None
        if len(self._sources) == 1:
            events = self._sources[0][1]
            if isinstance(events, list):
                position = 0

                def take_slice(n: int) -> list:
                    nonlocal position
                    position += n
                    return events[position - n:position]
                return take_slice
            iterator: Iterator[Any] = iter(events)
        else:
            tagged = [zip(repeat(topic), events) for topic, events in self._sources]
            iterator = heapq.merge(*tagged, key=lambda item: item[1].time)
        return lambda n: list(islice(iterator, n))

    def _publish(self, chunk: list, virtual: bool) -> None:
        if len(self._sources) == 1:
            self._publish_source(self._sources[0][0], chunk)
            events = chunk
        else:
            events = [e for _, e in chunk]
            start = 0
            for i in range(1, len(chunk) + 1):  # consecutive runs of one topic, in order
                if i == len(chunk) or chunk[i][0] != chunk[start][0]:
                    self._publish_source(chunk[start][0], events[start:i])
                    start = i
        if virtual:
            self.clock.advance(max(map(_event_time, events)))

    def _publish_source(self, topic: str, events: list[Event]) -> None:
        """Publish source events; one no broker can carry (its data is not JSON) goes to the
        topic's dead-letter topic as `unpublishable`, and the rest are published."""
        while events:
            try:
                self.broker.publish_many(topic, events)
                return
            except EventError as exc:
                if exc.index is None:
                    raise
                i = exc.index  # nothing of the batch was appended: the ones before it are fine
                if i:
                    self.broker.publish_many(topic, events[:i])
                self.broker.publish(dead_letter_topic(topic), unpublishable(
                    events[i], topic, write_error(events[i], exc)))
                events = events[i + 1:]
