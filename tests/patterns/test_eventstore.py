"""The event store conformance suite: every test runs against every backend in `BACKENDS`
(the in-memory store and SQLite in a temporary file)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from edalab import Event, EventError, StoreClosedError
from edalab.patterns.eventstore import (
    ConcurrencyError,
    EventStore,
    MemoryEventStore,
    SqliteEventStore,
    Upcasters,
    schema_version,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def memory_backend(tmp_path, upcasters=None) -> EventStore:
    return MemoryEventStore(upcasters)


def sqlite_backend(tmp_path, upcasters=None) -> EventStore:
    return SqliteEventStore(tmp_path / "events.db", upcasters)


BACKENDS: dict[str, Callable[..., EventStore]] = {"memory": memory_backend,
                                                  "sqlite": sqlite_backend}


@pytest.fixture(params=sorted(BACKENDS))
def make_store(request, tmp_path):
    stores = []

    def make(upcasters=None):
        stores.append(BACKENDS[request.param](tmp_path, upcasters))
        return stores[-1]
    yield make
    for s in stores:
        s.close()


@pytest.fixture
def store(make_store):
    return make_store()


def ev(i: int, type: str = "thing.happened", **kw) -> Event:
    return Event(type, "/tests", {"i": i}, id=f"e{i}", time=T0 + timedelta(seconds=i), **kw)


def evs(*numbers: int) -> list[Event]:
    return [ev(i) for i in numbers]


def test_append_assigns_stream_versions_and_global_positions(store):
    a = store.append("a", evs(1, 2), 0)
    b = store.append("b", evs(3), 0)
    c = store.append("a", evs(4), 2)
    assert [(s.stream_id, s.version, s.position) for s in a + b + c] == [
        ("a", 1, 1), ("a", 2, 2), ("b", 1, 3), ("a", 3, 4)]
    assert store.version("a") == 3 and store.version("b") == 1 and store.version("zz") == 0
    assert store.head() == 4 and store.streams() == ["a", "b"]


def test_read_returns_the_stored_events_in_version_order(store):
    store.append("a", evs(1, 2, 3), 0)
    store.append("b", evs(4), 0)
    stored = store.read("a")
    assert [s.event for s in stored] == evs(1, 2, 3)
    assert all(s.recorded_at.tzinfo is not None for s in stored)
    assert [s.version for s in store.read("a", from_version=2)] == [2, 3]
    assert [s.version for s in store.read("a", 1, to_version=2)] == [1, 2]
    assert store.read("missing") == []


def test_read_all_follows_the_global_order_from_a_position(store):
    store.append("a", evs(1, 2), 0)
    store.append("b", evs(3, 4), 0)
    assert [s.event.id for s in store.read_all()] == ["e1", "e2", "e3", "e4"]
    assert [s.position for s in store.read_all(from_position=2, limit=2)] == [2, 3]
    assert store.read_all(from_position=5) == []


def test_stale_expected_version_raises_and_writes_nothing(store):
    store.append("a", evs(1), 0)
    with pytest.raises(ConcurrencyError, match=r"'a'.*expected version 0.*version 1") as info:
        store.append("a", evs(2, 3), 0)
    assert (info.value.stream_id, info.value.expected, info.value.actual) == ("a", 0, 1)
    assert store.version("a") == 1 and store.head() == 1


def test_expected_version_ahead_of_the_stream_is_a_conflict(store):
    with pytest.raises(ConcurrencyError):
        store.append("a", evs(1), 3)
    assert store.head() == 0


def test_none_expected_version_appends_without_a_check(store):
    store.append("a", evs(1), None)
    assert [s.version for s in store.append("a", evs(2), None)] == [2]


def test_bad_arguments_raise_clear_errors(store):
    with pytest.raises(TypeError, match="stream_id"):
        store.append("", evs(1), 0)
    with pytest.raises(TypeError, match="edalab.Event"):
        store.append("a", [{"not": "an event"}], 0)
    with pytest.raises(TypeError, match="list of edalab.Event"):
        store.append("a", ev(1), 0)
    with pytest.raises(ValueError, match="expected_version"):
        store.append("a", evs(1), -1)
    with pytest.raises(ValueError, match="from_position"):
        store.read_all(0)


def test_unserialisable_event_data_is_rejected_and_nothing_is_written(store):
    bad = Event("x", "/t", {"when": object()})
    with pytest.raises(EventError, match="data"):
        store.append("a", [ev(1), bad], 0)
    assert store.head() == 0


def test_events_round_trip_through_cloudevents_json(store):
    e = Event("card.authorised", "/cards", {"amount": 12.5, "tags": ["a"]}, key="c1",
              subject="card-1", time=T0, id="x1", extensions={"schemaversion": 2})
    store.append("c1", [e], 0)
    assert store.read("c1")[0].event == e


def test_every_attribute_shape_round_trips_exactly(store):
    east = timezone(timedelta(hours=5, minutes=30))
    events = [
        Event("raw.bytes", "/t", b"\x00\xffpayload", id="b", time=T0,
              datacontenttype="application/octet-stream"),
        Event("no.data", "/t", None, id="n", time=datetime(1, 1, 1, tzinfo=UTC),
              datacontenttype=None),
        Event("text.data", "/t", "caf\u00e9 \U0001f600", id="s", subject="sub",
              time=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        Event("list.data", "/t", [1, 2.5, None, True, {"k": []}], id="l", key="k1",
              time=datetime(1969, 7, 20, 20, 17, 40, 123456, tzinfo=east),
              extensions={"schemaversion": 1, "flag": False, "origin": "lab"}),
    ]
    store.append("shapes", events, 0)
    read = [s.event for s in store.read("shapes")]
    assert read == events
    assert all(e.time.tzinfo is UTC for e in read)
    assert type(read[0].data) is bytes and read[3].extensions["flag"] is False


def test_snapshot_keeps_the_latest_state_per_stream(store):
    store.append("a", evs(1, 2, 3), 0)
    assert store.load_snapshot("a") is None
    store.save_snapshot("a", 2, {"total": 3})
    store.save_snapshot("a", 3, {"total": 6})
    snap = store.load_snapshot("a")
    assert (snap.stream_id, snap.version, snap.state) == ("a", 3, {"total": 6})
    snap.state["total"] = -1
    assert store.load_snapshot("a").state == {"total": 6}


def test_snapshot_beyond_the_stream_or_not_json_is_refused(store):
    store.append("a", evs(1), 0)
    with pytest.raises(ValueError, match="version 1; cannot snapshot version 2"):
        store.save_snapshot("a", 2, {})
    with pytest.raises(ValueError, match="JSON"):
        store.save_snapshot("a", 1, {"x": object()})
    with pytest.raises(TypeError, match="dict"):
        store.save_snapshot("a", 1, [1])


def test_upcasters_chain_old_versions_on_read_and_leave_history_alone(make_store):
    up = Upcasters({
        ("thing.happened", 1): lambda e: e.replace(id=e.id, data={"n": e.data["i"]}),
        ("thing.happened", 2): lambda e: e.replace(id=e.id, data={"n2": e.data["n"] * 2})})
    store = make_store(up)
    v2 = Event("thing.happened", "/tests", {"n": 2}, time=T0, extensions={"schemaversion": 2})
    store.append("a", [ev(1), v2, ev(3, type="other")], 0)
    got = [(s.event.data, schema_version(s.event)) for s in store.read("a")]
    assert got == [({"n2": 2}, 3), ({"n2": 4}, 3), ({"i": 3}, 1)]
    assert store.read_all()[0].event.data == {"n2": 2}
    store.upcasters = Upcasters()
    assert store.read("a")[0].event.data == {"i": 1}  # stored as written


def test_catch_up_subscription_replays_history_then_follows_live_appends(store):
    store.append("a", evs(1, 2), 0)
    sub = store.subscribe(from_position=2)
    assert [s.position for s in sub.poll()] == [2]
    assert sub.poll(timeout=0.01) == []

    def later():
        store.append("b", evs(3), 0)
    timer = threading.Timer(0.05, later)
    timer.start()
    assert [s.event.id for s in sub.poll(timeout=5)] == ["e3"]
    timer.join()
    assert sub.checkpoint == 3 and sub.lag() == 0


def test_subscription_iteration_stops_when_caught_up_with_zero_timeout(store):
    store.append("a", evs(*range(1, 8)), 0)
    sub = store.subscribe(timeout=0, batch_size=3)
    first = next(iter(sub))
    assert first.position == 1 and sub.lag() == 6
    assert [s.position for s in sub] == [2, 3, 4, 5, 6, 7]


def test_concurrent_writers_on_one_stream_never_share_a_version(store):
    errors, wins = [], []

    def writer(w: int) -> None:
        for i in range(20):
            while True:
                v = store.version("s")
                try:
                    store.append("s", [ev(w * 100 + i)], v)
                    wins.append(1)
                    break
                except ConcurrencyError:
                    errors.append(1)
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = store.read("s")
    assert [s.version for s in stored] == list(range(1, 81))
    assert [s.position for s in store.read_all()] == list(range(1, 81))
    assert len({s.event.id for s in stored}) == 80


def test_sqlite_storage_refuses_a_duplicate_stream_version(tmp_path):
    store = SqliteEventStore(tmp_path / "e.db")
    store.append("a", evs(1), 0)
    con = sqlite3.connect(tmp_path / "e.db")
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        con.execute("INSERT INTO events (stream_id, version, recorded_at, id, type, source, "
                    "time) VALUES ('a', 1, 0, 'x', 't', '/s', 0)")
    con.close()
    store.close()


def test_sqlite_stores_attributes_as_columns_and_only_data_as_json(tmp_path):
    store = SqliteEventStore(tmp_path / "e.db")
    store.append("a", [ev(1, key="k"), Event("b", "/t", b"\x01", time=T0,
                                             extensions={"schemaversion": 2})], 0)
    rows = store._con().execute(
        "SELECT id, key, time, typeof(time), data, typeof(data), extensions FROM events "
        "ORDER BY position").fetchall()
    store.close()
    assert rows[0] == ("e1", "k", 1_704_067_201_000_000, "integer", '{"i":1}', "text", None)
    assert rows[1][4:] == (b"\x01", "blob", '{"schemaversion":2}')


def test_sqlite_store_refuses_a_file_with_another_events_layout(tmp_path):
    con = sqlite3.connect(tmp_path / "old.db")
    con.execute("CREATE TABLE events (position INTEGER PRIMARY KEY, stream_id TEXT, "
                "version INTEGER, recorded_at REAL, event TEXT)")
    con.close()
    with pytest.raises(ValueError, match="another layout"):
        SqliteEventStore(tmp_path / "old.db")


def test_sqlite_store_names_a_text_attribute_it_cannot_store(tmp_path):
    store = SqliteEventStore(tmp_path / "e.db")
    with pytest.raises(EventError, match="'subject'.*surrogate"):
        store.append("a", [ev(1), ev(2, subject="bad \ud800")], 0)
    assert store.head() == 0
    store.close()


def test_sqlite_store_uses_wal_and_is_shared_by_two_connections(tmp_path):
    one, two = SqliteEventStore(tmp_path / "e.db"), SqliteEventStore(tmp_path / "e.db")
    one.append("a", evs(1), 0)
    with pytest.raises(ConcurrencyError):
        two.append("a", evs(2), 0)
    assert two.read("a")[0].event == ev(1)
    assert one._con().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    one.close()
    two.close()


def test_sqlite_store_refuses_an_in_memory_path():
    with pytest.raises(ValueError, match="MemoryEventStore"):
        SqliteEventStore(":memory:")


def test_sqlite_subscription_sees_appends_from_another_connection(tmp_path):
    reader, writer = SqliteEventStore(tmp_path / "e.db"), SqliteEventStore(tmp_path / "e.db")
    sub = reader.subscribe()
    timer = threading.Timer(0.05, lambda: writer.append("a", evs(1, 2), 0))
    timer.start()
    got = sub.poll(timeout=5)
    assert [s.event.id for s in got] == ["e1", "e2"]
    timer.join()
    reader.close()
    writer.close()


def test_sqlite_store_closed_while_another_thread_appends_waits_for_that_append(tmp_path):
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


def test_sqlite_store_used_after_close_raises_store_closed_error(tmp_path):
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
