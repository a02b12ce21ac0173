"""CQRS projections: read models built from events, with a checkpoint, rebuildable from zero.

A projection is a function ``handler(rows, event)`` that updates a read model's rows (``rows.
get(key)``, ``rows.put(key, row)``, ``rows.delete(key)``). The same function feeds two read
models: `FrameReadModel` (in memory, read as a pandas DataFrame) and `SqliteReadModel` (a SQLite
table, with the checkpoint written in the same transaction as the rows, so a crash never leaves
rows and checkpoint out of step). A `Projection` runs it from an event store (checkpoint = the
last global position projected) or from a broker topic (checkpoint = the consumer group's
committed offsets), and measures its staleness: events not yet projected, and seconds between an
event being recorded and the read model reflecting it.

>>> from datetime import datetime, timezone
>>> from edalab import Event
>>> from edalab.patterns.eventstore import MemoryEventStore
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> store = MemoryEventStore()
>>> for i, card in enumerate(["c1", "c2", "c1"]):
...     _ = store.append(card, [Event("card.authorised", "/c", {"amount": 10.0 * (i + 1)},
...                                   key=card, time=t0)], None)
>>> def spend(rows, event):
...     row = rows.get(event.key) or {"n": 0, "total": 0.0}
...     rows.put(event.key, {"n": row["n"] + 1, "total": row["total"] + event.data["amount"]})
>>> by_card = Projection(spend, name="spend_by_card")
>>> by_card.run(store)
3
>>> by_card.model.to_frame().to_dict("index")
{'c1': {'n': 2, 'total': 40.0}, 'c2': {'n': 1, 'total': 20.0}}
>>> by_card.checkpoint, by_card.lag(store).events
(3, 0)
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from edalab.events import Event
from edalab.patterns.eventstore.base import EventStore

__all__ = ["FrameReadModel", "Lag", "Projection", "ReadModel", "SqliteReadModel"]

_DELETED = object()
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class Lag(NamedTuple):
    """A projection's staleness: events not yet projected, and for how long the oldest of them
    has waited (seconds; 0 when caught up)."""

    events: int
    seconds: float


class ReadModel(ABC):
    """Rows keyed by a string, plus the checkpoint they reflect; writes are staged and land
    together with the checkpoint in `commit`."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        """The row at `key` (including staged changes), or None."""
        row = self._pending.get(key)
        if row is None:
            return self._get(key)
        return None if row is _DELETED else row

    def put(self, key: str, row: dict[str, Any]) -> None:
        """Stage `row` at `key` (replacing it)."""
        if not isinstance(row, dict):
            raise TypeError(f"a read-model row is a dict, got {type(row).__name__}")
        self._pending[str(key)] = row

    def delete(self, key: str) -> None:
        """Stage the removal of the row at `key`."""
        self._pending[str(key)] = _DELETED

    def discard(self) -> None:
        """Drop the staged changes (a batch that failed midway)."""
        self._pending = {}

    @property
    @abstractmethod
    def checkpoint(self) -> int:
        """The last position (or count) the committed rows reflect."""

    @abstractmethod
    def commit(self, checkpoint: int) -> None:
        """Write the staged rows and `checkpoint` together."""

    @abstractmethod
    def reset(self) -> None:
        """Drop every row and set the checkpoint to 0 (before a rebuild)."""

    @abstractmethod
    def rows(self) -> dict[str, dict[str, Any]]:
        """The committed rows by key."""

    @abstractmethod
    def _get(self, key: str) -> dict[str, Any] | None: ...

    def to_frame(self) -> pd.DataFrame:
        """The committed rows as a DataFrame indexed by key (sorted)."""
        rows = self.rows()
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "key"
        return frame.sort_index()


class FrameReadModel(ReadModel):
    """A read model in memory: a dict of rows, read as a pandas DataFrame."""

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, dict[str, Any]] = {}
        self._checkpoint = 0

    @property
    def checkpoint(self) -> int:
        return self._checkpoint

    def _get(self, key: str) -> dict[str, Any] | None:
        return self._rows.get(key)

    def commit(self, checkpoint: int) -> None:
        for key, row in self._pending.items():
            if row is _DELETED:
                self._rows.pop(key, None)
            else:
                self._rows[key] = row
        self._pending = {}
        self._checkpoint = checkpoint

    def reset(self) -> None:
        self._rows, self._pending, self._checkpoint = {}, {}, 0

    def rows(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self._rows.items()}

    def __repr__(self) -> str:
        return f"FrameReadModel(rows={len(self._rows)}, checkpoint={self._checkpoint})"


class SqliteReadModel(ReadModel):
    """A read model as a SQLite table ``table(key TEXT PRIMARY KEY, <columns>...)``; the
    checkpoint is a row of ``projection_checkpoints``, written in the same transaction.

    Parameters
    ----------
    path
        The database file (it may be the event store's own file).
    table
        The table name.
    columns
        The row fields; a row with another field is refused.
    """

    def __init__(self, path: str | Path, table: str, columns: Iterable[str]) -> None:
        super().__init__()
        self.columns = list(columns)
        for name in [table, *self.columns]:
            if not _IDENTIFIER.match(name):
                raise ValueError(f"{name!r} is not a valid SQLite identifier for a read model")
        if "key" in self.columns:
            raise ValueError("'key' is the read model's key column; choose another column name")
        self.path, self.table = Path(path), table
        self._local = threading.local()
        # Quoted, so that SQL keywords ("limit", "order") work as column names.
        self._t = f'"{table}"'
        cols = "".join(f', "{c}"' for c in self.columns)
        marks = ", ?" * len(self.columns)
        self._upsert = f"INSERT OR REPLACE INTO {self._t} (key{cols}) VALUES (?{marks})"
        con = self._con()
        con.execute(f"CREATE TABLE IF NOT EXISTS {self._t} (key TEXT PRIMARY KEY{cols})")
        con.execute("CREATE TABLE IF NOT EXISTS projection_checkpoints "
                    "(name TEXT PRIMARY KEY, position INTEGER NOT NULL)")

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    @property
    def checkpoint(self) -> int:
        row = self._con().execute("SELECT position FROM projection_checkpoints WHERE name = ?",
                                  (self.table,)).fetchone()
        return row[0] if row else 0

    def _get(self, key: str) -> dict[str, Any] | None:
        row = self._con().execute(f"SELECT * FROM {self._t} WHERE key = ?",
                                  (key,)).fetchone()
        return None if row is None else dict(zip(self.columns, row[1:], strict=True))

    def commit(self, checkpoint: int) -> None:
        columns = self.columns
        upserts, deletes = [], []
        for key, row in self._pending.items():
            if row is _DELETED:
                deletes.append((key,))
                continue
            extra = row.keys() - set(columns)
            if extra:
                raise ValueError(f"read model {self.table!r} has no column(s) {sorted(extra)}")
            upserts.append((key, *[_sql_value(row.get(c)) for c in columns]))
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany(self._upsert, upserts)
            con.executemany(f"DELETE FROM {self._t} WHERE key = ?", deletes)
            con.execute("INSERT OR REPLACE INTO projection_checkpoints VALUES (?, ?)",
                        (self.table, checkpoint))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._pending = {}

    def reset(self) -> None:
        self._pending = {}
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        con.execute(f"DELETE FROM {self._t}")
        con.execute("DELETE FROM projection_checkpoints WHERE name = ?", (self.table,))
        con.execute("COMMIT")

    def rows(self) -> dict[str, dict[str, Any]]:
        return {r[0]: dict(zip(self.columns, r[1:], strict=True))
                for r in self._con().execute(f"SELECT * FROM {self._t}")}

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    def __repr__(self) -> str:
        return f"SqliteReadModel({str(self.path)!r}, {self.table!r})"


def _sql_value(value: Any) -> Any:
    # SQLite stores scalars; anything else (lists, dicts) as JSON text.
    if value is None or isinstance(value, (str, int, float)):
        return value
    return json.dumps(value)


class Projection:
    """Runs ``handler(rows, event)`` over events into a read model, with a checkpoint.

    Parameters
    ----------
    handler
        Updates the rows for one event (``rows`` is the read model).
    model
        The read model (default: a new `FrameReadModel`).
    name
        The projection's name (its consumer group when it reads a topic).
    types
        Event types to project (others only move the checkpoint on); None: all.
    clock
        Wall time in seconds (for staleness in seconds); `time.time` by default.
    """

    def __init__(self, handler: Callable[[ReadModel, Event], None],
                 model: ReadModel | None = None, *, name: str | None = None,
                 types: Iterable[str] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {type(handler).__name__}")
        self.handler = handler
        self.model = model if model is not None else FrameReadModel()
        self.name = name or getattr(handler, "__name__", "projection")
        self.types = None if types is None else frozenset(types)
        self.clock = clock
        self.samples: list[dict[str, Any]] = []
        self._consumers: dict[tuple[int, str], Any] = {}

    @property
    def checkpoint(self) -> int:
        """The last global position projected (event-store projections)."""
        return self.model.checkpoint

    def _project(self, events: Iterable[Event]) -> None:
        handler, model, types = self.handler, self.model, self.types
        try:
            for e in events:
                if types is None or e.type in types:
                    handler(model, e)
        except BaseException:
            model.discard()  # the batch lands whole or not at all
            raise

    # -- from an event store -----------------------------------------------------------------

    def run(self, store: EventStore, *, batch_size: int = 1000,
            max_events: int | None = None) -> int:
        """Project the store's events after the checkpoint (all, or at most `max_events`), one
        batch per commit; returns how many were read."""
        done = 0
        while max_events is None or done < max_events:
            limit = batch_size if max_events is None else min(batch_size, max_events - done)
            batch = store.read_all(self.model.checkpoint + 1, limit)
            if not batch:
                break
            self._project([s.event for s in batch])
            self.model.commit(batch[-1].position)
            done += len(batch)
            now = self.clock()
            self.samples.append({
                "time": now, "checkpoint": batch[-1].position, "events": len(batch),
                "lag_events": store.head() - batch[-1].position,
                "lag_seconds": max(0.0, now - batch[0].recorded_at.timestamp())})
        return done

    def rebuild(self, store: EventStore, *, batch_size: int = 1000) -> int:
        """Drop the read model and project the whole store again from position 1."""
        self.model.reset()
        return self.run(store, batch_size=batch_size)

    def lag(self, store: EventStore) -> Lag:
        """Events in the store not yet projected, and the age of the oldest of them."""
        pending = store.read_all(self.model.checkpoint + 1, 1)
        if not pending:
            return Lag(0, 0.0)
        age = max(0.0, self.clock() - pending[0].recorded_at.timestamp())
        return Lag(store.head() - self.model.checkpoint, age)

    # -- from a broker topic -------------------------------------------------------------------

    def _consumer(self, broker: Any, topic: str) -> Any:
        key = (id(broker), topic)
        if key not in self._consumers:
            self._consumers[key] = broker.subscribe(topic, group=self.name)
        return self._consumers[key]

    def run_topic(self, broker: Any, topic: str, *, batch_size: int = 500,
                  max_events: int | None = None) -> int:
        """Project a topic through the consumer group `name`: each polled batch is applied,
        committed to the read model, then acked (the checkpoint is the committed offset).
        At-least-once: a crash between the two replays that batch into the read model."""
        consumer = self._consumer(broker, topic)
        done = 0
        while max_events is None or done < max_events:
            limit = batch_size if max_events is None else min(batch_size, max_events - done)
            batch = consumer.poll(limit)
            if not batch:
                break
            self._project(batch.events)
            self.model.commit(self.model.checkpoint + len(batch))
            consumer.ack(batch)
            done += len(batch)
            self.samples.append({
                "time": self.clock(), "checkpoint": self.model.checkpoint,
                "events": len(batch), "lag_events": sum(broker.lag(topic, self.name).values()),
                "lag_seconds": max(0.0, time.perf_counter() - min(batch.timestamps))})
        return done

    def rebuild_topic(self, broker: Any, topic: str, *, batch_size: int = 500) -> int:
        """Drop the read model, rewind the group to the topic's beginning, project it all."""
        self.model.reset()
        self._consumer(broker, topic).seek("beginning")
        return self.run_topic(broker, topic, batch_size=batch_size)

    def topic_lag(self, broker: Any, topic: str) -> int:
        """Events on the topic not yet committed by this projection's group."""
        return sum(broker.lag(topic, self.name).values())

    def lag_frame(self) -> pd.DataFrame:
        """One row per committed batch: checkpoint, lag in events and in seconds."""
        return pd.DataFrame(self.samples, columns=["time", "checkpoint", "events",
                                                   "lag_events", "lag_seconds"])

    def __repr__(self) -> str:
        return f"Projection({self.name!r}, model={self.model!r})"
