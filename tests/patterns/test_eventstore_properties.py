"""Property-based (hypothesis): under random interleavings of writers with stale views, the
store never holds two events at one (stream, version) and every reader sees each stream in
version order; state rebuilt by replay equals state built live; a projection rebuilt from zero
equals the live one; the fast serialiser writes exactly `Event.to_json`."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from edalab import Event
from edalab.patterns.aggregate import CommandError, Repository
from edalab.patterns.eventstore import ConcurrencyError, MemoryEventStore, SqliteEventStore
from edalab.patterns.examples import CardAccount
from edalab.patterns.projection import Projection

T0 = datetime(2024, 1, 1, tzinfo=UTC)
STREAMS = ["a", "b", "c"]

# A step: (writer, stream, reload first?, events in the batch).
steps = st.lists(st.tuples(st.integers(0, 2), st.sampled_from(STREAMS), st.booleans(),
                           st.integers(1, 4)), min_size=1, max_size=30)


def run_writers(stores, schedule) -> tuple[int, int]:
    """Writers (one per store object: one connection each for SQLite) act in the drawn order,
    each appending with the version it last loaded. Returns (appended, conflicts)."""
    views = [dict.fromkeys(STREAMS, 0) for _ in stores]
    appended = conflicts = n = 0
    for writer, stream, reload, count in schedule:
        store = stores[writer % len(stores)]
        if reload:
            views[writer % len(stores)][stream] = store.version(stream)
        seen = views[writer % len(stores)][stream]
        actual = store.version(stream)
        batch = [Event("x", "/w", {"w": writer, "n": n + i}, key=stream, time=T0)
                 for i in range(count)]
        n += count
        try:
            store.append(stream, batch, seen)
        except ConcurrencyError as exc:
            assert seen != actual and exc.actual == actual
            conflicts += 1
            assert store.version(stream) == actual  # nothing written
            continue
        assert seen == actual
        views[writer % len(stores)][stream] = seen + count
        appended += count
    return appended, conflicts


def check_store(store, appended: int) -> None:
    everything = store.read_all()
    assert [s.position for s in everything] == list(range(1, appended + 1))
    keys = [(s.stream_id, s.version) for s in everything]
    assert len(set(keys)) == len(keys)
    for stream in STREAMS:
        versions = [s.version for s in store.read(stream)]
        assert versions == list(range(1, store.version(stream) + 1))
        assert [v for sid, v in keys if sid == stream] == versions  # global order agrees


@settings(max_examples=40, deadline=None)
@given(steps)
def test_memory_writers_never_share_a_version_and_readers_see_version_order(schedule):
    store = MemoryEventStore()
    appended, _ = run_writers([store], schedule)
    check_store(store, appended)


@settings(max_examples=15, deadline=None)
@given(steps)
def test_sqlite_writers_on_separate_connections_never_share_a_version(schedule):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.db"
        stores = [SqliteEventStore(path) for _ in range(3)]
        appended, _ = run_writers(stores, schedule)
        check_store(SqliteEventStore(path), appended)
        for s in stores:
            s.close()


commands = st.lists(st.one_of(
    st.tuples(st.just("authorise"), st.floats(0.5, 80.0, allow_nan=False)),
    st.tuples(st.just("flag"), st.floats(0.0, 1.0, allow_nan=False)),
    st.tuples(st.just("block"), st.just(0.0)),
    st.tuples(st.just("unblock"), st.just(0.0)),
), max_size=25)


@settings(max_examples=40, deadline=None)
@given(commands, st.sampled_from([None, 1, 3]))
def test_state_rebuilt_by_replay_equals_state_built_live(cmds, snapshot_every):
    store = MemoryEventStore()
    repo = Repository(store, CardAccount, snapshot_every=snapshot_every)
    live = repo.load("card")
    repo.save(live, live.open(200.0, at=T0))
    history = [(live.version, dict(live.state))]
    for name, x in cmds:
        args = {"authorise": (round(x, 2), "m"), "flag": (x, "model"),
                "block": ("manual",)}.get(name, ())
        try:
            repo.save(live, getattr(live, name)(*args, at=T0))
        except CommandError:
            continue
        history.append((live.version, dict(live.state)))
    assert repo.load("card").state == live.state
    assert CardAccount.replay("card", [s.event for s in store.read("card")]).state == live.state
    # Time travel: every past version rebuilds the state the aggregate had then.
    assert all(repo.load("card", version=v).state == state for v, state in history)


def spend(rows, event):
    row = rows.get(event.key) or {"n": 0, "total": 0}
    rows.put(event.key, {"n": row["n"] + 1, "total": row["total"] + event.data})


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.lists(st.tuples(st.sampled_from(STREAMS), st.integers(0, 9)),
                                   max_size=6), st.integers(1, 5)), max_size=12))
def test_projection_rebuilt_from_zero_equals_the_live_one(rounds):
    store = MemoryEventStore()
    live = Projection(spend)
    for appends, batch_size in rounds:
        for stream, amount in appends:
            store.append(stream, [Event("x", "/p", amount, key=stream, time=T0)], None)
        live.run(store, batch_size=batch_size)
    rebuilt = Projection(spend)
    rebuilt.run(store)
    assert rebuilt.model.rows() == live.model.rows()
    assert rebuilt.checkpoint == live.checkpoint == store.head()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3), max_leaves=8)


extension_names = st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True).filter(
    lambda name: name not in {"specversion", "id", "source", "type", "subject", "time", "data",
                              "datacontenttype", "dataschema", "partitionkey"})
events = st.builds(
    Event, type=st.text(min_size=1, max_size=6), source=st.text(min_size=1, max_size=6),
    data=json_values | st.binary(max_size=8), key=st.none() | st.text(min_size=1, max_size=6),
    time=st.datetimes(timezones=st.just(UTC)), id=st.text(min_size=1, max_size=6),
    subject=st.none() | st.text(min_size=1, max_size=6),
    datacontenttype=st.none() | st.just("application/json"),
    extensions=st.none() | st.dictionaries(extension_names, st.text(max_size=4)
                                           | st.integers(-2**63, 2**63 - 1) | st.booleans(),
                                           max_size=3))


@settings(max_examples=60, deadline=None)
@given(st.lists(events, min_size=1, max_size=5))
def test_sqlite_rows_rebuild_every_event_exactly(batch):
    with tempfile.TemporaryDirectory() as folder, \
            SqliteEventStore(Path(folder) / "events.db") as store:
        store.append("s", batch, 0)
        read = [s.event for s in store.read_all()]
    assert read == batch
    assert [(e.time.tzinfo, type(e.data)) for e in read] == [(UTC, type(e.data)) for e in batch]
