"""The shipped event-store conformance suite (`edalab.testing.eventstore`) on both backends,
`BACKENDS`: the in-memory store and SQLite in a temporary file; then what only SQLite
promises."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable

import pytest

from edalab import Event, EventError, StoreClosedError
from edalab.patterns.eventstore import (
    ConcurrencyError,
    EventStore,
    MemoryEventStore,
    SqliteEventStore,
)
from edalab.testing.eventstore import EventStoreSuite
from edalab.testing.samples import T0
from edalab.testing.samples import numbered_event as ev
from edalab.testing.samples import numbered_events as evs


def memory_backend(tmp_path, upcasters=None) -> EventStore:
    return MemoryEventStore(upcasters)


def sqlite_backend(tmp_path, upcasters=None) -> EventStore:
    return SqliteEventStore(tmp_path / "events.db", upcasters)


BACKENDS: dict[str, Callable[..., EventStore]] = {"memory": memory_backend,
                                                  "sqlite": sqlite_backend}


class TestMemoryEventStore(EventStoreSuite):
    @pytest.fixture
    def store(self, tmp_path):
        with memory_backend(tmp_path) as store:
            yield store


class TestSqliteEventStore(EventStoreSuite):
    @pytest.fixture
    def store(self, tmp_path):
        with sqlite_backend(tmp_path) as store:
            yield store

    def test_storage_refuses_a_duplicate_stream_version(self, tmp_path):
        store = SqliteEventStore(tmp_path / "e.db")
        store.append("a", evs(1), 0)
        con = sqlite3.connect(tmp_path / "e.db")
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            con.execute("INSERT INTO events (stream_id, version, recorded_at, id, type, source, "
                        "time) VALUES ('a', 1, 0, 'x', 't', '/s', 0)")
        con.close()
        store.close()

    def test_stores_attributes_as_columns_and_only_data_as_json(self, tmp_path):
        store = SqliteEventStore(tmp_path / "e.db")
        store.append("a", [ev(1, key="k"), Event("b", "/t", b"\x01", time=T0,
                                                 extensions={"schemaversion": 2})], 0)
        rows = store._con().execute(
            "SELECT id, key, time, typeof(time), data, typeof(data), extensions FROM events "
            "ORDER BY position").fetchall()
        store.close()
        assert rows[0] == ("e1", "k", 1_704_067_201_000_000, "integer", '{"i":1}', "text", None)
        assert rows[1][4:] == (b"\x01", "blob", '{"schemaversion":2}')

    def test_store_refuses_a_file_with_another_events_layout(self, tmp_path):
        con = sqlite3.connect(tmp_path / "old.db")
        con.execute("CREATE TABLE events (position INTEGER PRIMARY KEY, stream_id TEXT, "
                    "version INTEGER, recorded_at REAL, event TEXT)")
        con.close()
        with pytest.raises(ValueError, match="another layout"):
            SqliteEventStore(tmp_path / "old.db")

    def test_store_names_a_text_attribute_it_cannot_store(self, tmp_path):
        store = SqliteEventStore(tmp_path / "e.db")
        with pytest.raises(EventError, match="'subject'.*surrogate"):
            store.append("a", [ev(1), ev(2, subject="bad \ud800")], 0)
        assert store.head() == 0
        store.close()

    def test_store_uses_wal_and_is_shared_by_two_connections(self, tmp_path):
        one, two = SqliteEventStore(tmp_path / "e.db"), SqliteEventStore(tmp_path / "e.db")
        one.append("a", evs(1), 0)
        with pytest.raises(ConcurrencyError):
            two.append("a", evs(2), 0)
        assert two.read("a")[0].event == ev(1)
        assert one._con().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        one.close()
        two.close()

    def test_store_refuses_an_in_memory_path(self):
        with pytest.raises(ValueError, match="MemoryEventStore"):
            SqliteEventStore(":memory:")

    def test_subscription_sees_appends_from_another_connection(self, tmp_path):
        reader, writer = SqliteEventStore(tmp_path / "e.db"), SqliteEventStore(tmp_path / "e.db")
        sub = reader.subscribe()
        timer = threading.Timer(0.05, lambda: writer.append("a", evs(1, 2), 0))
        timer.start()
        got = sub.poll(timeout=5)
        assert [s.event.id for s in got] == ["e1", "e2"]
        timer.join()
        reader.close()
        writer.close()

    def test_store_closed_while_another_thread_appends_waits_for_that_append(self, tmp_path):
        # Closing a connection in the middle of another thread's statement crashed the
        # interpreter; `close` now waits for the statement and the writer gets StoreClosedError,
        # whether it was between statements or had taken its connection just before the close.
        store = SqliteEventStore(tmp_path / "e.db")
        errors: list[BaseException] = []

        def write():
            try:
                for i in range(1, 100_000):
                    store.append("a", [ev(i)], i - 1)
            except Exception as exc:  # noqa: BLE001 (the test checks what it is)
                errors.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        while store.head() < 50:
            time.sleep(0.001)
        store.close()
        writer.join(timeout=30)
        assert not writer.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], StoreClosedError), errors
        assert str(errors[0]) == f"SqliteEventStore({str(tmp_path / 'e.db')!r}) is closed"

    def test_store_used_after_close_raises_store_closed_error(self, tmp_path):
        store = SqliteEventStore(tmp_path / "e.db")
        store.append("a", evs(1), 0)
        sub = store.subscribe()
        store.close()
        calls = [lambda: store.append("a", evs(2), 1), lambda: store.read("a"), store.read_all,
                 store.head, store.streams, lambda: store.version("a"),
                 lambda: store.save_snapshot("a", 1, {}), lambda: store.load_snapshot("a"),
                 lambda: store.wait(5, 0.01), sub.poll]
        for call in calls:
            with pytest.raises(StoreClosedError, match="SqliteEventStore.*e.db'\\) is closed"):
                call()
        with pytest.raises(RuntimeError):  # the builtin base callers caught before
            store.head()
