"""Fixtures shared by the test packages."""

from __future__ import annotations

import pytest

from edalab.brokers.nats_broker import NatsBroker
from edalab.brokers.nats_server import NatsServer


@pytest.fixture
def nats_broker():
    """A `NatsBroker` on a fresh ``nats-server -js`` (free loopback port, temporary store),
    closed and removed after the test."""
    server = NatsServer().start()
    broker = NatsBroker(server.url, ack_wait=5.0, lease_ttl=3.0)
    yield broker
    broker.close()
    server.cleanup()
