"""An event mesh on real servers: two NATS JetStream servers joined by cluster routes.

An event mesh lets a producer publish at the broker next to it and a consumer read at the broker
next to *it*, while the brokers move the event between them. `EventMesh` starts two
``nats-server -js`` processes on loopback and joins them into one cluster (routes); a
`NatsBroker` connected to either server sees the same topics, so an event published at server
``a`` is polled at server ``b`` by unchanged edalab code. `mesh_latency` measures what that hop
costs against a producer and consumer on the same server, in the same run.

Why a cluster and not a leaf node (measured with nats-server 2.15 and nats-py 2.16):

- *Hub with JetStream, leaf without.* Since nats-server 2.7 the JetStream API is not forwarded
  across a leaf connection unless the two sides share a system account, so a `NatsBroker` at the
  leaf gets "no responders". Giving the hub a JetStream domain and mapping ``$JS.API.>`` to
  ``$JS.hub.API.>`` on the leaf makes streams and consumers work, but the leaf still gets no
  responders on ``$KV.>``, where `NatsBroker` keeps its consumer-group leases: ``subscribe``
  fails at the leaf.
- *A JetStream domain per server, one stream sourcing the other.* Plain subjects cross a leaf
  connection, so two streams on the same ``<topic>.<partition>`` subjects would both capture
  every event (duplicates), and a sourced or mirrored stream needs subjects or a configuration
  `NatsBroker` does not create. It is the right design for store-and-forward at the edge, but
  it needs broker support first.
- *A cluster (routes).* One JetStream meta group spans both servers: every stream is reachable
  from either server and `NatsBroker` works unchanged at both. A one-replica stream lives on one
  server (`EventMesh.home` tells which); a client of the other server reaches it through the
  route, which is the hop `mesh_latency` measures. Two servers make a meta group with no fault
  tolerance (both must be up to create topics or consumers); a production mesh uses three or
  more, or several clusters joined by gateways.

The cluster elects its meta leader within about a second; `EventMesh.start` returns once both
servers answer JetStream requests. Every listener (clients, routes) is on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import uuid
from typing import Any

import nats
import numpy as np
import pandas as pd
from nats.js.errors import NotFoundError

from edalab.brokers.base import BrokerError, UnknownTopicError
from edalab.brokers.loop_thread import LoopThread
from edalab.brokers.nats.broker import NatsBroker
from edalab.brokers.nats.codec import stream_name
from edalab.brokers.nats.server import NatsServer, free_port
from edalab.events import Event

__all__ = ["EventMesh", "mesh_latency"]

_clock = time.perf_counter


class EventMesh:
    """Two NATS JetStream servers on loopback, joined into one cluster by routes.

    Parameters
    ----------
    names
        The two server names (distinct).
    cluster
        The cluster name.
    timeout
        Seconds to wait for the servers and for the cluster's JetStream to be ready.

    Examples
    --------
    Publish at server ``a``, consume at server ``b``:

    >>> from edalab import Event, NatsBroker
    >>> with EventMesh() as mesh:
    ...     a, b = NatsBroker(mesh.urls[0]), NatsBroker(mesh.urls[1])
    ...     a.create_topic("orders")
    ...     billing = b.subscribe("orders", group="billing")
    ...     _ = a.publish("orders", Event("order.placed", "/shop", {"total": 9.5}, key="o1"))
    ...     print([r.event.data for r in billing.poll(timeout=5.0)])
    ...     print(mesh.home("orders") in mesh.urls)
    ...     a.close()
    ...     b.close()
    [{'total': 9.5}]
    True
    """

    def __init__(self, names: tuple[str, str] = ("a", "b"), *, cluster: str = "edalab-mesh",
                 timeout: float = 10.0):
        if len(names) != 2 or names[0] == names[1]:
            raise ValueError(f"names must be two distinct server names, got {names!r}")
        self.names = tuple(names)
        self.cluster = cluster
        self.timeout = timeout
        self.servers: list[NatsServer] = []

    @property
    def urls(self) -> list[str]:
        """Client URLs of the two servers, in the order of `names`."""
        return [server.url for server in self.servers]

    @property
    def running(self) -> bool:
        return len(self.servers) == 2 and all(server.running for server in self.servers)

    def __repr__(self) -> str:
        if not self.servers:
            return f"EventMesh(names={self.names!r}, stopped)"
        where = ", ".join(f"{name}={url}" for name, url in zip(self.names, self.urls,
                                                               strict=True))
        return f"EventMesh({where}, {'running' if self.running else 'stopped'})"

    def start(self) -> EventMesh:
        """Start both servers and wait until the cluster's JetStream answers at each."""
        if self.servers:
            return self
        servers = [NatsServer(name=name) for name in self.names]
        taken = {server.port for server in servers}
        routes: list[int] = []
        while len(routes) < 2:
            port = free_port()
            if port not in taken:
                taken.add(port)
                routes.append(port)
        for i, server in enumerate(servers):
            server.extra_args = ["--cluster_name", self.cluster,
                                 "--cluster", f"nats://127.0.0.1:{routes[i]}",
                                 "--routes", f"nats://127.0.0.1:{routes[1 - i]}"]
        self.servers = servers
        try:
            for server in servers:
                server.start(self.timeout)
            deadline = time.monotonic() + self.timeout
            with _Loop() as loop:
                for server in servers:
                    loop.run(_wait_for_jetstream(server.url, deadline))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both servers and delete their temporary stores."""
        servers, self.servers = self.servers, []
        for server in servers:
            server.cleanup()

    def home(self, topic: str) -> str:
        """URL of the server whose store holds `topic` (its stream's leader)."""
        if not self.running:
            raise BrokerError("the mesh is not running: call start() or use it in a with block")
        with _Loop() as loop:
            leader = loop.run(_stream_leader(self.urls[0], topic), timeout=30)
        for server in self.servers:
            if server.name == leader:
                return server.url
        raise BrokerError(f"topic {topic!r} lives on {leader!r}, which is not in this mesh")

    def __enter__(self) -> EventMesh:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def mesh_latency(n: int = 1000, seed: int = 0, *, rate: float = 500.0, warmup: int = 20,
                 mesh: EventMesh | None = None) -> pd.DataFrame:
    """Latency of one event from publish to poll, on one server and across the mesh.

    For each path a fresh one-partition topic is created and a producer publishes `n` events
    (after `warmup` uncounted ones) at Poisson arrival times of mean rate `rate` per second,
    while a consumer in another thread polls and acks. An event's latency is the time from
    just before ``publish`` to the return of the ``poll`` that delivered it. Producer and
    consumer always have their own connections. ``same-server``: both connect to the server
    that stores the topic. ``cross-server``: the consumer connects to the other server, so
    every event crosses the cluster route. Both paths use the same seeded arrival times and
    events.

    Parameters
    ----------
    n
        Events measured per path.
    seed
        Seeds the arrival times and the event contents.
    rate
        Mean publish rate in events per second (an open loop: the producer does not wait for
        the consumer).
    warmup
        Events published and consumed before measuring, not counted.
    mesh
        A running `EventMesh` to measure; by default one is started and stopped.

    Returns
    -------
    pandas.DataFrame
        Index ``path`` (``same-server``, ``cross-server``); columns ``latency_p50_ms`` and
        ``latency_p99_ms`` (wall clock, as `RunStats.to_frame` names them), ``events`` and
        the server names of ``producer``, ``consumer`` and the topic's ``stream``.

    Examples
    --------
    >>> df = mesh_latency(n=100, seed=0, rate=2000.0)
    >>> df.index.tolist(), df["events"].tolist()
    (['same-server', 'cross-server'], [100, 100])
    >>> p50, p99 = df["latency_p50_ms"], df["latency_p99_ms"]
    >>> bool((p50 > 0).all() and (p99 >= p50).all())
    True
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not rate > 0:
        raise ValueError(f"rate must be positive, got {rate!r}")
    if mesh is not None and not mesh.running:
        raise ValueError("mesh is not running: start it first, or pass mesh=None")
    own = mesh is None
    mesh = mesh if mesh is not None else EventMesh().start()
    try:
        names = dict(zip(mesh.urls, mesh.names, strict=True))
        rows = []
        for path in ("same-server", "cross-server"):
            topic = f"mesh-latency-{uuid.uuid4().hex[:8]}"
            with NatsBroker(mesh.urls[0]) as setup:
                setup.create_topic(topic, partitions=1)
            home = mesh.home(topic)
            there = home if path == "same-server" else next(u for u in mesh.urls if u != home)
            latencies = _measure(home, there, topic, n, random.Random(seed), rate, warmup)
            p50, p99 = np.percentile(latencies, [50, 99]) * 1000.0
            rows.append({"path": path, "latency_p50_ms": float(p50),
                         "latency_p99_ms": float(p99), "events": len(latencies),
                         "producer": names[home], "consumer": names[there],
                         "stream": names[home]})
        return pd.DataFrame(rows).set_index("path")
    finally:
        if own:
            mesh.stop()


def _measure(producer_url: str, consumer_url: str, topic: str, n: int, rng: random.Random,
             rate: float, warmup: int) -> np.ndarray:
    """Publish `warmup` + `n` events at `producer_url`, poll them at `consumer_url`; returns
    the `n` measured latencies in seconds."""
    sent = np.zeros(n)
    received = np.full(n, np.nan)
    failures: list[BaseException] = []
    stop = threading.Event()
    with NatsBroker(producer_url) as producer, NatsBroker(consumer_url) as consumer_broker:
        consumer = consumer_broker.subscribe(topic, group="mesh-latency", start="latest")

        def consume() -> None:
            seen = 0
            try:
                while seen < n + warmup and not stop.is_set():
                    batch = consumer.poll(max_events=500, timeout=0.2)
                    now = _clock()
                    for record in batch:
                        i = record.event.data["i"]
                        if i >= 0:
                            received[i] = now
                        seen += 1
                    if batch:
                        consumer.ack(batch)
            except BaseException as exc:  # surfaced in the caller's thread
                failures.append(exc)

        thread = threading.Thread(target=consume, name="edalab-mesh-consumer", daemon=True)
        thread.start()
        try:
            due = _clock()
            for i in range(-warmup, n):
                due += rng.expovariate(rate)
                event = Event("edalab.mesh.ping", "/edalab/mesh", {"i": i, "x": rng.random()},
                              key=f"k{i % 8}")
                wait = due - _clock()
                if wait > 0:
                    time.sleep(wait)
                start = _clock()
                producer.publish(topic, event)
                if i >= 0:
                    sent[i] = start
            thread.join(timeout=30.0)
        finally:
            stop.set()
            thread.join(timeout=5.0)
            consumer.close()
            producer.delete_topic(topic)
    if failures:
        raise BrokerError(f"the consumer at {consumer_url} failed: {failures[0]!r}")
    missing = int(np.isnan(received).sum())
    if missing:
        raise BrokerError(f"{missing} of {n} events published at {producer_url} never reached "
                          f"the consumer at {consumer_url}")
    return received - sent


class _Loop(LoopThread):
    """A `LoopThread` as a context manager (a short-lived one for control requests)."""

    def __enter__(self) -> _Loop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _wait_for_jetstream(url: str, deadline: float) -> None:
    """Until `deadline`, ask `url` for JetStream account info; return at the first answer
    without an error (a cluster answers once it has elected its meta leader)."""
    nc = await nats.connect(url, connect_timeout=2.0, allow_reconnect=False)
    last: Any = None
    try:
        while True:
            try:
                msg = await nc.request("$JS.API.INFO", b"", timeout=0.25)
                last = json.loads(msg.data).get("error")
                if last is None:
                    return
            except Exception as exc:  # no leader yet: the request goes unanswered
                last = exc
            if time.monotonic() > deadline:
                raise BrokerError(f"JetStream at {url} not ready: {last!r}")
            await asyncio.sleep(0.05)
    finally:
        await nc.close()


async def _stream_leader(url: str, topic: str) -> str | None:
    nc = await nats.connect(url, connect_timeout=2.0, allow_reconnect=False)
    try:
        info = await nc.jetstream().stream_info(stream_name(topic))
    except NotFoundError:
        raise UnknownTopicError(f"unknown topic {topic!r} on the mesh at {url}") from None
    finally:
        await nc.close()
    return info.cluster.leader if info.cluster is not None else ""
