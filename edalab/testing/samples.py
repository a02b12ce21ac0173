"""Numbered sample events for the conformance suites: easy to tell apart by id, in event-time
order, one second apart.

>>> e = numbered_event(3)
>>> e.id, e.key, e.data, e.time.isoformat()
('e3', 'k', {'i': 3}, '2024-01-01T00:00:03+00:00')
>>> [e.id for e in numbered_events(1, 2)]
['e1', 'e2']
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from edalab.events import Event

__all__ = ["T0", "numbered_event", "numbered_events"]

#: The event time of event number 0.
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def numbered_event(i: int, key: str | None = "k", type: str = "test.event",
                   **attributes: Any) -> Event:
    """Event number `i`: id ``e{i}``, data ``{"i": i}``, event time `i` seconds after `T0`;
    other `Event` attributes as keywords."""
    return Event(type, "/tests", {"i": i}, key=key, id=f"e{i}",
                 time=T0 + timedelta(seconds=i), **attributes)


def numbered_events(*numbers: int) -> list[Event]:
    """The events with these `numbers` (see `numbered_event`), in the order given."""
    return [numbered_event(i) for i in numbers]
