"""Aggregates and repositories: state as a fold over events, commands that emit events.

An `Aggregate` subclass declares how each event type changes its state (methods decorated
with `applies`) and offers command methods that validate against the current state and
*return* new events, without changing anything. A `Repository` loads an aggregate (latest
snapshot plus the events after it) and saves a command's events with the loaded version as
the expected version, so two writers that loaded the same version cannot both win.

>>> from datetime import datetime, timezone
>>> from edalab.patterns.eventstore import MemoryEventStore
>>> class Counter(Aggregate):
...     source = "/counters"
...     def initial_state(self):
...         return {"total": 0}
...     @applies("counter.added")
...     def _added(self, event):
...         self.state["total"] += event.data["n"]
...     def add(self, n, at=None):
...         if n <= 0:
...             raise CommandError(f"add needs a positive number, got {n}")
...         return [self.event("counter.added", {"n": n}, at)]
>>> repo = Repository(MemoryEventStore(), Counter)
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> c = repo.load("c1")
>>> repo.save(c, c.add(5, at=t0))
>>> repo.save(c, c.add(2, at=t0))
>>> again = repo.load("c1")
>>> again.state, again.version, repo.load("c1", version=1).state
({'total': 7}, 2, {'total': 5})
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from edalab.errors import EdalabError
from edalab.events import Event
from edalab.patterns.eventstore.base import ConcurrencyError, EventStore
from edalab.patterns.eventstore.upcasting import SCHEMA_VERSION

__all__ = ["Aggregate", "CommandError", "Repository", "applies"]

A = TypeVar("A", bound="Aggregate")
Applier = Callable[[Any, Event], None]


class CommandError(EdalabError, ValueError):
    """A command is not valid for the aggregate's current state (the message says why)."""


def applies(event_type: str) -> Callable[[Applier], Applier]:
    """Mark an `Aggregate` method as the fold step for `event_type` events."""
    def mark(fn: Applier) -> Applier:
        fn._applies = event_type  # type: ignore[attr-defined]
        return fn
    return mark


class Aggregate:
    """A consistency boundary whose state is a fold over its events.

    Subclasses set `source` (the CloudEvents source of the events they emit), override
    `initial_state` (a JSON-ready dict), decorate one method per event type with `applies`,
    and write command methods that return events built with `event`.

    Parameters
    ----------
    id
        The aggregate id (also its stream id, and the key of the events it emits).
    """

    source: ClassVar[str] = "/edalab/aggregate"
    _appliers: ClassVar[dict[str, Applier]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, Applier] = {}
        for klass in reversed(cls.__mro__):
            for fn in vars(klass).values():
                event_type = getattr(fn, "_applies", None)
                if event_type is not None:
                    found[event_type] = fn
        cls._appliers = found

    def __init__(self, id: str) -> None:
        if not isinstance(id, str) or not id:
            raise TypeError(f"aggregate id must be a non-empty string, got {id!r}")
        self.id = id
        self.version = 0
        self.state: dict[str, Any] = self.initial_state()

    def initial_state(self) -> dict[str, Any]:
        """The state before any event (override)."""
        return {}

    def apply(self, event: Event) -> None:
        """Fold one event into the state and move the version on by one."""
        fn = self._appliers.get(event.type)
        if fn is None:
            raise ValueError(f"{type(self).__name__} has no @applies({event.type!r}) method; "
                             f"it handles {sorted(self._appliers)}")
        fn(self, event)
        self.version += 1

    def event(self, type: str, data: Any, time: datetime | None = None, *,
              schema: int = 1) -> Event:
        """A new event of this aggregate (key and subject = the aggregate id); `schema` > 1 is
        written as the ``schemaversion`` extension (see `Upcasters`)."""
        extensions = {SCHEMA_VERSION: schema} if schema != 1 else None
        return Event(type, self.source, data, key=self.id, subject=self.id, time=time,
                     extensions=extensions)

    @classmethod
    def replay(cls: type[A], id: str, events: Sequence[Event]) -> A:
        """The aggregate rebuilt from its events alone."""
        agg = cls(id)
        for e in events:
            agg.apply(e)
        return agg

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r}, version={self.version}, state={self.state})"


class Repository(Generic[A]):
    """Loads and saves aggregates of one class in an event store.

    Parameters
    ----------
    store
        The `EventStore`.
    aggregate
        The `Aggregate` subclass.
    snapshot_every
        Save a snapshot whenever a save crosses a multiple of this many versions (None: never).
    """

    def __init__(self, store: EventStore, aggregate: type[A], *,
                 snapshot_every: int | None = None) -> None:
        if not (isinstance(aggregate, type) and issubclass(aggregate, Aggregate)):
            raise TypeError(f"aggregate must be an Aggregate subclass, got {aggregate!r}")
        if snapshot_every is not None and snapshot_every < 1:
            raise ValueError(f"snapshot_every must be >= 1 or None, got {snapshot_every}")
        self.store = store
        self.aggregate = aggregate
        self.snapshot_every = snapshot_every

    def load(self, id: str, version: int | None = None) -> A:
        """The aggregate as of its latest event (or as of `version`: time travel), from the
        latest usable snapshot plus the events after it."""
        agg = self.aggregate(id)
        snap = self.store.load_snapshot(id)
        if snap is not None and (version is None or snap.version <= version):
            agg.state, agg.version = snap.state, snap.version
        for stored in self.store.read(id, agg.version + 1, version):
            agg.apply(stored.event)
        return agg

    def save(self, aggregate: A, events: Sequence[Event]) -> None:
        """Append `events` expecting the aggregate's version, then fold them into it.

        Raises `ConcurrencyError` (and changes nothing) if another writer got there first.
        """
        if not isinstance(aggregate, self.aggregate):
            raise TypeError(f"this repository holds {self.aggregate.__name__}, got "
                            f"{type(aggregate).__name__}")
        before = aggregate.version
        self.store.append(aggregate.id, list(events), before)
        for e in events:
            aggregate.apply(e)
        every = self.snapshot_every
        if every and events and aggregate.version // every > before // every:
            self.store.save_snapshot(aggregate.id, aggregate.version, aggregate.state)

    def execute(self, id: str, command: Callable[[A], Sequence[Event]], *,
                retries: int = 3) -> A:
        """Load, run ``command(aggregate)``, save; on a conflict reload and retry (the
        command is validated again against the newer state)."""
        for attempt in range(retries + 1):
            agg = self.load(id)
            try:
                self.save(agg, command(agg))
                return agg
            except ConcurrencyError:
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def __repr__(self) -> str:
        return f"Repository({self.store!r}, {self.aggregate.__name__})"
