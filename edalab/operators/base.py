"""`Operator`: the one contract of edalab's stream operators.

An operator is a small stateful object with a clear lifecycle (river's estimators for the
parameters and `repr`, bytewax's ``StatefulLogic`` for the lifecycle):

- ``process(event)``: the per-event path, the events it emits (a list);
- ``process_batch(events)``: the batch path (default: `process` on each event); an operator
  with a real batch path overrides it, and raises `edalab.errors.BatchFailure` when a
  batch fails part-way;
- ``stats``: a plain dict of counters (numbers) that change as events are processed;
- ``flush(now)``: what the operator still holds when the stream ends (windows still open, a
  metric's last days); `App` calls it when its sources drain and publishes what it returns;
- ``test(event_or_events)``: one event or many through the operator with no broker.

An operator is also an `App` handler: ``app.handler(topic, output=...)(op)`` calls it with
one event (it returns None, an event or a list, the handler protocol), and with
``batch=True`` with the list of a polled batch (the batch path).

>>> from datetime import datetime, timezone
>>> from edalab import App, Event
>>> class Doubler(Operator):
...     def __init__(self):
...         self.seen = 0
...         self.__name__ = "doubler"
...     def __repr__(self):
...         return "Doubler()"
...     def process(self, event):
...         self.seen += 1
...         return [event.replace(type="doubled", data=2 * event.data)]
...     @property
...     def stats(self):
...         return {"seen": self.seen}
>>> op = Doubler()
>>> [e.data for e in op.test([Event("n", "/doc", 1), Event("n", "/doc", 2)])], op.stats
([2, 4], {'seen': 2})
>>> app = App()
>>> _ = app.handler("n", output="out")(op)
>>> app.source("n", [Event("n", "/doc", 5)])
>>> int(app.run().to_frame().loc["doubler", "events_out"])
1
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from edalab.events import Event
from edalab.runtime.handler import as_events

__all__ = ["Operator"]


class Operator:
    """Base class of stream operators: implement `process` or `process_batch` (or both).

    Set ``self.__name__`` to name the operator's handler (and default consumer group) in an
    `App`. A base class that implements neither path is declared with
    ``class Base(Operator, abstract=True)``.
    """

    _abstract: ClassVar[bool]  # set on each subclass by __init_subclass__

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._abstract = abstract  # a base of operators, not one (`check_operator` skips it)
        if not abstract and cls.process is Operator.process \
                and cls.process_batch is Operator.process_batch:
            raise TypeError(f"{cls.__name__} must implement process() or process_batch() "
                            "(or be declared with abstract=True)")

    def process(self, event: Event) -> list[Event]:
        """Handle one event: the events it emits."""
        return self.process_batch([event])

    def process_batch(self, events: list[Event]) -> list[Event]:
        """Handle a batch of events in order: the events they emit, in order."""
        out: list[Event] = []
        process = self.process
        for event in events:
            out += process(event)
        return out

    @property
    def stats(self) -> Mapping[str, Any]:
        """Counters of what the operator has done."""
        return {}

    def flush(self, now: datetime | None = None) -> list[Event]:
        """What the operator still holds at the end of the stream, as events (at `now`, the
        app's clock, where an event needs a time); afterwards it holds nothing."""
        return []

    def test(self, events: Event | Iterable[Event]) -> list[Event]:
        """Run one event, or several in order, through the operator with no broker (state
        kept): the events it emits."""
        name = getattr(self, "__name__", type(self).__name__)
        if isinstance(events, Event):
            return as_events(self.process(events), name)
        out: list[Event] = []
        for event in events:
            out += as_events(self.process(event), name)
        return out

    def __call__(self, event: Event | list[Event]) -> Event | list[Event] | None:
        """The `App` handler protocol: an event gives None, an event or a list; a list (a
        batch handler's call) gives the batch path's list."""
        if event.__class__ is list:
            return self.process_batch(event)
        out = self.process(event)  # type: ignore[arg-type]  # not a list: one event
        return out[0] if len(out) == 1 else out or None
