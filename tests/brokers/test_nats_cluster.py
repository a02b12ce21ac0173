"""High availability on a real three-server JetStream cluster (`NatsCluster`): replicated
topics, a publish retried with its de-duplication id, `publish` and `poll` riding out a
failover within `failover_timeout`, and the chaos runs (the stream's leader killed, then
random servers at seeded random times) that check what nats-server's own cluster tests
check: every replica holds the same messages, first and last sequence."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from edalab import App, BrokerError, Event
from edalab.brokers.nats.broker import NatsBroker
from edalab.brokers.nats.chaos import chaos_run
from edalab.brokers.nats.cluster import NatsCluster
from edalab.brokers.nats.server import NatsServer, free_port


@pytest.fixture(scope="module")
def cluster():
    with NatsCluster(3, sync_interval="always", timeout=30.0) as c:
        yield c


def event(i: int, key: str = "k") -> Event:
    return Event("tick", "/test", {"i": i}, key=key, id=f"e{i}")


def test_cluster_members_have_own_names_stores_and_sync_interval(cluster):
    assert cluster.names == ["n0", "n1", "n2"]
    assert len(set(cluster.urls)) == 3 and all(cluster.running)
    assert len({s.store_dir for s in cluster.servers}) == 3
    assert '"sync_interval": "always"' in (cluster.store_dir / "n0" / "cluster.conf").read_text()


def test_replicated_topic_is_stored_on_every_server(cluster):
    broker = NatsBroker(cluster.urls, replicas=3)
    broker.create_topic("replicated", 2)
    broker.publish_many("replicated", [event(i, f"k{i % 3}") for i in range(20)])
    assert cluster.wait_agree("replicated")["messages"] == 20
    assert [s["last_seq"] for s in cluster.replica_states("replicated")] == [20, 20, 20]
    broker.close()


def test_more_replicas_than_servers_is_a_clear_broker_error(cluster):
    broker = NatsBroker(cluster.urls, replicas=5)
    with pytest.raises(BrokerError, match=r"replicas=5 .*at least 5 JetStream servers"):
        broker.create_topic("five-copies")
    broker.close()


def test_replicas_above_one_on_a_single_server_is_a_clear_broker_error():
    with NatsServer() as server:
        broker = NatsBroker(server.url, replicas=3)
        with pytest.raises(BrokerError, match=r"replicas=3 .*at least 3 JetStream servers"):
            broker.create_topic("three-copies")
        broker.close()


def test_publish_retried_with_the_same_event_is_stored_once(cluster):
    broker = NatsBroker(cluster.urls, replicas=3)
    broker.create_topic("dedup")
    first = broker.publish("dedup", event(1))
    again = broker.publish("dedup", event(1))  # what a retry after a lost ack sends
    assert again.offset == first.offset
    assert [r.event.id for r in broker.read("dedup")] == ["e1"]
    broker.close()


def test_create_topic_from_many_brokers_at_once_makes_one_topic(cluster):
    brokers = [NatsBroker(cluster.urls, replicas=3) for _ in range(4)]
    errors: list[BaseException] = []

    def create(b: NatsBroker) -> None:
        try:
            b.create_topic("raced", 3)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(b,)) for b in brokers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert brokers[0].partitions("raced") == 3
    for b in brokers:
        b.close()


def test_publish_while_no_server_answers_raises_broker_error_naming_the_bound():
    with NatsServer() as server:
        broker = NatsBroker(server.url, failover_timeout=1.0)
        broker.create_topic("down")
        server.stop(kill=True)
        began = time.monotonic()
        with pytest.raises(BrokerError, match=r"failover_timeout=1 s"):
            broker.publish("down", event(1))
        assert time.monotonic() - began < 10
        broker.close()


def test_poll_waits_out_a_lost_server_then_names_the_bound():
    with NatsServer() as server:
        broker = NatsBroker(server.url, failover_timeout=1.5, lease_ttl=1.0)
        broker.create_topic("gone")
        consumer = broker.subscribe("gone", group="g")
        server.stop(kill=True)
        assert len(consumer.poll(timeout=0.5)) == 0  # within the bound: an empty batch
        with pytest.raises(BrokerError, match=r"failover_timeout=1.5 s"):
            for _ in range(50):
                consumer.poll(timeout=0.2)
        broker.close()


def test_leader_killed_mid_stream_loses_nothing_acked(cluster):
    report = chaos_run(cluster, n=300, kills=1, seed=1)
    assert report.errors == []
    assert report.acked == 300 and report.sink_events == 300
    assert report.stored_once and report.replicas_agree
    assert report.order_violations == 0
    assert 0 < report.publish_pause_s < 15  # measured: the leader's re-election


def test_random_servers_killed_at_seeded_times_lose_nothing_acked(cluster):
    report = chaos_run(cluster, n=300, kills=5, seed=7, down=0.3)
    assert report.errors == []
    assert report.kills == 5
    assert report.acked == 300 and report.sink_events == 300
    assert report.stored_once and report.replicas_agree
    assert report.order_violations == 0


def three_free_ports() -> int:
    """A port P such that P, P+1 and P+2 on 127.0.0.1 are free right now."""
    while True:
        port = free_port()
        try:
            with contextlib.ExitStack() as stack:
                for p in range(port, port + 3):
                    stack.enter_context(socket.create_server(("127.0.0.1", p)))
            return port
        except OSError:
            continue


def test_broker_start_cluster_runs_three_servers_until_sigterm():
    from tests.brokers.test_nats_security import edalab_process, stop, wait_for_line

    port = three_free_ports()
    server = edalab_process("broker", "start", "--cluster", "3", "--port", str(port),
                            "--sync-interval", "always", env={})
    try:
        line = wait_for_line(server.stdout, "listening on", server)
        broker = NatsBroker([f"nats://127.0.0.1:{port + i}" for i in range(3)], replicas=3)
        broker.create_topic("from-the-shell")
        assert broker.publish("from-the-shell", event(1)).offset == 1
        broker.close()
    finally:
        stop(server)
    assert "cluster of 3" in line and "sync_interval: always" in line
    assert server.returncode == 0


def test_broker_start_cluster_with_credentials_is_a_one_line_error():
    from tests.brokers.test_nats_security import edalab_process

    server = edalab_process("broker", "start", "--cluster", "3", "--user", "a",
                            "--password", "b", env={})
    out, err = server.communicate(timeout=60)
    assert server.returncode == 2
    assert "--cluster runs without credentials" in err and "Traceback" not in err


def test_lease_bucket_gets_the_replicas_a_later_broker_asks_for(cluster):
    from edalab.brokers.nats.failover import retrying
    from edalab.brokers.nats.membership import LEASES

    single = NatsBroker(cluster.urls, replicas=1, lease_ttl=2.0)
    single.create_topic("leases-r1")
    single.subscribe("leases-r1", group="g").close()
    triple = NatsBroker(cluster.urls, replicas=3, lease_ttl=2.0)
    triple.create_topic("leases-r3")
    triple.subscribe("leases-r3", group="g").close()
    info = triple._run(retrying("bucket info", lambda: triple._js.stream_info(f"KV_{LEASES}"),
                                bound=15.0))  # after the chaos tests: maybe electing
    assert info.config.num_replicas == 3
    single.close()
    triple.close()


def kill_leader(cluster: NatsCluster, topic: str) -> int:
    """Kill the member leading `topic`'s stream now, not one looked up earlier: on a loaded
    machine leadership can move in between, and killing a follower pauses almost nothing.
    Returns its index."""
    deadline = time.monotonic() + 15
    while (leader := cluster.leader(topic)) is None:  # electing
        assert time.monotonic() < deadline, f"{topic!r} has no leader after 15 s"
        time.sleep(0.05)
    cluster.kill(leader)
    return leader


def test_publish_many_through_a_leader_kill_stores_each_event_once(cluster):
    broker = NatsBroker(cluster.urls, replicas=3, failover_timeout=20.0)
    broker.create_topic("batch-failover", 2)
    events = [event(i, f"k{i % 5}") for i in range(20_000)]
    killed: list[int] = []
    killer = threading.Timer(0.05, lambda: killed.append(kill_leader(cluster, "batch-failover")))
    killer.start()
    assert broker.publish_many("batch-failover", events) == len(events)
    killer.join()
    assert killed, "the killer found no leader"
    cluster.restart(killed[0])
    cluster.wait_current("batch-failover")
    ids = [r.event.id for r in broker.read("batch-failover")]
    assert sorted(ids) == sorted(e.id for e in events)  # each once
    assert cluster.wait_agree("batch-failover")["messages"] == len(events)
    broker.close()


def test_app_run_statistics_show_the_failover_pause(cluster):
    broker = NatsBroker(cluster.urls, replicas=3, lease_ttl=2.0, failover_timeout=20.0)
    broker.create_topic("ha-run")
    app = App(broker)
    seen: set[int] = set()

    @app.handler("ha-run")
    def sink(e: Event) -> None:
        seen.add(e.data["i"])

    def paced():  # about 3 s of events: the kill lands mid-run
        for i in range(300):
            if i % 10 == 0:
                time.sleep(0.1)
            yield event(i)

    app.source("ha-run", paced())
    killed: list[int] = []
    killer = threading.Timer(1.0, lambda: killed.append(kill_leader(cluster, "ha-run")))
    killer.start()
    run = app.run(clock="wall", batch_size=10, timeout=90)
    killer.join()
    assert killed, "the killer found no leader"
    cluster.restart(killed[0])
    cluster.wait_current("ha-run")
    assert seen == set(range(300)) and run.stopped_by == "drained"
    pauses = run.pauses
    assert len(pauses) and pauses.recovered.all(), pauses
    assert 0.5 < pauses.seconds.max() < 20  # the stream leader's election, within the bound
    assert 0 < pauses.at_s.min() < run.wall_seconds
    assert "failover pauses" in run.summary()
    broker.close()


def test_a_worker_rides_out_a_failover_and_its_statistics_show_the_pause(cluster):
    producer = NatsBroker(cluster.urls, replicas=3, failover_timeout=20.0)
    producer.create_topic("ha-serve")
    killed: list[int] = []
    app = App(NatsBroker(cluster.urls, replicas=3, lease_ttl=2.0, failover_timeout=20.0))
    seen: set[int] = set()
    done = threading.Event()

    @app.handler("ha-serve")
    def sink(e: Event) -> None:
        seen.add(e.data["i"])
        if len(seen) == 300:
            done.set()

    def produce() -> None:
        for i in range(300):
            producer.publish("ha-serve", event(i))
            if i == 100:
                killed.append(kill_leader(cluster, "ha-serve"))
            time.sleep(0.01)

    thread = threading.Thread(target=produce)
    thread.start()
    # The worker's lag samples wait for the new leader too (before: a TimeoutError ended it).
    run = app.serve(stop=done, timeout=90, poll_timeout=0.05)
    thread.join()
    assert killed, "the killer found no leader"
    cluster.restart(killed[0])
    cluster.wait_current("ha-serve")
    assert seen == set(range(300))
    assert [p.operation for p in producer.pauses] == ["publish to 'ha-serve'"]
    assert len(run.pauses) and run.pauses.recovered.all()
    assert 0.5 < run.pauses.seconds.max() < 20
    producer.close()
