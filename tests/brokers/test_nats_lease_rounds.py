"""Lease traffic of a NATS group member: one membership round per renewal period, whether the
heartbeat or a poll runs it (a real `nats-server`; rounds counted as writes to the lease
bucket's stream, which the server numbers)."""

from __future__ import annotations

import time

from edalab.brokers.nats.broker import NatsBroker
from edalab.brokers.nats.membership import LEASES
from edalab.brokers.nats.server import NatsServer

TTL = 0.6  # a round is due every TTL / 3 = 0.2 s
PARTITIONS = 4


def lease_writes(broker: NatsBroker) -> int:
    """Writes to the lease bucket so far (its stream's last sequence number)."""
    async def go() -> int:
        info = await broker._js.stream_info(f"KV_{LEASES}")
        return info.state.last_seq
    return broker._run(go())


def test_busy_member_renews_its_leases_once_per_period():
    # A member that polls without pause (a worker with events to handle) and its heartbeat
    # both renew the leases; each round writes the member key and every owned lease. Two
    # rounds back to back (the heartbeat's, then a poll's that waited for it) doubled that
    # traffic for nothing.
    with NatsServer() as server:
        broker = NatsBroker(server.url, lease_ttl=TTL)
        try:
            broker.create_topic("t", PARTITIONS)
            consumer = broker.subscribe("t", "g")
            assert consumer.assignment() == list(range(PARTITIONS))
            before = lease_writes(broker)
            start = time.perf_counter()
            while time.perf_counter() - start < 4.0:
                consumer.poll(500, timeout=0.0)
            elapsed = time.perf_counter() - start
            rounds = (lease_writes(broker) - before) / (1 + PARTITIONS)
            consumer.close()
        finally:
            broker.close()
    assert rounds <= elapsed / (TTL / 3) + 2, f"{rounds:.0f} rounds in {elapsed:.1f} s"
    # ... and still renews them before they expire (at least once a TTL, even on a busy host)
    assert rounds >= elapsed / TTL, f"only {rounds:.0f} rounds in {elapsed:.1f} s"
