"""Workers on NATS JetStream: several processes share a group; one is killed mid-stream; the
server restarts mid-stream. Real `nats-server` and real `edalab worker` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edalab import Event
from edalab.brokers.nats.broker import NatsBroker
from edalab.brokers.nats.server import NatsServer

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def ticks(n: int, keys: int = 64) -> list[Event]:
    return [Event("tick", "/tests", {"n": i}, key=f"k{i % keys}", id=f"t{i}",
                  time=T0 + timedelta(milliseconds=i)) for i in range(n)]


def worker(url: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "edalab.cli", "worker", "tests.brokers.nats_apps:relay",
         "--broker", url,
         "--ack-wait", "10", "--lease-ttl", "2", "--idle", "30", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


def count(broker: NatsBroker, topic: str) -> int:
    return sum(broker._run(broker._count(topic, p)) for p in range(broker.partitions(topic)))


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def first_occurrences_in_key_order(records) -> dict[str, int]:
    """Deduplicate by event id (an idempotent sink) and check per-key order."""
    seen: dict[str, int] = {}
    last: dict[str, int] = {}
    for r in records:  # each partition in log order; a key lives in one partition
        if r.event.id in seen:
            continue
        n = r.event.data["n"]
        seen[r.event.id] = n
        assert n > last.get(r.event.key, -1), f"key {r.event.key}: {n} after {last[r.event.key]}"
        last[r.event.key] = n
    return seen


@pytest.mark.slow
def test_worker_killed_mid_stream_loses_nothing_and_keeps_key_order():
    n = 100_000
    with NatsServer() as server:
        broker = NatsBroker(server.url)
        broker.create_topic("ticks", partitions=4)
        broker.create_topic("done", partitions=4)
        workers = [worker(server.url), worker(server.url)]
        try:
            events = ticks(n)
            for i in range(0, n, 10_000):
                broker.publish_many("ticks", events[i:i + 10_000])
            wait_until(lambda: count(broker, "done") >= n // 4, 120, "a quarter of the stream")
            workers[0].send_signal(signal.SIGKILL)  # no clean-up: leases and acks left behind
            workers[0].wait()
            wait_until(lambda: sum(broker.lag("ticks", "relay").values()) == 0, 240,
                       "the survivor to take over and drain")
        finally:
            for w in workers:
                if w.poll() is None:
                    w.send_signal(signal.SIGTERM)
            outputs = [w.communicate(timeout=60) for w in workers]
        assert workers[1].returncode == 0, outputs[1][1][-2000:]
        done = broker.read("done")
        assert len(done) >= n
        unique = first_occurrences_in_key_order(done)
        assert len(unique) == n and set(unique) == {e.id for e in events}
        broker.close()


def test_server_restart_loses_nothing_acknowledged(tmp_path):
    server = NatsServer(store_dir=tmp_path / "store").start()
    try:
        broker = NatsBroker(server.url, ack_wait=2.0)
        broker.create_topic("ticks", partitions=2)
        first = ticks(2000)
        broker.publish_many("ticks", first[:1000])
        consumer = broker.subscribe("ticks", group="g")
        got = []
        while len(got) < 500:
            batch = consumer.poll(100, timeout=1)
            got += [r.event.id for r in batch]
            consumer.ack(batch)
        server.stop()  # mid-stream: the client reconnects when the server is back
        server.start()
        broker.publish_many("ticks", first[1000:])
        # Acks are fire-and-forget: one sent while the connection was down is lost, and its
        # event comes again after ack_wait (at-least-once); drain until nothing is pending.
        deadline = time.monotonic() + 60
        while (len(set(got)) < 2000 or sum(broker.lag("ticks", "g").values())) \
                and time.monotonic() < deadline:
            batch = consumer.poll(200, timeout=1)
            got += [r.event.id for r in batch]
            consumer.ack(batch)
        assert set(got) == {e.id for e in first}
        assert sum(broker.lag("ticks", "g").values()) == 0
        broker.close()
    finally:
        server.cleanup()


def test_poison_event_is_dead_lettered_after_max_attempts():
    with NatsServer() as server:
        broker = NatsBroker(server.url)
        from edalab import App

        app = App(broker)

        @app.handler("orders", max_attempts=3)
        def strict(event):
            if event.data.get("amount") is None:
                raise ValueError("amount is missing")

        app.source("orders", [Event("order", "/shop", {"amount": 5}, id="ok", time=T0),
                              Event("order", "/shop", {}, id="poison", time=T0)])
        stats = app.run(timeout=60)
        [dead] = broker.read("orders.dlq")
        assert dead.event.id == "poison" and stats.dead_letters == 1
        assert dead.event.extensions["dlerror"] == "ValueError: amount is missing"
        assert dead.event.extensions["dlattempts"] == 3
        broker.close()
