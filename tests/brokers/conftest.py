"""The broker conformance suite runs against every backend listed in `BACKENDS`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edalab import Event, MemoryBroker

BACKENDS = {"memory": MemoryBroker}
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(params=sorted(BACKENDS))
def broker(request):
    b = BACKENDS[request.param]()
    yield b
    b.close()


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
