"""`SqliteEventStore`: the embedded durable event store (one file, WAL).

Storage: one ``events`` table whose ``position`` is the ``INTEGER PRIMARY KEY`` (the global
order) with a ``UNIQUE (stream_id, version)`` constraint, so optimistic concurrency is enforced
twice: the version check in `append` and the constraint in storage. Each CloudEvents attribute
has its own column and only ``data`` is JSON (see `edalab.patterns.eventstore.rows`), so
an append spends most of its time in SQLite's own insert. A batch append is one
``BEGIN IMMEDIATE`` transaction with ``executemany``: a crash mid-append leaves either the whole
batch or none of it. Writers are serialised by SQLite's write lock, so positions are gap-free
in commit order and a reader that has seen position ``p`` has seen everything before it.

The transactional outbox: ``append(..., outbox=[(topic, event), ...])`` inserts the outgoing
events into the ``outbox`` table in the same transaction as the stream's events, so the state
change and the promise to publish commit together; `OutboxRelay` publishes them and marks them
sent (``sent_at``).

Durability: WAL with ``synchronous=NORMAL`` by default. A killed process loses nothing that
was committed (the WAL is written before a commit returns); a power cut may lose the last
commits, never corrupt the file. ``synchronous="FULL"`` syncs every commit to disk.

>>> import os, tempfile
>>> from datetime import datetime, timezone
>>> from edalab import Event
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> path = os.path.join(tempfile.mkdtemp(), "events.db")
>>> with SqliteEventStore(path) as store:
...     _ = store.append("ward-3", [Event("patient.admitted", "/ward", {"bed": 7}, time=t0)], 0)
>>> with SqliteEventStore(path) as again:    # a new connection finds it on disk
...     [(s.stream_id, s.version, s.position, s.event.data) for s in again.read_all()]
[('ward-3', 1, 1, {'bed': 7})]
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import Literal, NoReturn

from edalab.errors import StoreClosedError
from edalab.events import Event
from edalab.patterns.eventstore.base import (
    ConcurrencyError,
    EventStore,
    EventStoreFileError,
    OutboxEntry,
    Snapshot,
    StoredEvent,
)
from edalab.patterns.eventstore.rows import (
    EVENT_COLUMNS,
    event_rows,
    raise_unstorable,
    stored_events,
)
from edalab.patterns.eventstore.upcasting import Upcasters

__all__ = ["INSERT", "SCHEMA", "SqliteEventStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY,
    stream_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    recorded_at REAL NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    subject TEXT,
    time INTEGER NOT NULL,      -- microseconds since the Unix epoch (UTC)
    key TEXT,
    datacontenttype TEXT,
    extensions TEXT,            -- a JSON object; NULL when there are none
    data,                       -- JSON text; a BLOB for bytes data; NULL for no data
    UNIQUE (stream_id, version)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    event TEXT NOT NULL,        -- CloudEvents JSON (structured mode)
    recorded_at REAL NOT NULL,
    sent_at REAL                -- NULL until a relay has published it
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
CREATE TABLE IF NOT EXISTS snapshots (
    stream_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    recorded_at REAL NOT NULL,
    state TEXT NOT NULL
);
"""
#: One event row (`rows.EVENT_COLUMNS`); the position is the rowid SQLite assigns.
INSERT = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) " \
         f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
_OUTBOX_INSERT = "INSERT INTO outbox (topic, event, recorded_at) VALUES (?, ?, ?)"
_OUTBOX_PENDING = "SELECT seq, topic, event, recorded_at FROM outbox WHERE sent_at IS NULL " \
                  "ORDER BY seq"
_SELECT = "SELECT stream_id, version, position, " + ", ".join(EVENT_COLUMNS[2:]) + " FROM events"
# The stream's version and the head position, in one statement.
_VERSION_AND_HEAD = "SELECT (SELECT max(version) FROM events WHERE stream_id = ?), " \
                    "(SELECT max(position) FROM events)"
#: SQLite's primary result code → what it means for the store's file.
_PROBLEMS = {
    sqlite3.SQLITE_NOTADB: "not an SQLite database, or a corrupt one",
    sqlite3.SQLITE_CORRUPT: "not an SQLite database, or a corrupt one",
    sqlite3.SQLITE_READONLY: "read-only: the file (or its -wal and -shm files beside it) "
                             "cannot be written",
    sqlite3.SQLITE_CANTOPEN: "cannot be opened or created (does its directory exist, and can "
                             "it be written?)",
    sqlite3.SQLITE_PERM: "access denied",
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_IOERR: "a disk I/O error",
}
_fromtimestamp = datetime.fromtimestamp
_tuple = tuple.__new__  # builds a NamedTuple without its Python-level __new__


class SqliteEventStore(EventStore):
    """Streams of events in one SQLite file (WAL), shared by threads and processes.

    Parameters
    ----------
    path
        The database file (created with its tables when absent).
    upcasters
        Applied on read (see `Upcasters`).
    synchronous
        ``"NORMAL"`` (default: a process crash loses no commit; a power cut may lose the last
        ones) or ``"FULL"`` (every commit synced to disk).
    busy_timeout
        Seconds a writer waits for another writer's lock before giving up.
    poll_interval
        Longest sleep between head-position checks while waiting for appends from other
        connections (catch-up subscriptions).
    """

    def __init__(self, path: str | os.PathLike, upcasters: Upcasters | None = None, *,
                 synchronous: Literal["NORMAL", "FULL"] = "NORMAL", busy_timeout: float = 30.0,
                 poll_interval: float = 0.02) -> None:
        super().__init__(upcasters)
        if str(path) in ("", ":memory:") or str(path).startswith("file::memory:"):
            raise ValueError("SqliteEventStore needs a file path (connections are per thread "
                             "and an in-memory database is per connection); use "
                             "MemoryEventStore for an in-memory store")
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self.path = Path(path)
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.poll_interval = poll_interval
        self._local = threading.local()
        self._connections: list[tuple[int, sqlite3.Connection, threading.RLock]] = []
        self._guard = threading.Lock()
        self._appended = threading.Condition()
        self._closed = False
        try:
            con = self._con()
            con.executescript(SCHEMA)
            layout = [r[1] for r in con.execute("PRAGMA table_info(events)")]
        except sqlite3.DatabaseError as exc:
            self.close()
            self._raise_file_error(exc)
        if layout[:len(EVENT_COLUMNS) + 1] != ["position", *EVENT_COLUMNS]:
            self.close()
            raise ValueError(f"{str(self.path)!r} holds an events table of another layout "
                             f"(columns {layout}); use a new file")

    # -- connections: one per thread (and per process, after a fork) -----------------------

    def _connection(self) -> tuple[sqlite3.Connection, threading.RLock]:
        """This thread's connection and the lock held while it is in use.

        `close` takes each lock before closing its connection: closing a connection that
        another thread is using crashes the interpreter.
        """
        local = self._local
        con = getattr(local, "con", None)
        if con is not None and local.pid == os.getpid():
            return con, local.lock
        if self._closed:
            raise StoreClosedError(repr(self))
        con = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                              check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(f"PRAGMA synchronous={self.synchronous}")
        local.con, local.lock, local.pid = con, threading.RLock(), os.getpid()
        with self._guard:
            self._connections.append((local.pid, con, local.lock))
        return con, local.lock

    def _raise_file_error(self, exc: sqlite3.DatabaseError) -> NoReturn:
        """Raise `exc` as an `EventStoreFileError` naming the file when the file is the problem,
        or as a `StoreClosedError` when `close` closed the connection under this call (any
        other error is raised as it is)."""
        if self._closed and isinstance(exc, sqlite3.ProgrammingError):
            raise StoreClosedError(repr(self)) from exc
        if not (isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError):
            raise exc
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary code
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            problem = f"locked by another connection for more than {self.busy_timeout} s"
        else:
            problem = _PROBLEMS.get(code, "unusable")
        raise EventStoreFileError(self.path, f"{problem} (SQLite: {exc})") from exc

    def _con(self) -> sqlite3.Connection:
        return self._connection()[0]

    def _fetch(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            con, lock = self._connection()
            with lock:
                return con.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            self._raise_file_error(exc)

    def close(self) -> None:
        """Close every connection this store opened (in this process).

        A connection in use by another thread is closed as soon as its statement ends
        (`close` waits for it); that thread's next call raises `StoreClosedError`.
        """
        self._closed = True
        with self._guard:
            cons, self._connections = self._connections, []
        pid = os.getpid()
        for owner, con, lock in cons:
            if owner == pid:  # a forked child leaves its parent's connections alone
                with lock:
                    con.close()
        self._local = threading.local()

    # -- writes ----------------------------------------------------------------------------

    def _append(self, stream_id: str, events: list[Event], expected_version: int | None,
                outbox: list[tuple[str, Event]] | None = None) -> list[StoredEvent]:
        now = time.time()
        n = len(events)
        # Rows are built before taking the write lock whenever their versions are known.
        rows = None if expected_version is None else \
            event_rows(stream_id, expected_version + 1, now, events)
        outbox_rows = [(topic, e.to_json(), now) for topic, e in outbox] if outbox else None
        try:
            current, head = self._insert(stream_id, events, expected_version, rows, now,
                                         outbox_rows)
        except sqlite3.DatabaseError as exc:
            self._raise_file_error(exc)
        if n:
            with self._appended:
                self._appended.notify_all()
        # StoredEvents built in C (map over zip), not by a Python loop.
        return list(map(_tuple, repeat(StoredEvent, n),
                        zip(repeat(stream_id), range(current + 1, current + n + 1),
                            range(head + 1, head + n + 1), events,
                            repeat(_fromtimestamp(now, UTC)))))

    def _insert(self, stream_id: str, events: list[Event], expected_version: int | None,
                rows: list | None, now: float,
                outbox_rows: list | None = None) -> tuple[int, int]:
        """One all-or-nothing batch insert; returns the stream's version and the head before."""
        con, lock = self._connection()
        with lock:
            con.execute("BEGIN IMMEDIATE")
            try:
                current, head = con.execute(_VERSION_AND_HEAD, (stream_id,)).fetchone()
                current, head = current or 0, head or 0
                if rows is None:
                    rows = event_rows(stream_id, current + 1, now, events)
                elif expected_version != current:
                    # rows were built ahead only from a given expected_version
                    raise ConcurrencyError(stream_id, expected_version, current)  # type: ignore[arg-type]
                con.executemany(INSERT, rows)
                if outbox_rows:
                    con.executemany(_OUTBOX_INSERT, outbox_rows)
                con.execute("COMMIT")
            except sqlite3.IntegrityError:
                # The storage constraint caught what the version check did not (a writer that
                # bypassed it): the batch is rolled back as a whole.
                con.execute("ROLLBACK")
                raise ConcurrencyError(stream_id, current if expected_version is None
                                       else expected_version, self.version(stream_id)) from None
            except UnicodeEncodeError as exc:  # a lone surrogate in a text attribute
                con.execute("ROLLBACK")
                raise_unstorable(events, exc)
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        return current, head

    def _pending(self, limit: int | None) -> list[OutboxEntry]:
        if limit is None:
            rows = self._fetch(_OUTBOX_PENDING)
        else:
            rows = self._fetch(_OUTBOX_PENDING + " LIMIT ?", (limit,))
        return [OutboxEntry(seq, topic, Event.from_json(text), _fromtimestamp(at, UTC))
                for seq, topic, text, at in rows]

    def _mark_sent(self, seq: int) -> int:
        try:
            con, lock = self._connection()
            with lock:
                return con.execute("UPDATE outbox SET sent_at = ? WHERE seq <= ? AND sent_at IS "
                                   "NULL", (time.time(), seq)).rowcount
        except sqlite3.DatabaseError as exc:
            self._raise_file_error(exc)

    def _save_snapshot(self, stream_id: str, version: int, state_json: str) -> None:
        self._fetch("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)",
                    (stream_id, version, time.time(), state_json))

    # -- reads -----------------------------------------------------------------------------

    def _read(self, stream_id: str, from_version: int,
              to_version: int | None) -> list[StoredEvent]:
        sql = _SELECT + " WHERE stream_id = ? AND version >= ?"
        args: tuple = (stream_id, from_version)
        if to_version is not None:
            sql += " AND version <= ?"
            args += (to_version,)
        return stored_events(self._fetch(sql + " ORDER BY version", args))

    def _read_all(self, from_position: int, limit: int | None) -> list[StoredEvent]:
        sql = _SELECT + " WHERE position >= ? ORDER BY position"
        if limit is not None:
            return stored_events(self._fetch(sql + " LIMIT ?", (from_position, limit)))
        return stored_events(self._fetch(sql, (from_position,)))

    def _load_snapshot(self, stream_id: str) -> Snapshot | None:
        rows = self._fetch("SELECT version, recorded_at, state FROM snapshots "
                           "WHERE stream_id = ?", (stream_id,))
        if not rows:
            return None
        row = rows[0]
        return Snapshot(stream_id, row[0], json.loads(row[2]), _fromtimestamp(row[1], UTC))

    def version(self, stream_id: str) -> int:
        return self._fetch("SELECT max(version) FROM events WHERE stream_id = ?",
                           (stream_id,))[0][0] or 0

    def head(self) -> int:
        return self._fetch("SELECT max(position) FROM events")[0][0] or 0

    def streams(self) -> list[str]:
        rows = self._fetch("SELECT stream_id FROM events WHERE version = 1 ORDER BY position")
        return [r[0] for r in rows]

    def wait(self, position: int, timeout: float | None) -> bool:
        # Appends through this object wake us at once; others (connections, processes) are
        # found by polling the head, backing off from 1 ms to `poll_interval`.
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.001
        while self.head() < position:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            with self._appended:
                self._appended.wait(pause if left is None else min(pause, left))
            pause = min(pause * 2, self.poll_interval)
        return True

    def __repr__(self) -> str:
        return f"SqliteEventStore({str(self.path)!r})"
