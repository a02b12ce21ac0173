"""The event mesh on real servers: two `nats-server -js` processes joined by cluster routes."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from edalab import BrokerError, Event
from edalab.brokers.nats.broker import NatsBroker
from edalab.patterns import EventMesh, mesh_latency


@pytest.fixture(scope="module")
def mesh():
    with EventMesh() as m:
        yield m


def _event(i: int) -> Event:
    return Event("order.placed", "/shop/7", {"order": i, "total": 12.5, "items": ["a", "b"]},
                 key=f"customer-{i}", id=f"order-{i}", subject=f"orders/{i}",
                 time=datetime(2024, 1, 1, 12, i, tzinfo=UTC), extensions={"region": "eu"})


@pytest.mark.parametrize("direction", [(0, 1), (1, 0)], ids=["a-to-b", "b-to-a"])
def test_event_published_at_one_server_is_consumed_at_the_other(mesh, direction):
    at, to = (mesh.urls[i] for i in direction)
    assert at != to
    topic = f"orders-{direction[0]}{direction[1]}"
    with NatsBroker(at) as producer, NatsBroker(to) as remote:
        producer.create_topic(topic, partitions=2)
        consumer = remote.subscribe(topic, group="billing")
        sent = [_event(i) for i in range(3)]
        for event in sent:
            producer.publish(topic, event)
        got = []
        for _ in range(50):
            batch = consumer.poll(max_events=10, timeout=0.5)
            got += list(batch)
            consumer.ack(batch)
            if len(got) >= len(sent):
                break
        consumer.close()
        assert sorted((r.event for r in got), key=lambda e: e.id) == sent
        by_id = {r.event.id: r.event for r in got}
        assert all(by_id[e.id].to_json() == e.to_json() for e in sent)  # identical content
        assert remote.lag(topic, "billing") == {0: 0, 1: 0}


def test_home_names_the_server_that_stores_the_topic(mesh):
    with NatsBroker(mesh.urls[1]) as broker:
        broker.create_topic("placed")
    assert mesh.home("placed") in mesh.urls
    with pytest.raises(BrokerError, match="unknown topic 'nowhere'"):
        mesh.home("nowhere")


def test_mesh_latency_is_measured_on_both_paths(mesh):
    df = mesh_latency(n=200, seed=1, rate=2000.0, mesh=mesh)
    assert df.index.tolist() == ["same-server", "cross-server"]
    assert df["events"].tolist() == [200, 200]
    assert (df["latency_p50_ms"] > 0).all()
    assert (df["latency_p99_ms"] >= df["latency_p50_ms"]).all()
    same, cross = df.loc["same-server"], df.loc["cross-server"]
    assert same["producer"] == same["consumer"] == same["stream"]
    assert cross["producer"] == cross["stream"] != cross["consumer"]


def test_mesh_latency_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n must be a positive int"):
        mesh_latency(n=0)
    with pytest.raises(ValueError, match="not running"):
        mesh_latency(n=1, mesh=EventMesh())


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_servers_are_stopped_and_stores_removed_on_exit():
    with EventMesh(names=("east", "west")) as m:
        servers = list(m.servers)
        processes = [s.process for s in servers]
        assert m.running and repr(m).startswith("EventMesh(east=nats://127.0.0.1:")
        assert all(s.store_dir.exists() for s in servers)
        assert all(_listening(s.port) for s in servers)
    assert not m.running and m.urls == []
    assert all(p.poll() is not None for p in processes)
    assert not any(s.store_dir.exists() for s in servers)
    assert not any(_listening(s.port) for s in servers)
