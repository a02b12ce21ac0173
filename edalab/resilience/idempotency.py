"""Idempotent consumers: remember which events were handled, so a redelivered event (after a
crash, a rebalance, a redrive) changes nothing twice.

`MemoryIdempotencyStore` keeps the last `max_ids` keys in memory. `SqliteIdempotencyStore`
keeps them in a SQLite file and offers the inbox pattern: the side effect (writes through the
store's connection) and the mark "this key is done" commit in one transaction, so a crash
between them neither loses the effect nor applies it twice.
"""

from __future__ import annotations

import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edalab.errors import StoreClosedError

__all__ = ["MemoryIdempotencyStore", "SqliteIdempotencyStore"]


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"an idempotency key must be a non-empty str, got {key!r}")
    return key


class MemoryIdempotencyStore:
    """The last `max_ids` handled keys, in memory; the oldest are forgotten first.

    `apply_once(key, effect)` calls ``effect()`` unless `key` was handled, then marks it;
    an effect that raises marks nothing, so the event can be retried. `duplicates` counts the
    events skipped.

    >>> store, sink = MemoryIdempotencyStore(max_ids=2), []
    >>> [store.apply_once(k, lambda k=k: sink.append(k)) for k in ["a", "b", "a", "c", "a"]]
    [True, True, False, True, True]
    >>> sink, store.duplicates, len(store)  # "a" was forgotten when "c" came
    (['a', 'b', 'c', 'a'], 1, 2)
    """

    def __init__(self, max_ids: int = 100_000) -> None:
        if not isinstance(max_ids, int) or isinstance(max_ids, bool) or max_ids < 1:
            raise ValueError(f"max_ids must be an int >= 1, got {max_ids!r}")
        self.max_ids = max_ids
        self.duplicates = 0
        # Oldest key first; OrderedDict forgets it in O(1), where a dict's next(iter())
        # scans the slots its earlier deletions left (quadratic at 100,000 ids).
        self._ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, key: str) -> bool:
        """Whether `key` is remembered as handled."""
        return key in self._ids

    def mark(self, key: str) -> None:
        """Remember `key` as handled (forgetting the oldest key when full)."""
        ids = self._ids
        if key in ids:
            return
        ids[_check_key(key)] = None
        if len(ids) > self.max_ids:
            ids.popitem(last=False)

    def apply_once(self, key: str, effect: Callable[[], Any]) -> bool:
        """Run ``effect()`` and mark `key`, unless `key` was handled: True when it ran."""
        if key in self._ids:
            self.duplicates += 1
            return False
        effect()
        self.mark(key)
        return True

    def __len__(self) -> int:
        return len(self._ids)

    def close(self) -> None:
        """Nothing to release; here so both stores are used alike."""

    def __repr__(self) -> str:
        return f"MemoryIdempotencyStore(max_ids={self.max_ids}, held={len(self._ids)})"


class SqliteIdempotencyStore:
    """Handled keys in a SQLite file (table ``edalab_handled``), durable across restarts.

    `apply_once(key, effect)` runs ``effect(connection)`` and records `key` in one
    transaction: a sink that writes through that connection gets the inbox pattern. If the
    effect raises, or the process dies before the commit, neither its writes nor the mark are
    kept, and the redelivered event is applied then; once committed, both are, and a
    redelivery is skipped (counted in `duplicates`).

    With `max_ids`, only the last `max_ids` keys are kept (the oldest are deleted in the
    transaction that adds a key); None keeps them all.

    >>> store = SqliteIdempotencyStore(":memory:")
    >>> _ = store.connection.execute("CREATE TABLE totals (card TEXT, amount REAL)")
    >>> def add(conn):
    ...     conn.execute("INSERT INTO totals VALUES ('c1', 9.5)")
    >>> store.apply_once("tx-1", add), store.apply_once("tx-1", add), store.duplicates
    (True, False, 1)
    >>> store.connection.execute("SELECT COUNT(*) FROM totals").fetchone()[0]
    1
    >>> store.close()
    """

    def __init__(self, path: str | Path, max_ids: int | None = None) -> None:
        if max_ids is not None and (not isinstance(max_ids, int) or isinstance(max_ids, bool)
                                    or max_ids < 1):
            raise ValueError(f"max_ids must be an int >= 1 or None, got {max_ids!r}")
        self.path = str(path)
        self.max_ids = max_ids
        self.duplicates = 0
        # Autocommit mode: this class opens and ends its transactions itself.
        self._conn: sqlite3.Connection | None = sqlite3.connect(self.path,
                                                                isolation_level=None)
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS edalab_handled "
                           "(key TEXT PRIMARY KEY, at REAL NOT NULL)")

    @property
    def connection(self) -> sqlite3.Connection:
        """The store's connection: the effects of `apply_once` write through it."""
        if self._conn is None:
            raise StoreClosedError(repr(self))
        return self._conn

    def seen(self, key: str) -> bool:
        """Whether `key` is recorded as handled."""
        row = self.connection.execute("SELECT 1 FROM edalab_handled WHERE key = ?",
                                      (key,)).fetchone()
        return row is not None

    def mark(self, key: str) -> None:
        """Record `key` as handled (committed at once)."""
        _check_key(key)
        with self._transaction() as conn:
            self._insert(conn, key)

    def _insert(self, conn: sqlite3.Connection, key: str) -> bool:
        """Add `key` (inside the caller's transaction); False when it was there."""
        inserted = conn.execute("INSERT OR IGNORE INTO edalab_handled VALUES (?, ?)",
                                (key, time.time())).rowcount
        if inserted and self.max_ids is not None:
            # rowids grow with each insert: keep the newest max_ids.
            conn.execute("DELETE FROM edalab_handled WHERE rowid <= "
                         "(SELECT MAX(rowid) FROM edalab_handled) - ?", (self.max_ids,))
        return bool(inserted)

    def apply_once(self, key: str, effect: Callable[[sqlite3.Connection], Any]) -> bool:
        """Run ``effect(connection)`` and record `key` in one transaction, unless `key` was
        handled: True when it ran. An effect that raises rolls both back and re-raises."""
        _check_key(key)
        with self._transaction() as conn:
            inserted = self._insert(conn, key)
            if inserted:
                effect(conn)
        self.duplicates += not inserted
        return inserted

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the connection: committed, or rolled back on any
        exception (which is raised again)."""
        conn = self.connection
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:  # some SQLite errors end the transaction themselves
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def __len__(self) -> int:
        return self.connection.execute("SELECT COUNT(*) FROM edalab_handled").fetchone()[0]

    def close(self) -> None:
        """Close the connection (a second close does nothing)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __repr__(self) -> str:
        return f"SqliteIdempotencyStore({self.path!r}, max_ids={self.max_ids!r})"
