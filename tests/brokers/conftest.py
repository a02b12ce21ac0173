"""The broker backends, `BACKENDS`: the embedded `MemoryBroker` and `NatsBroker` on a real
`nats-server -js` (a fresh one per test, on a free loopback port with a temporary store; it
starts in a few milliseconds). The `broker` fixture runs a test on each."""

from __future__ import annotations

from collections.abc import Callable

from edalab import MemoryBroker
from edalab.brokers.nats.broker import NatsBroker
from edalab.brokers.nats.server import NatsServer


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


