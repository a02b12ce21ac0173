"""Upcasters: old event versions rewritten to the current schema when they are read.

An event carries its schema version in the CloudEvents extension attribute ``schemaversion``
(an int; 1 when absent). The store never rewrites history: it applies the registered upcasters
on read, chaining v1 -> v2 -> v3, so code that folds events only ever sees the newest shape.

>>> from datetime import datetime, timezone
>>> from edalab import Event
>>> up = Upcasters()
>>> @up.register("card.flagged", 1)
... def reason_added(event):
...     return event.replace(id=event.id, data={**event.data, "reason": "unknown"})
>>> @up.register("card.flagged", 2)
... def score_in_percent(event):
...     return event.replace(id=event.id, data={**event.data, "score": event.data["score"] * 100})
>>> old = Event("card.flagged", "/cards", {"score": 0.9}, id="f1",
...             time=datetime(2024, 1, 1, tzinfo=timezone.utc))
>>> new = up.upcast(old)
>>> new.data, schema_version(new), new.id
({'score': 90.0, 'reason': 'unknown'}, 3, 'f1')
>>> up.latest("card.flagged")
3
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from edalab.events import Event

__all__ = ["SCHEMA_VERSION", "Upcasters", "schema_version", "with_schema_version"]

#: The extension attribute that holds an event's schema version.
SCHEMA_VERSION = "schemaversion"
Upcaster = Callable[[Event], Event]


def schema_version(event: Event) -> int:
    """The event's schema version (the ``schemaversion`` extension; 1 when absent)."""
    ext = event.extensions
    return ext.get(SCHEMA_VERSION, 1) if ext else 1


def with_schema_version(event: Event, version: int) -> Event:
    """A copy of `event` (same id) marked with schema `version`."""
    return event.replace(id=event.id, extensions={**(event.extensions or {}),
                                                  SCHEMA_VERSION: version})


class Upcasters:
    """A registry ``{(type, from_version): fn(event) -> event}`` applied on read.

    Parameters
    ----------
    upcasters
        Initial entries: ``{(event_type, from_version): fn}``. Each `fn` takes an event of
        schema `from_version` and returns the same fact in schema ``from_version + 1`` (it may
        also rename the type); the registry stamps the new ``schemaversion`` itself.
    """

    def __init__(self, upcasters: Mapping[tuple[str, int], Upcaster] | None = None) -> None:
        self._fns: dict[tuple[str, int], Upcaster] = {}
        for (event_type, version), fn in (upcasters or {}).items():
            self.add(event_type, version, fn)

    def add(self, event_type: str, from_version: int, fn: Upcaster) -> None:
        """Register `fn` to lift `event_type` events from `from_version` to the next."""
        if not isinstance(event_type, str) or not event_type:
            raise TypeError(f"event_type must be a non-empty string, got {event_type!r}")
        if not isinstance(from_version, int) or isinstance(from_version, bool) \
                or from_version < 1:
            raise ValueError(f"from_version must be an int >= 1, got {from_version!r}")
        if not callable(fn):
            raise TypeError(f"upcaster for {event_type!r} v{from_version} is not callable")
        key = (event_type, from_version)
        if key in self._fns:
            raise ValueError(f"an upcaster for {event_type!r} v{from_version} is already "
                             "registered")
        self._fns[key] = fn

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator form of `add`."""
        def decorate(fn: Upcaster) -> Upcaster:
            self.add(event_type, from_version, fn)
            return fn
        return decorate

    @property
    def types(self) -> frozenset[str]:
        """Event types with at least one upcaster (events of other types pass untouched)."""
        return frozenset(t for t, _ in self._fns)

    def latest(self, event_type: str) -> int:
        """The schema version `event_type` events have after upcasting from version 1."""
        version = 1
        while (event_type, version) in self._fns:
            version += 1
        return version

    def upcast(self, event: Event) -> Event:
        """`event` lifted through every registered step, v(n) -> v(n+1) -> ..."""
        fns = self._fns
        version = schema_version(event)
        while (fn := fns.get((event.type, version))) is not None:
            lifted = fn(event)
            if not isinstance(lifted, Event):
                raise TypeError(f"upcaster {getattr(fn, '__name__', fn)!r} for {event.type!r} "
                                f"v{version} returned {type(lifted).__name__}, not an Event")
            version += 1
            event = with_schema_version(lifted, version)
        return event

    def __len__(self) -> int:
        return len(self._fns)

    def __repr__(self) -> str:
        steps = ", ".join(f"{t} v{v}" for t, v in sorted(self._fns))
        return f"Upcasters({steps})"
