"""Fixtures shared by the test packages."""

from __future__ import annotations

import pytest

from tests.brokers.conftest import nats_backend


@pytest.fixture
def nats_broker():
    """A `NatsBroker` on a fresh ``nats-server -js`` (free loopback port, temporary store),
    closed and removed after the test."""
    broker, cleanup = nats_backend()
    yield broker
    cleanup()
