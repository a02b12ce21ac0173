"""Event store: streams of events per aggregate id with a global order, optimistic
concurrency, snapshots, upcasting, catch-up subscriptions and a transactional outbox; in memory
or in SQLite."""

from __future__ import annotations

from edalab.patterns.eventstore.base import (
    ConcurrencyError,
    EventStore,
    EventStoreFileError,
    OutboxEntry,
    Snapshot,
    StoredEvent,
)
from edalab.patterns.eventstore.memory import MemoryEventStore
from edalab.patterns.eventstore.sqlite import SqliteEventStore
from edalab.patterns.eventstore.subscription import CatchUpSubscription
from edalab.patterns.eventstore.upcasting import (
    SCHEMA_VERSION,
    Upcasters,
    schema_version,
    with_schema_version,
)

__all__ = ["SCHEMA_VERSION", "CatchUpSubscription", "ConcurrencyError", "EventStore",
           "EventStoreFileError", "MemoryEventStore", "OutboxEntry", "Snapshot", "SqliteEventStore",
           "StoredEvent", "Upcasters", "schema_version", "with_schema_version"]
