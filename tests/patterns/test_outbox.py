"""The transactional outbox on both event stores and `OutboxRelay`: outgoing events commit with
the state change (both or neither) and are published in order, at least once."""

from __future__ import annotations

import threading
import time

import pytest

from edalab import Event, EventError, MemoryBroker
from edalab.brokers.base import UnknownTopicError
from edalab.patterns.eventstore import ConcurrencyError, SqliteEventStore
from edalab.patterns.outbox import OutboxRelay
from edalab.testing.samples import T0
from tests.patterns.test_eventstore import BACKENDS


@pytest.fixture(params=sorted(BACKENDS))
def store(request, tmp_path):
    store = BACKENDS[request.param](tmp_path)
    yield store
    store.close()


def placed(i: int) -> Event:
    return Event("order.placed", "/shop", {"order": i}, key=f"o{i}", id=f"placed-{i}")


def pay(i: int, topic: str = "payments") -> tuple[str, Event]:
    return topic, Event("payment.requested", "/shop", {"order": i}, key=f"o{i}", id=f"pay-{i}",
                        time=T0, extensions={"trace": f"t{i}"})


def test_append_with_outbox_keeps_the_outgoing_events_pending_in_order(store):
    store.append("o1", [placed(1)], 0, outbox=[pay(1), pay(2, "mail")])
    store.append("o3", [placed(3)], 0, outbox=[pay(3)])
    pending = store.pending()
    assert [(e.seq, e.topic, e.event.id) for e in pending] == [
        (1, "payments", "pay-1"), (2, "mail", "pay-2"), (3, "payments", "pay-3")]
    assert pending[0].event == pay(1)[1]  # the event round-trips exactly
    assert [e.event.id for e in store.pending(limit=2)] == ["pay-1", "pay-2"]
    assert store.mark_sent(2) == 2 and store.mark_sent(2) == 0
    assert [e.seq for e in store.pending()] == [3]


def test_conflicting_append_writes_no_outbox_entry(store):
    store.append("o1", [placed(1)], 0)
    with pytest.raises(ConcurrencyError):
        store.append("o1", [placed(2)], 0, outbox=[pay(2)])
    assert store.pending() == [] and store.version("o1") == 1


def test_outbox_event_with_unstorable_data_writes_nothing(store):
    bad = Event("payment.requested", "/shop", {"when": object()}, id="bad")
    with pytest.raises(EventError):
        store.append("o1", [placed(1)], 0, outbox=[("payments", bad)])
    assert store.pending() == [] and store.version("o1") == 0


@pytest.mark.parametrize("outbox, problem", [
    (pay(1), "outbox must be a list"),
    ([("payments", {"order": 1})], r"outbox\[0\] must be a \(topic, edalab.Event\) pair"),
    ([("", pay(1)[1])], r"outbox\[0\] must be .* non-empty topic"),
])
def test_bad_outbox_is_refused_naming_the_item(store, outbox, problem):
    with pytest.raises(TypeError, match=problem):
        store.append("o1", [placed(1)], 0, outbox=outbox)
    assert store.pending() == [] and store.version("o1") == 0


def test_an_outbox_alone_needs_no_stream_events(store):
    store.append("o1", [], None, outbox=[pay(1)])
    assert [e.event.id for e in store.pending()] == ["pay-1"] and store.head() == 0


def test_sqlite_outbox_survives_reopening_the_file(tmp_path):
    with SqliteEventStore(tmp_path / "events.db") as store:
        store.append("o1", [placed(1)], 0, outbox=[pay(1), pay(2)])
        store.mark_sent(1)
    with SqliteEventStore(tmp_path / "events.db") as again:
        assert [e.event.id for e in again.pending()] == ["pay-2"]


def test_relay_publishes_in_order_across_topics_and_marks_sent(store):
    broker = MemoryBroker()
    broker.create_topic("payments")
    broker.create_topic("mail")
    for i in range(1, 6):
        store.append(f"o{i}", [placed(i)], 0, outbox=[pay(i, "mail" if i == 3 else "payments")])
    relay = OutboxRelay(store, broker, batch_size=2)
    assert [relay.run_once() for _ in range(4)] == [2, 2, 1, 0]
    assert [r.event.id for r in broker.read("payments")] == ["pay-1", "pay-2", "pay-4", "pay-5"]
    assert [r.event.id for r in broker.read("mail")] == ["pay-3"]
    assert store.pending() == [] and relay.published == 5


def test_relay_failure_midway_republishes_only_what_was_not_marked(store):
    broker = MemoryBroker()
    broker.create_topic("payments")  # "mail" is missing: its publish fails
    store.append("o1", [placed(1)], 0, outbox=[pay(1), pay(2), pay(3, "mail"), pay(4)])
    relay = OutboxRelay(store, broker)
    with pytest.raises(UnknownTopicError):
        relay.run_once()
    assert [e.event.id for e in store.pending()] == ["pay-3", "pay-4"]
    broker.create_topic("mail")
    assert relay.run_once() == 2
    assert [r.event.id for r in broker.read("payments")] == ["pay-1", "pay-2", "pay-4"]
    assert [r.event.id for r in broker.read("mail")] == ["pay-3"]


def test_relay_run_follows_appends_until_stopped(store):
    broker = MemoryBroker()
    broker.create_topic("payments")
    relay = OutboxRelay(store, broker, interval=0.01)
    stop = threading.Event()
    runner = threading.Thread(target=relay.run, args=(stop,))
    runner.start()
    try:
        for i in range(1, 4):
            store.append(f"o{i}", [placed(i)], 0, outbox=[pay(i)])
        deadline = time.monotonic() + 10
        while len(broker.read("payments")) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        runner.join(5)
    assert not runner.is_alive()
    assert [r.event.id for r in broker.read("payments")] == ["pay-1", "pay-2", "pay-3"]


def test_relay_run_ends_when_the_outbox_stays_empty_for_idle_seconds(store):
    broker = MemoryBroker()
    broker.create_topic("payments")
    store.append("o1", [placed(1)], 0, outbox=[pay(1)])
    started = time.monotonic()
    assert OutboxRelay(store, broker, interval=0.01).run(idle=0.1) == 1
    assert 0.1 <= time.monotonic() - started < 5


@pytest.mark.parametrize("kwargs, problem", [({"batch_size": 0}, "batch_size must be"),
                                             ({"interval": -1}, "interval must be")])
def test_relay_refuses_bad_settings(kwargs, problem):
    from edalab.patterns.eventstore import MemoryEventStore

    with pytest.raises(ValueError, match=problem):
        OutboxRelay(MemoryEventStore(), MemoryBroker(), **kwargs)
