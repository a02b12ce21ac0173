"""A connection dropped for real (a reset socket between client and NATS server) mid-run:
the client reconnects through the link and the pipeline loses nothing."""

from __future__ import annotations

import threading

from edalab import App, Event
from edalab.brokers.nats.broker import NatsBroker
from edalab.brokers.nats.server import NatsServer
from edalab.resilience import Link


def test_cut_refuses_connections_until_mend():
    import socket

    import pytest

    with NatsServer() as server, Link(server.port) as link:
        link.cut()
        with socket.create_connection(("127.0.0.1", link.port)) as s, \
                pytest.raises((ConnectionResetError, AssertionError)):
            assert s.recv(64)  # reset at once, or closed with nothing said
        link.mend()
        with socket.create_connection(("127.0.0.1", link.port)) as s:
            assert s.recv(64).startswith(b"INFO ")  # the NATS server greets through the link


def test_a_pipeline_loses_nothing_when_its_connection_drops_mid_run():
    with NatsServer() as server, Link(server.port) as link:
        broker = NatsBroker(link.url, ack_wait=5.0, lease_ttl=3.0)
        try:
            app, seen = App(broker), []
            payments = [Event("payment", "/test", {"i": i}, key=f"c{i % 7}", id=f"p{i}")
                        for i in range(600)]
            app.source("payments", payments)

            @app.handler("payments")
            def score(event):
                seen.append(event.id)
                if len(seen) == 200:  # mid-run: the socket dies under the handler
                    threading.Thread(target=link.drop).start()

            stats = app.run(clock="wall", batch_size=50, timeout=60)
            assert link.drops >= 1
            assert set(seen) == {e.id for e in payments}  # at-least-once: none lost
            assert stats.dead_letters == 0
        finally:
            broker.close()
