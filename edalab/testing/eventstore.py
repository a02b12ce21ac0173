"""The event-store conformance suite: what every edalab event store must do (streams with a
global order, optimistic concurrency, snapshots, upcasting, catch-up subscriptions), as pytest
tests a new backend runs by providing one fixture.

Subclass `EventStoreSuite` in a test module (a class whose name starts with ``Test``) and give
it a ``store`` fixture that yields a fresh, empty `EventStore` and closes it afterwards; pytest
then runs every test of the suite on that backend (the recorder test case of eventsourcing,
for edalab). edalab's own tests run it on `MemoryEventStore` and `SqliteEventStore` this way.

This is a testing module: it imports pytest (in edalab's ``test`` extra), no plugin.

Example: a test module for a SQLite store in a temporary folder, run by pytest in another
process with no plugin loaded:

>>> module = \'\'\'
... import pytest
... from edalab.patterns.eventstore import SqliteEventStore
... from edalab.testing.eventstore import EventStoreSuite
...
... class TestMyStore(EventStoreSuite):
...     @pytest.fixture
...     def store(self, tmp_path):
...         with SqliteEventStore(tmp_path / "events.db") as store:
...             yield store
... \'\'\'
>>> import os, subprocess, sys, tempfile
>>> from pathlib import Path
>>> with tempfile.TemporaryDirectory() as folder:
...     _ = (Path(folder) / "test_my_store.py").write_text(module)
...     run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
...                          cwd=folder, capture_output=True, text=True,
...                          env=os.environ | {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
>>> run.returncode, run.stdout.splitlines()[-1]  # doctest: +ELLIPSIS
(0, '16 passed in ...')
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from edalab.events import Event, EventError
from edalab.patterns.eventstore import ConcurrencyError, Upcasters, schema_version
from edalab.testing.samples import T0
from edalab.testing.samples import numbered_event as ev
from edalab.testing.samples import numbered_events as evs

__all__ = ["EventStoreSuite"]


class EventStoreSuite:
    """The conformance tests; a subclass named ``Test…`` provides the ``store`` fixture."""

    def test_append_assigns_stream_versions_and_global_positions(self, store):
        a = store.append("a", evs(1, 2), 0)
        b = store.append("b", evs(3), 0)
        c = store.append("a", evs(4), 2)
        assert [(s.stream_id, s.version, s.position) for s in a + b + c] == [
            ("a", 1, 1), ("a", 2, 2), ("b", 1, 3), ("a", 3, 4)]
        assert store.version("a") == 3 and store.version("b") == 1 and store.version("zz") == 0
        assert store.head() == 4 and store.streams() == ["a", "b"]

    def test_read_returns_the_stored_events_in_version_order(self, store):
        store.append("a", evs(1, 2, 3), 0)
        store.append("b", evs(4), 0)
        stored = store.read("a")
        assert [s.event for s in stored] == evs(1, 2, 3)
        assert all(s.recorded_at.tzinfo is not None for s in stored)
        assert [s.version for s in store.read("a", from_version=2)] == [2, 3]
        assert [s.version for s in store.read("a", 1, to_version=2)] == [1, 2]
        assert store.read("missing") == []

    def test_read_all_follows_the_global_order_from_a_position(self, store):
        store.append("a", evs(1, 2), 0)
        store.append("b", evs(3, 4), 0)
        assert [s.event.id for s in store.read_all()] == ["e1", "e2", "e3", "e4"]
        assert [s.position for s in store.read_all(from_position=2, limit=2)] == [2, 3]
        assert store.read_all(from_position=5) == []

    def test_stale_expected_version_raises_and_writes_nothing(self, store):
        store.append("a", evs(1), 0)
        with pytest.raises(ConcurrencyError, match=r"'a'.*expected version 0.*version 1") as info:
            store.append("a", evs(2, 3), 0)
        assert (info.value.stream_id, info.value.expected, info.value.actual) == ("a", 0, 1)
        assert store.version("a") == 1 and store.head() == 1

    def test_expected_version_ahead_of_the_stream_is_a_conflict(self, store):
        with pytest.raises(ConcurrencyError):
            store.append("a", evs(1), 3)
        assert store.head() == 0

    def test_none_expected_version_appends_without_a_check(self, store):
        store.append("a", evs(1), None)
        assert [s.version for s in store.append("a", evs(2), None)] == [2]

    def test_bad_arguments_raise_clear_errors(self, store):
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

    def test_unserialisable_event_data_is_rejected_and_nothing_is_written(self, store):
        bad = Event("x", "/t", {"when": object()})
        with pytest.raises(EventError, match="data"):
            store.append("a", [ev(1), bad], 0)
        assert store.head() == 0

    def test_events_round_trip_through_cloudevents_json(self, store):
        e = Event("card.authorised", "/cards", {"amount": 12.5, "tags": ["a"]}, key="c1",
                  subject="card-1", time=T0, id="x1", extensions={"schemaversion": 2})
        store.append("c1", [e], 0)
        assert store.read("c1")[0].event == e

    def test_every_attribute_shape_round_trips_exactly(self, store):
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

    def test_snapshot_keeps_the_latest_state_per_stream(self, store):
        store.append("a", evs(1, 2, 3), 0)
        assert store.load_snapshot("a") is None
        store.save_snapshot("a", 2, {"total": 3})
        store.save_snapshot("a", 3, {"total": 6})
        snap = store.load_snapshot("a")
        assert (snap.stream_id, snap.version, snap.state) == ("a", 3, {"total": 6})
        snap.state["total"] = -1
        assert store.load_snapshot("a").state == {"total": 6}

    def test_snapshot_beyond_the_stream_or_not_json_is_refused(self, store):
        store.append("a", evs(1), 0)
        with pytest.raises(ValueError, match="version 1; cannot snapshot version 2"):
            store.save_snapshot("a", 2, {})
        with pytest.raises(ValueError, match="JSON"):
            store.save_snapshot("a", 1, {"x": object()})
        with pytest.raises(TypeError, match="dict"):
            store.save_snapshot("a", 1, [1])

    def test_upcasters_chain_old_versions_on_read_and_leave_history_alone(self, store):
        store.upcasters = Upcasters({
            ("test.event", 1): lambda e: e.replace(id=e.id, data={"n": e.data["i"]}),
            ("test.event", 2): lambda e: e.replace(id=e.id, data={"n2": e.data["n"] * 2})})
        v2 = Event("test.event", "/tests", {"n": 2}, time=T0, extensions={"schemaversion": 2})
        store.append("a", [ev(1), v2, ev(3, type="other")], 0)
        got = [(s.event.data, schema_version(s.event)) for s in store.read("a")]
        assert got == [({"n2": 2}, 3), ({"n2": 4}, 3), ({"i": 3}, 1)]
        assert store.read_all()[0].event.data == {"n2": 2}
        store.upcasters = Upcasters()
        assert store.read("a")[0].event.data == {"i": 1}  # stored as written

    def test_catch_up_subscription_replays_history_then_follows_live_appends(self, store):
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

    def test_subscription_iteration_stops_when_caught_up_with_zero_timeout(self, store):
        store.append("a", evs(*range(1, 8)), 0)
        sub = store.subscribe(timeout=0, batch_size=3)
        first = next(iter(sub))
        assert first.position == 1 and sub.lag() == 6
        assert [s.position for s in sub] == [2, 3, 4, 5, 6, 7]

    def test_concurrent_writers_on_one_stream_never_share_a_version(self, store):
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
