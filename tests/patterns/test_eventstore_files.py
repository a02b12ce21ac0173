"""A SQLite event store file that cannot be used gives an `EventStoreFileError` naming it.

The files are real: random bytes, an immutable file or directory (``chattr +i``, which stops
root too, unlike ``chmod``), a database another connection holds locked.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edalab import Event
from edalab.patterns.eventstore import EventStoreFileError, SqliteEventStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def event() -> Event:
    return Event("ward.admitted", "/ward", {"bed": 7}, time=T0)


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """`path` made immutable for the block: no process may write it, root included."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed: an unwritable file cannot be made for root")
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode:
        pytest.skip(f"this file system has no immutable files: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_corrupt_file_raises_an_error_naming_it(tmp_path):
    path = tmp_path / "events.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(EventStoreFileError, match="not an SQLite database") as caught:
        SqliteEventStore(path)
    assert str(path) in str(caught.value) and caught.value.path == str(path)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_a_read_only_file_refuses_appends_naming_it(tmp_path):
    path = tmp_path / "events.db"
    with SqliteEventStore(path) as store:
        store.append("ward-3", [event()], 0)
    with immutable(path), SqliteEventStore(path) as store:
        assert len(store.read("ward-3")) == 1  # reading still works
        with pytest.raises(EventStoreFileError, match="read-only") as caught:
            store.append("ward-3", [event()], 1)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)


def test_a_store_cannot_be_created_in_a_read_only_directory(tmp_path):
    path = tmp_path / "events.db"
    with immutable(tmp_path), pytest.raises(EventStoreFileError,
                                            match="cannot be opened or created") as caught:
        SqliteEventStore(path)
    assert str(path) in str(caught.value)


def test_a_file_locked_past_the_busy_timeout_raises_naming_it(tmp_path):
    path = tmp_path / "events.db"
    SqliteEventStore(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with SqliteEventStore(path, busy_timeout=0.05) as store, \
                pytest.raises(EventStoreFileError, match="locked by another connection"):
            store.append("ward-3", [event()], 0)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with SqliteEventStore(path) as store:  # nothing was written, the file is fine
        assert store.append("ward-3", [event()], 0)[0].version == 1


def test_the_error_is_an_os_error_and_survives_pickling():
    error = pickle.loads(pickle.dumps(EventStoreFileError("/data/e.db", "read-only")))
    assert isinstance(error, OSError)
    assert (error.path, error.problem, str(error)) == (
        "/data/e.db", "read-only", "event store '/data/e.db': read-only")
