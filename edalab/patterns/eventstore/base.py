"""The `EventStore` every backend implements, and what it returns.

An event store keeps one stream of events per aggregate id. Each stored event has a version in
its stream (1, 2, 3, ...) and a global position across all streams (1-based, gap-free, in
commit order). Writers use optimistic concurrency: `append` names the version the writer saw,
and if the stream has moved on, nothing is written and `ConcurrencyError` says so.

Backends implement the storage primitives (`_append`, `_read`, `_read_all`, ...); this class
checks arguments, applies upcasters on read and builds catch-up subscriptions, so every
backend behaves the same.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from edalab.errors import EdalabError
from edalab.events import Event
from edalab.patterns.eventstore.subscription import CatchUpSubscription
from edalab.patterns.eventstore.upcasting import Upcasters

__all__ = ["ConcurrencyError", "EventStore", "EventStoreFileError", "OutboxEntry", "Snapshot",
           "StoredEvent"]



class ConcurrencyError(EdalabError, RuntimeError):
    """An append expected a stream version the stream no longer has: nothing was written."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream_id!r}: expected version {expected}, but the stream is "
                         f"at version {actual} (another writer appended first); nothing was "
                         "written, reload and retry")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class EventStoreFileError(EdalabError, OSError):
    """The store's file cannot be used (not a database, read-only, locked, ...).

    The message names the file and the problem; the storage's own error is the ``__cause__``.

    >>> str(EventStoreFileError("/data/events.db", "read-only"))
    "event store '/data/events.db': read-only"
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        super().__init__(f"event store {str(path)!r}: {problem}")
        self.path = os.fspath(path)
        self.problem = problem

    def __reduce__(self) -> tuple:
        return self.__class__, (self.path, self.problem)


class StoredEvent(NamedTuple):
    """An event as the store holds it: where it sits in its stream and in the global order."""

    stream_id: str
    version: int
    position: int
    event: Event
    recorded_at: datetime


class OutboxEntry(NamedTuple):
    """An outgoing event the store holds until a relay publishes it (the transactional
    outbox): `seq` is its place in the outbox's order."""

    seq: int
    topic: str
    event: Event
    recorded_at: datetime


class Snapshot(NamedTuple):
    """An aggregate's state as of `version` of its stream (a JSON-ready dict)."""

    stream_id: str
    version: int
    state: dict[str, Any]
    recorded_at: datetime


def _check_stream_id(stream_id: Any) -> None:
    if not isinstance(stream_id, str) or not stream_id:
        raise TypeError(f"stream_id must be a non-empty string, got {stream_id!r}")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def check_outbox(outbox: Any) -> list[tuple[str, Event]]:
    """`outbox` as a list of ``(topic, event)`` pairs, or a `TypeError` naming the bad item."""
    if isinstance(outbox, (str, bytes, tuple)) or not isinstance(outbox, Sequence):
        raise TypeError(f"outbox must be a list of (topic, edalab.Event) pairs, got "
                        f"{type(outbox).__name__}")
    pairs = []
    for i, item in enumerate(outbox):
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                and item[0] and item[1].__class__ is Event):
            raise TypeError(f"outbox[{i}] must be a (topic, edalab.Event) pair with a "
                            f"non-empty topic, got {item!r:.80}")
        pairs.append(item)
    return pairs


def encode_state(state: Any) -> str:
    """Snapshot state as JSON (a clear error when it is not a JSON-ready dict)."""
    if not isinstance(state, dict):
        raise TypeError(f"snapshot state must be a dict, got {type(state).__name__}")
    try:
        return json.dumps(state, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"snapshot state is not JSON-serialisable: {exc}") from None


class EventStore(ABC):
    """Streams of events per aggregate id, with a global order.

    Parameters
    ----------
    upcasters
        Applied to every event on read (schema evolution); see `Upcasters`.
    """

    def __init__(self, upcasters: Upcasters | None = None) -> None:
        self.upcasters = upcasters if upcasters is not None else Upcasters()

    # -- the public API --------------------------------------------------------------------

    def append(self, stream_id: str, events: Sequence[Event], expected_version: int | None,
               *, outbox: Sequence[tuple[str, Event]] | None = None) -> list[StoredEvent]:
        """Append `events` to `stream_id` as one all-or-nothing batch.

        `expected_version` is the stream's version the writer saw (0 for a new stream); if the
        stream is elsewhere, `ConcurrencyError` is raised and nothing is written. ``None``
        appends without the check.

        `outbox` is a list of ``(topic, event)`` pairs to publish: they are stored in the same
        transaction as `events` (both or neither), and an `OutboxRelay` publishes them
        (the transactional outbox; see `pending` and `mark_sent`).
        """
        _check_stream_id(stream_id)
        if expected_version is not None:
            _check_int("expected_version", expected_version, 0)
        if isinstance(events, Event) or not isinstance(events, Sequence):
            raise TypeError(f"events must be a list of edalab.Event, got "
                            f"{type(events).__name__}")
        for e in events:
            if e.__class__ is not Event:
                raise TypeError(f"an event store holds edalab.Event objects, got "
                                f"{type(e).__name__}: {e!r:.80}")
        if outbox is None:
            return self._append(stream_id, list(events), expected_version)
        return self._append(stream_id, list(events), expected_version, check_outbox(outbox))

    def read(self, stream_id: str, from_version: int = 1,
             to_version: int | None = None) -> list[StoredEvent]:
        """The events of `stream_id` with ``from_version <= version <= to_version``, in order."""
        _check_stream_id(stream_id)
        _check_int("from_version", from_version, 1)
        if to_version is not None:
            _check_int("to_version", to_version, 0)
        return self._upcast(self._read(stream_id, from_version, to_version))

    def read_all(self, from_position: int = 1, limit: int | None = None) -> list[StoredEvent]:
        """Events of all streams from global `from_position` on (at most `limit`), in order."""
        _check_int("from_position", from_position, 1)
        if limit is not None:
            _check_int("limit", limit, 0)
        return self._upcast(self._read_all(from_position, limit))

    def subscribe(self, from_position: int = 1, *, batch_size: int = 500,
                  timeout: float | None = None) -> CatchUpSubscription:
        """A catch-up subscription: replays history from `from_position`, then follows live
        appends (see `CatchUpSubscription`)."""
        _check_int("from_position", from_position, 1)
        return CatchUpSubscription(self, from_position, batch_size=batch_size, timeout=timeout)

    def save_snapshot(self, stream_id: str, version: int, state: dict[str, Any]) -> None:
        """Keep `state` as the stream's state at `version` (replacing an older snapshot)."""
        _check_stream_id(stream_id)
        _check_int("version", version, 1)
        text = encode_state(state)
        current = self.version(stream_id)
        if version > current:
            raise ValueError(f"stream {stream_id!r} is at version {current}; cannot snapshot "
                             f"version {version}")
        self._save_snapshot(stream_id, version, text)

    def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The stream's latest snapshot, or None."""
        _check_stream_id(stream_id)
        return self._load_snapshot(stream_id)

    def pending(self, limit: int | None = None) -> list[OutboxEntry]:
        """The outbox entries not yet marked sent, oldest first (at most `limit`)."""
        if limit is not None:
            _check_int("limit", limit, 1)
        return self._pending(limit)

    def mark_sent(self, seq: int) -> int:
        """Mark every outbox entry up to `seq` as sent; returns how many were pending."""
        _check_int("seq", seq, 0)
        return self._mark_sent(seq)

    @abstractmethod
    def version(self, stream_id: str) -> int:
        """The stream's current version (0 when it has no events)."""

    @abstractmethod
    def head(self) -> int:
        """The last global position (0 when the store is empty)."""

    @abstractmethod
    def streams(self) -> list[str]:
        """The ids of all streams, in order of their first event."""

    @abstractmethod
    def wait(self, position: int, timeout: float | None) -> bool:
        """Block until ``head() >= position`` or `timeout` seconds pass; True if reached."""

    def close(self) -> None:  # noqa: B027 (optional: only backends with resources override)
        """Release resources (a no-op where there are none)."""

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.head()

    # -- what a backend implements ---------------------------------------------------------

    @abstractmethod
    def _append(self, stream_id: str, events: list[Event], expected_version: int | None,
                outbox: list[tuple[str, Event]] | None = None) -> list[StoredEvent]: ...

    @abstractmethod
    def _pending(self, limit: int | None) -> list[OutboxEntry]: ...

    @abstractmethod
    def _mark_sent(self, seq: int) -> int: ...

    @abstractmethod
    def _read(self, stream_id: str, from_version: int,
              to_version: int | None) -> list[StoredEvent]: ...

    @abstractmethod
    def _read_all(self, from_position: int, limit: int | None) -> list[StoredEvent]: ...

    @abstractmethod
    def _save_snapshot(self, stream_id: str, version: int, state_json: str) -> None: ...

    @abstractmethod
    def _load_snapshot(self, stream_id: str) -> Snapshot | None: ...

    # -- shared ----------------------------------------------------------------------------

    def _upcast(self, stored: list[StoredEvent]) -> list[StoredEvent]:
        if not len(self.upcasters):
            return stored
        types, upcast = self.upcasters.types, self.upcasters.upcast
        return [s._replace(event=upcast(s.event)) if s.event.type in types else s
                for s in stored]
