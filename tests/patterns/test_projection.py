"""Projections: read models with a checkpoint, from an event store or a broker topic; a
rebuild from zero equals the live model; staleness is measured in events and seconds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edalab import Event, MemoryBroker
from edalab.patterns.eventstore import MemoryEventStore, SqliteEventStore
from edalab.patterns.projection import FrameReadModel, Projection, SqliteReadModel

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def tx(card: str, amount: float, type: str = "card.authorised") -> Event:
    return Event(type, "/cards", {"amount": amount}, key=card, time=T0)


def spend(rows, event):
    row = rows.get(event.key) or {"n": 0, "total": 0.0}
    rows.put(event.key, {"n": row["n"] + 1, "total": row["total"] + event.data["amount"]})


@pytest.fixture(params=["frame", "sqlite"])
def model(request, tmp_path):
    if request.param == "frame":
        return FrameReadModel()
    return SqliteReadModel(tmp_path / "read.db", "spend", ["n", "total"])


def fill(store, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        store.append(f"c{i % 3}", [tx(f"c{i % 3}", float(i))], None)


def test_projection_builds_rows_and_checkpoints_the_global_position(model):
    store = MemoryEventStore()
    fill(store, 6)
    p = Projection(spend, model)
    assert p.run(store, batch_size=4) == 6
    assert p.checkpoint == 6
    assert model.to_frame().to_dict("index") == {
        "c0": {"n": 2, "total": 3.0}, "c1": {"n": 2, "total": 5.0}, "c2": {"n": 2, "total": 7.0}}


def test_projection_resumes_from_its_checkpoint(model):
    store = MemoryEventStore()
    fill(store, 4)
    p = Projection(spend, model)
    p.run(store)
    fill(store, 2, start=4)
    assert p.run(store) == 2 and p.checkpoint == 6
    assert model.get("c1") == {"n": 2, "total": 5.0}


def test_rebuild_from_zero_equals_the_live_read_model(model):
    store = MemoryEventStore()
    p = Projection(spend, model)
    for k in range(3):
        fill(store, 5, start=5 * k)
        p.run(store, batch_size=2)
    live = model.to_frame()
    assert p.rebuild(store) == 15
    assert model.to_frame().equals(live) and p.checkpoint == 15


def test_lag_counts_pending_events_and_their_age():
    now = [T0.timestamp()]
    store = MemoryEventStore()
    fill(store, 5)
    p = Projection(spend, clock=lambda: now[0])
    now[0] = store.read_all()[0].recorded_at.timestamp() + 30.0
    assert p.lag(store).events == 5 and p.lag(store).seconds == pytest.approx(30.0, abs=1e-3)
    p.run(store, max_events=3)
    assert p.lag(store).events == 2
    p.run(store)
    assert tuple(p.lag(store)) == (0, 0.0)
    frame = p.lag_frame()
    assert frame["checkpoint"].tolist() == [3, 5] and frame["lag_events"].tolist() == [2, 0]


def test_sqlite_read_model_commits_rows_and_checkpoint_together(tmp_path):
    store = SqliteEventStore(tmp_path / "events.db")
    fill(store, 4)
    model = SqliteReadModel(tmp_path / "events.db", "spend", ["n", "total"])

    def failing(rows, event):
        spend(rows, event)
        if event.data["amount"] == 3.0:
            raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        Projection(failing, model).run(store, batch_size=2)
    assert model.checkpoint == 2 and sorted(model.rows()) == ["c0", "c1"]
    assert model.get("c2") is None  # the failed batch's staged rows are gone too
    again = SqliteReadModel(tmp_path / "events.db", "spend", ["n", "total"])
    assert Projection(spend, again).run(store) == 2 and again.checkpoint == 4
    store.close()


def test_sqlite_read_model_refuses_unknown_columns_and_bad_names(tmp_path):
    model = SqliteReadModel(tmp_path / "r.db", "t", ["a", "limit"])
    model.put("k", {"b": 1})
    with pytest.raises(ValueError, match=r"no column\(s\) \['b'\]"):
        model.commit(1)
    with pytest.raises(ValueError, match="identifier"):
        SqliteReadModel(tmp_path / "r.db", "t; DROP", ["a"])


def test_types_filter_skips_other_events_but_moves_the_checkpoint():
    store = MemoryEventStore()
    store.append("c0", [tx("c0", 1.0), tx("c0", 9.0, type="card.declined")], 0)
    p = Projection(spend, types=["card.authorised"])
    p.run(store)
    assert p.checkpoint == 2 and p.model.get("c0") == {"n": 1, "total": 1.0}


def test_topic_projection_checkpoints_by_committed_offset_and_rebuilds(model):
    broker = MemoryBroker()
    broker.create_topic("tx", partitions=2)
    broker.publish_many("tx", [tx(f"c{i % 3}", float(i)) for i in range(6)])
    p = Projection(spend, model, name="spend")
    assert p.run_topic(broker, "tx", batch_size=4, max_events=4) == 4
    assert p.topic_lag(broker, "tx") == 2
    p.run_topic(broker, "tx")
    live = model.to_frame()
    assert p.topic_lag(broker, "tx") == 0 and live["n"].sum() == 6
    assert p.rebuild_topic(broker, "tx") == 6 and model.to_frame().equals(live)
