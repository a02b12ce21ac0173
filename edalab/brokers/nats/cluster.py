"""`NatsCluster`: N ``nats-server -js`` processes on loopback joined by cluster routes.

A JetStream cluster of three (or five) servers keeps a topic created with ``replicas=3`` on
three servers: a publish is acked once a quorum (two of three) stores it, so any one server
may die without losing an acked event, and the survivors elect a new stream leader within a
few seconds. Each member has its own name, client port, route port, monitoring port and store
directory; `kill` (SIGKILL), `stop` and `restart` act on one member, and every member is
killed when the Python process ends (as `NatsServer`).

Durability: nats-server writes each stored message to the file system at once but fsyncs its
files only every `sync_interval` (``"2m"`` by default). A killed *process* loses nothing
(the operating system holds the written pages); a power cut of every machine at once loses
what was written since the last fsync, unless ``sync_interval="always"`` (an fsync per write,
slower; the tests use it). With replicas on separate machines, a power cut of one machine
loses nothing acked: the quorum still holds it.

>>> from edalab import Event, NatsBroker
>>> with NatsCluster(3) as cluster:
...     broker = NatsBroker(cluster.urls, replicas=3)
...     broker.create_topic("orders")
...     offset = broker.publish("orders", Event("placed", "/shop", {"n": 1})).offset
...     leader = cluster.leader("orders")
...     states = cluster.replica_states("orders")
...     broker.close()
>>> offset, leader in range(3), [s["messages"] for s in states]
(1, True, [1, 1, 1])
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from edalab.brokers.base import BrokerError, UnknownTopicError
from edalab.brokers.nats.codec import stream_name
from edalab.brokers.nats.server import NatsServer, free_port

__all__ = ["NatsCluster"]


def _free_ports(n: int, taken: set[int]) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port not in taken:
            taken.add(port)
            ports.append(port)
    return ports


class NatsCluster:
    """N JetStream servers on loopback, joined into one cluster by routes.

    Parameters
    ----------
    size
        Number of servers (3 or 5 tolerate one or two failures; at least 1).
    sync_interval
        How often each server fsyncs its store: a duration such as ``"2m"`` (nats-server's
        default) or ``"always"`` (after every write; survives a power cut of every server).
    store_dir
        Root of the members' stores (one sub-directory per member); a temporary directory,
        deleted by `cleanup`, by default.
    ports
        The members' client ports (free ones by default).
    cluster, prefix
        The cluster's name, and the members' names' prefix (``<prefix>0``, ``<prefix>1``...).
    timeout
        Seconds to wait for servers, for a meta leader, and for a restarted member.
    """

    def __init__(self, size: int = 3, *, sync_interval: str = "2m",
                 store_dir: str | Path | None = None, ports: list[int] | None = None,
                 cluster: str = "edalab",
                 prefix: str = "n", timeout: float = 15.0):
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        if not isinstance(sync_interval, str) or not sync_interval.strip():
            raise ValueError(f"sync_interval must be 'always' or a duration such as '2m', "
                             f"got {sync_interval!r}")
        if ports is not None and (len(ports) != size or len(set(ports)) != size):
            raise ValueError(f"ports must be {size} distinct ports, got {ports!r}")
        self.size = size
        self.sync_interval = sync_interval
        self.cluster = cluster
        self.timeout = timeout
        self._tmp = None if store_dir else tempfile.mkdtemp(prefix="edalab-cluster-")
        self.store_dir = Path(store_dir or self._tmp)  # type: ignore[arg-type]  # one is set
        taken: set[int] = set(ports or ())
        clients = list(ports) if ports else _free_ports(size, taken)
        routes, monitors = _free_ports(size, taken), _free_ports(size, taken)
        self.names = [f"{prefix}{i}" for i in range(size)]
        self.monitor_ports = monitors
        self.servers = [
            NatsServer(clients[i], self.store_dir / self.names[i], name=self.names[i],
                       extra_args=["-m", str(monitors[i]), "-c",
                                   str(self._config(i, routes))])
            for i in range(size)]

    def _config(self, i: int, routes: list[int]) -> Path:
        """Member i's configuration file: its store's sync interval and its routes."""
        home = self.store_dir / self.names[i]
        home.mkdir(parents=True, exist_ok=True)
        others = [f"nats://127.0.0.1:{port}" for port in routes]
        config = {"jetstream": {"sync_interval": self.sync_interval},
                  "cluster": {"name": self.cluster, "listen": f"127.0.0.1:{routes[i]}",
                              "routes": others}}
        path = home / "cluster.conf"
        path.write_text(json.dumps(config, indent=1))  # the configuration format reads JSON
        return path

    @property
    def urls(self) -> list[str]:
        """Client URLs of the members, in order."""
        return [server.url for server in self.servers]

    @property
    def running(self) -> list[bool]:
        return [server.running for server in self.servers]

    def __repr__(self) -> str:
        up = sum(self.running)
        return (f"NatsCluster(size={self.size}, running={up}, "
                f"sync_interval={self.sync_interval!r})")

    def _check(self, i: int) -> NatsServer:
        if not isinstance(i, int) or not 0 <= i < self.size:
            raise IndexError(f"the cluster has servers 0..{self.size - 1}, not {i!r}")
        return self.servers[i]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> NatsCluster:
        """Start every member and wait until the cluster has a JetStream meta leader."""
        try:
            for server in self.servers:
                server.start(self.timeout)
            self.wait_ready()
        except BaseException:
            self.cleanup()
            raise
        return self

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until each running member answers JetStream requests (a meta leader)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for i, server in enumerate(self.servers):
            if not server.running:
                continue
            while (error := self._jetstream_error(i)) is not None:
                if time.monotonic() > deadline:
                    raise BrokerError(f"the cluster's JetStream is not ready at "
                                      f"{server.url}: {error}")
                time.sleep(0.05)

    def kill(self, i: int) -> None:
        """SIGKILL member i (its store stays, for `restart`)."""
        self._check(i).stop(kill=True)

    def stop(self, i: int) -> None:
        """Stop member i cleanly (SIGTERM; its store stays, for `restart`)."""
        self._check(i).stop()

    def restart(self, i: int) -> None:
        """Start member i again on its port and store; returns once it accepts clients
        (`wait_current` waits until it has caught up on a topic)."""
        self._check(i).start(self.timeout)

    def cleanup(self) -> None:
        """Stop every member and delete a temporary store."""
        for server in self.servers:
            server.stop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- what each member sees -----------------------------------------------------------------

    def _monitor(self, i: int, path: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.monitor_ports[i]}/{path}"
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return json.load(response)

    def _jetstream_error(self, i: int) -> str | None:
        """Why member i cannot place replicated streams yet (None: it can): it is not
        healthy, has no meta leader, or (the leader) does not see every member current."""
        try:
            health = self._monitor(i, "healthz")
            meta = self._monitor(i, "jsz").get("meta_cluster") or {}
        except OSError as exc:  # an HTTP 503 too: still recovering
            return str(exc)
        if health.get("status") != "ok":
            return str(health)
        if self.size > 1 and not meta.get("leader"):
            return "no meta leader yet"
        if meta.get("leader") == self.names[i]:
            current = [r["name"] for r in meta.get("replicas") or [] if r.get("current")]
            if len(current) < len(self._up()) - 1:
                return f"the meta leader sees {current} current"
        return None

    def _stream(self, i: int, topic: str) -> dict[str, Any] | None:
        """Member i's own replica of `topic`'s stream (its state and cluster view)."""
        info = self._monitor(i, "jsz?accounts=true&streams=true")
        name = stream_name(topic)
        for account in info.get("account_details") or []:
            for stream in account.get("stream_detail") or []:
                if stream.get("name") == name:
                    return stream
        return None

    def leader(self, topic: str) -> int | None:
        """Index of the member that leads `topic`'s stream (None while one is elected): a
        running member that sees itself as the leader (a follower may still name a dead
        one)."""
        if not any(self.running):
            raise BrokerError("no member of the cluster is running")
        for i in self._up():
            with contextlib.suppress(OSError):
                stream = self._stream(i, topic)
                if stream is not None and (stream.get("cluster") or {}).get(
                        "leader") == self.names[i]:
                    return i
        return None

    def _up(self) -> list[int]:
        return [i for i, server in enumerate(self.servers) if server.running]

    def replica_states(self, topic: str) -> list[dict[str, int] | None]:
        """Per member, as that server stores it: its replica's ``messages``, ``first_seq``
        and ``last_seq`` (None for a stopped member, or one without a replica)."""
        out: list[dict[str, int] | None] = []
        for i, server in enumerate(self.servers):
            stream = self._stream(i, topic) if server.running else None
            state = (stream or {}).get("state")
            out.append(None if state is None else
                       {k: state.get(k, 0) for k in ("messages", "first_seq", "last_seq")})
        if all(state is None for state in out) and any(self.running):
            raise UnknownTopicError(f"no member of the cluster holds topic {topic!r}")
        return out

    def wait_current(self, topic: str, timeout: float | None = None) -> int:
        """Wait until every running member is healthy (its ``/healthz``: all its streams and
        consumers, the lease bucket's too, caught up) and `topic` has a leader that reports
        every running member's replica as current; return the leader's index."""
        bound = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + bound
        while True:
            with contextlib.suppress(OSError):
                i = self.leader(topic)
                if i is not None and all(self._monitor(j, "healthz").get("status") == "ok"
                                         for j in self._up()):
                    seen = {r.get("name"): r.get("current") for r in
                            ((self._stream(i, topic) or {}).get("cluster") or {}).get(
                                "replicas") or []}
                    if all(seen.get(self.names[j]) for j in self._up() if j != i):
                        return i
            if time.monotonic() > deadline:
                raise BrokerError(f"the replicas of topic {topic!r} were not current "
                                  f"within {bound:g} s")
            time.sleep(0.05)

    def wait_agree(self, topic: str, timeout: float | None = None) -> dict[str, int]:
        """Wait until every running member's replica of `topic` stores the same messages,
        first and last sequence (all writes applied); return that state."""
        bound = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + bound
        while True:
            with contextlib.suppress(OSError):
                states = [s for i, s in enumerate(self.replica_states(topic))
                          if i in self._up()]
                if states and states[0] is not None and all(s == states[0] for s in states):
                    return states[0]
            if time.monotonic() > deadline:
                raise BrokerError(f"the replicas of topic {topic!r} did not agree within "
                                  f"{bound:g} s: {self.replica_states(topic)}")
            time.sleep(0.05)
