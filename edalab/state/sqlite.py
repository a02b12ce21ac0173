"""`SQLiteState`: checkpoints in one SQLite file per app, so state survives a restart.

Two tables: ``state_values`` (store, partition, key, value) and ``state_checkpoints``
(store, partition, offset, epoch). A `claim` raises the epoch and reads the values in one
``BEGIN IMMEDIATE`` transaction; a `save` checks the epoch and writes the changes and the
offset in one, so a crash in the middle of a save writes nothing of it. WAL mode with
``synchronous=NORMAL``: a killed process loses no committed checkpoint.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "state.db")
>>> backend = SQLiteState(path)
>>> snap = backend.claim("counts", 0)
>>> backend.save("counts", 0, snap.epoch, 10, {"k1": b"3"})
3
>>> backend.close()
>>> again = SQLiteState(path)                # a new process would find it the same way
>>> again.claim("counts", 0)
Checkpoint(values={'k1': b'3'}, offset=10, epoch=2)
>>> again.close()
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from edalab.errors import StoreClosedError
from edalab.state.backend import Checkpoint, FencedError

__all__ = ["SQLiteState"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS state_values (
    store TEXT NOT NULL,
    partition INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (store, partition, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state_checkpoints (
    store TEXT NOT NULL,
    partition INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    PRIMARY KEY (store, partition)
);
"""
_HEAD = 'SELECT "offset", epoch FROM state_checkpoints WHERE store = ? AND partition = ?'
_VALUES = "SELECT key, value FROM state_values WHERE store = ? AND partition = ?"
_UPSERT_HEAD = ('INSERT INTO state_checkpoints (store, partition, "offset", epoch) '
                'VALUES (?, ?, ?, ?) ON CONFLICT (store, partition) DO UPDATE SET '
                '"offset" = excluded."offset", epoch = excluded.epoch')
_PUT = "INSERT OR REPLACE INTO state_values (store, partition, key, value) VALUES (?, ?, ?, ?)"
_DELETE = "DELETE FROM state_values WHERE store = ? AND partition = ? AND key = ?"
_SIZES = "SELECT key, length(value) FROM state_values WHERE store = ?"


class SQLiteState:
    """Checkpoints in an SQLite file: per (store, partition) its values, offset and epoch.

    Parameters
    ----------
    path
        The database file, created with its tables when absent (its directory must exist).
    busy_timeout
        Seconds a write waits for another connection's lock before giving up.

    One connection, guarded by a lock, so the App's thread and yours may share it; several
    processes may share the file (SQLite's lock serialises their writes).
    """

    name = "sqlite"

    def __init__(self, path: str | os.PathLike, *, busy_timeout: float = 30.0):
        self.path = _checked(path)
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._closed = False
        con = None
        try:
            con = self._con = sqlite3.connect(self.path, timeout=busy_timeout,
                                              isolation_level=None, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            if con is not None:
                con.close()
            raise OSError(f"{self!r} cannot be used: {exc} (is it an SQLite file this "
                          "process can write?)") from exc

    def __repr__(self) -> str:
        return f"SQLiteState({str(self.path)!r})"

    @contextlib.contextmanager
    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """The connection in one transaction, committed at the end, rolled back on an error;
        the file's own errors (locked, full) raised as an `OSError` naming it."""
        with self._lock:
            if self._closed:
                raise StoreClosedError(repr(self))
            con = self._con
            try:
                con.execute(begin)
                try:
                    yield con
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                locked = "locked" in str(exc)
                raise OSError(f"{self!r}: {exc}" + (
                    f" (another connection held it for more than {self.busy_timeout} s)"
                    if locked else "")) from exc

    def claim(self, store: str, partition: int) -> Checkpoint:
        with self._transaction() as con:  # BEGIN IMMEDIATE: no other writer in between
            offset, epoch = con.execute(_HEAD, (store, partition)).fetchone() or (0, 0)
            con.execute(_UPSERT_HEAD, (store, partition, offset, epoch + 1))
            values = dict(con.execute(_VALUES, (store, partition)).fetchall())
        return Checkpoint(values, offset, epoch + 1)

    def load(self, store: str, partition: int) -> Checkpoint:
        with self._transaction("BEGIN") as con:  # one read snapshot: head and values agree
            offset, epoch = con.execute(_HEAD, (store, partition)).fetchone() or (0, 0)
            values = dict(con.execute(_VALUES, (store, partition)).fetchall())
        return Checkpoint(values, offset, epoch)

    def save(self, store: str, partition: int, epoch: int, offset: int,
             changes: dict[str, bytes | None]) -> int:
        puts = [(store, partition, k, v) for k, v in changes.items() if v is not None]
        deletes = [(store, partition, k) for k, v in changes.items() if v is None]
        with self._transaction() as con:
            head = con.execute(_HEAD, (store, partition)).fetchone()
            current = head[1] if head else 0
            if epoch != current:
                raise FencedError(f"state {store!r} partition {partition}: claimed by epoch "
                                  f"{current} since this member's epoch {epoch}")
            con.executemany(_DELETE, deletes)
            con.executemany(_PUT, puts)
            con.execute(_UPSERT_HEAD, (store, partition, offset, epoch))
        return sum(len(k) + len(v) for _, _, k, v in puts)

    def size(self, store: str) -> int:
        with self._transaction("BEGIN") as con:
            rows = con.execute(_SIZES, (store,)).fetchall()
        return sum(len(k) + n for k, n in rows)  # len in Python: SQL's stops at a NUL

    def close(self) -> None:
        """Close the file (a second call does nothing); later calls raise
        `StoreClosedError`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._con.close()


def _checked(path: str | os.PathLike) -> Path:
    """`path` as a Path; an error naming it when its directory is missing or cannot be
    written."""
    text = os.fspath(path)
    if not isinstance(text, str) or text in ("", ":memory:") or text.startswith("file:"):
        raise ValueError(f"SQLiteState needs a file path, got {text!r} (use MemoryState for "
                         "state in memory)")
    folder = Path(text).parent
    if not folder.is_dir():
        raise FileNotFoundError(f"SQLiteState {text!r}: its directory {str(folder)!r} does "
                                "not exist (or is not a directory)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"SQLiteState {text!r}: its directory {str(folder)!r} "
                              "cannot be written")
    return Path(text)
