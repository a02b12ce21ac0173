"""The broker conformance suite runs against every backend in `BACKENDS`: the embedded
`MemoryBroker` and `NatsBroker` on a real `nats-server -js` (a fresh one per test, on a free
loopback port with a temporary store; it starts in a few milliseconds)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from edalab import Event, MemoryBroker
from edalab.brokers.nats.broker import NatsBroker
from edalab.brokers.nats.server import NatsServer

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def memory_backend() -> tuple[MemoryBroker, Callable[[], None]]:
    broker = MemoryBroker()
    return broker, broker.close


def nats_backend() -> tuple[NatsBroker, Callable[[], None]]:
    server = NatsServer().start()
    broker = NatsBroker(server.url, ack_wait=5.0, lease_ttl=3.0)

    def cleanup() -> None:
        broker.close()
        server.cleanup()
    return broker, cleanup


BACKENDS = {"memory": memory_backend, "nats": nats_backend}


@pytest.fixture(params=sorted(BACKENDS))
def broker(request):
    b, cleanup = BACKENDS[request.param]()
    yield b
    cleanup()


def ev(i: int, key: str | None = "k", **kw) -> Event:
    """Event number i, with event time i seconds after T0."""
    return Event("test.event", "/tests", {"i": i}, key=key, id=f"e{i}",
                 time=T0 + timedelta(seconds=i), **kw)


def drain(consumer, ack: bool = True, max_events: int = 100) -> list:
    """Poll until empty; returns the records (acked unless ack=False)."""
    out = []
    while batch := consumer.poll(max_events):
        out += list(batch)
        if ack:
            consumer.ack(batch)
    return out
