"""The outbox loses nothing when its writer is SIGKILLed: a writer process (SQLite event store,
`OutboxRelay` to a real NATS server) is killed once between committing an order and publishing
its payment, and once between publishing a payment and marking it sent. After a restart every
payment is on the broker, and a consumer that deduplicates by event id applies each once.

The writer freezes itself at the exact point (and says so on stdout) so the test kills it
there every time, not just often."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import pytest

from edalab.patterns.eventstore import SqliteEventStore
from edalab.resilience import MemoryIdempotencyStore

WRITER = """
import sys, time
from edalab import Event
from edalab.brokers.nats.broker import NatsBroker
from edalab.patterns.eventstore import SqliteEventStore
from edalab.patterns.outbox import OutboxRelay

path, url, freeze = sys.argv[1], sys.argv[2], sys.argv[5]
first, last = int(sys.argv[3]), int(sys.argv[4])
store, broker = SqliteEventStore(path), NatsBroker(url)
relay = OutboxRelay(store, broker)
publish_many = broker.publish_many

def publish_then_freeze(topic, events):
    n = publish_many(topic, events)
    if any(e.id == f"pay-{last}" for e in events):
        print("frozen after publish", flush=True)
        time.sleep(60)
    return n

if freeze == "after-publish":
    broker.publish_many = publish_then_freeze
for i in range(first, last + 1):
    order = Event("order.placed", "/shop", {"order": i}, key=f"o{i}")
    payment = Event("payment.requested", "/shop", {"order": i}, key=f"o{i}", id=f"pay-{i}")
    store.append(f"order-{i}", [order], 0, outbox=[("payments", payment)])
    if i == last and freeze == "after-commit":
        print("frozen after commit", flush=True)
        time.sleep(60)
    relay.run_once()
broker.close()
store.close()
print("done", flush=True)
"""


def writer(path, url: str, first: int, last: int, freeze: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), url, str(first),
                             str(last), freeze], stdout=subprocess.PIPE, text=True)


def kill_when(process: subprocess.Popen, line: str) -> None:
    """SIGKILL `process` as soon as it prints `line`."""
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, f"the writer never printed {line!r}"
        assert process.stdout.readline() == line + "\n"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_writer_killed_between_commit_and_publish_loses_no_outgoing_event(tmp_path,
                                                                          nats_broker):
    path = tmp_path / "orders.db"
    SqliteEventStore(path).close()
    nats_broker.create_topic("payments", partitions=2)
    url = nats_broker.url

    kill_when(writer(path, url, 0, 9, "after-commit"), "frozen after commit")
    with SqliteEventStore(path) as store:  # order 9 committed, its payment not published
        assert store.version("order-9") == 1
        assert [e.event.id for e in store.pending()] == ["pay-9"]
    kill_when(writer(path, url, 10, 19, "after-publish"), "frozen after publish")
    restart = writer(path, url, 20, 24, "none")  # publishes pay-19 again, then 20..24
    assert restart.communicate(timeout=60)[0] == "done\n" and restart.returncode == 0

    with SqliteEventStore(path) as store:
        assert store.pending() == []
    published = [r.event.id for r in nats_broker.read("payments")]
    assert sorted(set(published)) == sorted(f"pay-{i}" for i in range(25))
    assert published.count("pay-19") == 2 and len(published) == 26  # at least once

    consumer = nats_broker.subscribe("payments", group="ledger")
    seen, applied = MemoryIdempotencyStore(), []
    deadline = time.monotonic() + 30
    while len(applied) + seen.duplicates < len(published) and time.monotonic() < deadline:
        batch = consumer.poll(max_events=100, timeout=1.0)
        for record in batch:
            seen.apply_once(record.event.id, lambda e=record.event: applied.append(e.id))
        consumer.ack(batch)
    consumer.close()
    assert sorted(applied) == sorted(f"pay-{i}" for i in range(25))  # each applied once
    assert seen.duplicates == 1
