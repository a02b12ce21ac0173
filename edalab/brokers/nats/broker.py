"""`NatsBroker`: the `Broker` protocol on NATS JetStream, for pipelines that outgrow a process.

Mapping (see DESIGN.md): one stream per topic with subjects ``<topic>.<partition>``
(`codec`); per consumer group and partition one durable pull consumer with explicit acks
(`consumer`), shared among the group's members by leases in a key-value bucket
(`membership`); after `max_attempts` an event goes to ``<topic>.dlq``; lag is the consumers'
pending plus un-acked count. A record's `offset` is the stream sequence: it grows within a
partition but is shared by the topic's partitions.

The client is asyncio; this class runs it on a private loop thread, so its API is synchronous
and works in scripts and inside Jupyter alike.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, TypeVar

from nats.js import api
from nats.js.errors import APIError, NotFoundError

from edalab.brokers.base import (
    DLQ_SUFFIX,
    BrokerError,
    Record,
    UnknownTopicError,
    check_event,
    check_partition,
    dead_letter_topic,
    decode,
)
from edalab.brokers.loop_thread import LoopThread
from edalab.brokers.nats.codec import GROUP_PATTERN, check_topic, stream_name
from edalab.brokers.nats.connection import connect, connect_error
from edalab.brokers.nats.consumer import NatsConsumer
from edalab.brokers.nats.failover import Pause, msg_id, retrying
from edalab.brokers.nats.inspection import read_partition, subjects_taken, unsettled
from edalab.brokers.nats.membership import lease_bucket
from edalab.brokers.nats.pipeline import publish_pipelined
from edalab.brokers.partitioning import key_hash
from edalab.events import Event, EventError, check_serialisable

__all__ = ["NatsBroker"]

T = TypeVar("T")
_clock = time.perf_counter
_OVERLAP = 10065  # JetStream's error code: the subjects belong to another stream
_IN_USE = 10058  # a stream of that name exists (with another configuration)
# No suitable peers, insufficient resources, replicas > 1 on one server.
_TOO_FEW_SERVERS = {10005, 10023, 10074}


class NatsBroker:
    """The `Broker` protocol on a NATS JetStream server.

    Parameters
    ----------
    url
        Server URL, e.g. ``nats://127.0.0.1:4222`` (`edalab broker start` runs one), or a
        list of a cluster's URLs (`NatsCluster.urls`): the client reconnects to a live one.
    user, password, token
        Credentials, when the server requires them.
    tls, tls_hostname
        An `ssl.SSLContext` (and the name to verify) for TLS connections.
    storage
        ``"file"`` (survives a server restart; the default) or ``"memory"``.
    replicas
        Copies of each topic's stream, consumers and the lease bucket (1 on a single server;
        3 on a cluster of three or more survives the loss of any one server). More replicas
        than the cluster has servers is a `BrokerError` at `create_topic`.
    max_age
        Retention of stream messages in seconds (None keeps everything).
    ack_wait
        Seconds before the server redelivers a message nobody acked (a crashed consumer).
    lease_ttl
        Seconds after which a silent group member's partitions are taken over.
    auto_create, default_partitions
        As on `MemoryBroker`: create unknown topics on first use instead of raising.
    failover_timeout
        Seconds `publish` and `poll` wait and retry while a cluster re-elects a leader or
        the client reconnects, before raising `BrokerError` (measured on a local cluster: a
        killed stream leader pauses publishing 4 to 9 s, the raft election). A publish is
        retried with the event's de-duplication id (``Nats-Msg-Id``: its source and id), so
        the stream stores it once (within its two-minute duplicate window). Every such wait
        is noted in `pauses` (and an `App` run lists its own in `RunStats.pauses`). So are
        the lag and offset look-ups a worker makes as it runs.
    """

    def __init__(self, url: str | list[str] = "nats://127.0.0.1:4222", *, user: str | None = None,
                 password: str | None = None, token: str | None = None, tls: Any = None,
                 tls_hostname: str | None = None, storage: Literal["file", "memory"] = "file",
                 replicas: int = 1, max_age: float | None = None, ack_wait: float = 30.0,
                 lease_ttl: float = 6.0, auto_create: bool = False,
                 default_partitions: int = 1, connect_timeout: float = 5.0,
                 failover_timeout: float = 15.0):
        if storage not in ("file", "memory"):
            raise ValueError(f"storage must be 'file' or 'memory', got {storage!r}")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 1:
            raise ValueError(f"replicas must be a positive int, got {replicas!r}")
        if not failover_timeout >= 0:  # NaN too
            raise ValueError(f"failover_timeout must be >= 0 seconds, got {failover_timeout!r}")
        servers = [url] if isinstance(url, str) else list(url)
        if not servers or not all(isinstance(u, str) for u in servers):
            raise ValueError(f"url must be a server URL or a list of them, got {url!r}")
        self.url = ",".join(servers)
        self.failover_timeout = failover_timeout
        #: The waits for a failover so far (`Pause`: what waited, from when, how long), the
        #: latest 10,000; `App.run` reports those of its run in `RunStats.pauses`.
        self.pauses: deque[Pause] = deque(maxlen=10_000)
        self.storage = storage
        self.replicas = replicas
        self.max_age = max_age
        self.ack_wait = ack_wait
        self.lease_ttl = lease_ttl
        self.auto_create = auto_create
        self.default_partitions = default_partitions
        self._partitions: dict[str, int] = {}
        self._routes: dict[str, dict[str, int]] = {}
        self._unkeyed: dict[str, int] = {}
        self._consumers: list[NatsConsumer] = []
        self._leases: Any = None  # the lease bucket, opened by the first subscribe
        self._closed = False
        self._io = LoopThread()
        options: dict[str, Any] = {
            "user": user, "password": password, "token": token, "tls": tls,
            "tls_hostname": tls_hostname, "connect_timeout": connect_timeout,
            "name": f"edalab-{socket.gethostname()}-{os.getpid()}",
            "max_reconnect_attempts": 120, "reconnect_time_wait": 0.25,
        }
        try:
            self._nc = self._io.run(connect(servers, {k: v for k, v in options.items()
                                                        if v is not None}))
        except Exception as exc:
            self._io.close()
            raise BrokerError(connect_error(self.url, exc, bool(user or token))) from None
        self._js = self._nc.jetstream()

    def __repr__(self) -> str:
        return f"NatsBroker({self.url!r})"

    def _run(self, coro, timeout: float | None = 60.0):
        if self._closed:
            coro.close()  # never run: no "coroutine was never awaited" warning
            raise BrokerError("broker is closed")
        return self._io.run(coro, timeout)

    # -- topics ----------------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create `name` with `partitions` partitions (a stream) and its ``.dlq`` topic."""
        check_topic(name)
        if not isinstance(partitions, int) or partitions < 1:
            raise ValueError(f"partitions must be a positive int, got {partitions!r}")
        self._run(self._create_topic(name, partitions))

    async def _create_topic(self, name: str, partitions: int) -> None:
        existing = await self._lookup(name)
        if existing is not None:
            if existing != partitions:
                raise BrokerError(f"topic {name!r} exists with {existing} partitions, "
                                  f"not {partitions}")
        else:
            config = api.StreamConfig(
                name=stream_name(name), subjects=[f"{name}.{p}" for p in range(partitions)],
                storage=api.StorageType.FILE if self.storage == "file" else
                api.StorageType.MEMORY, num_replicas=self.replicas, max_age=self.max_age,
                metadata={"edalab_topic": name, "edalab_partitions": str(partitions)})
            try:  # the same request again is harmless: a stream made so is returned
                await self._retrying(f"create topic {name!r}", lambda: self._js.add_stream(config))
            except APIError as exc:
                if exc.err_code == _IN_USE:  # another process created it since our lookup
                    self._partitions.pop(name, None)
                    return await self._create_topic(name, partitions)
                if exc.err_code in _TOO_FEW_SERVERS:
                    raise BrokerError(
                        f"cannot create topic {name!r} with replicas={self.replicas} at "
                        f"{self.url}: {exc.description} (the cluster needs at least "
                        f"{self.replicas} JetStream servers; NatsCluster({self.replicas}) "
                        "starts them, or lower replicas)") from None
                if exc.err_code != _OVERLAP:
                    raise
                raise BrokerError(await subjects_taken(self._js, name, self.url, exc)) from None
            self._partitions[name] = partitions
        if not name.endswith(DLQ_SUFFIX) and await self._lookup(dead_letter_topic(name)) is None:
            await self._create_topic(dead_letter_topic(name), 1)

    async def _retrying(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt()`, retried through a failover for up to `failover_timeout` seconds."""
        return await retrying(what, attempt, self.failover_timeout, pauses=self.pauses)

    async def _lookup(self, name: str) -> int | None:
        if name in self._partitions:
            return self._partitions[name]
        check_topic(name)
        try:  # retried: a stream another process just created has no leader for a moment
            info = await self._retrying(f"look up topic {name!r}",
                                        lambda: self._js.stream_info(stream_name(name)))
        except NotFoundError:
            return None
        owner = (info.config.metadata or {}).get("edalab_topic")
        if owner != name:  # made by hand, or by an edalab that named streams differently
            raise BrokerError(
                f"topic {name!r}: stream {stream_name(name)!r} on {self.url} holds "
                + (f"topic {owner!r}" if owner else "no edalab topic")
                + f", not {name!r}; rename one of them or delete that stream")
        n = len(info.config.subjects or [])
        self._partitions[name] = n
        return n

    async def _require(self, name: str) -> int:
        n = await self._lookup(name)
        if n is None:
            if not self.auto_create:
                raise UnknownTopicError(
                    f"unknown topic {name!r} on {self.url}; create it with "
                    f"broker.create_topic({name!r}, partitions=...) or make the broker with "
                    "auto_create=True")
            check_topic(name)
            await self._create_topic(name, self.default_partitions)
            n = self._partitions[name]
        return n

    def topics(self) -> list[str]:
        """Names of the edalab topics on the server, dead-letter topics included."""
        return self._run(self._topics())

    async def _topics(self) -> list[str]:
        names = []
        for info in await self._js.streams_info():
            topic = (info.config.metadata or {}).get("edalab_topic")
            if topic:
                names.append(topic)
        return sorted(names)

    def partitions(self, topic: str) -> int:
        return self._run(self._require(topic))

    def delete_topic(self, name: str) -> None:
        """Delete a topic (and its dead-letter topic) with all its data."""
        async def delete() -> None:
            for topic in (name, dead_letter_topic(name)):
                if await self._lookup(topic) is None:  # refuses another topic's stream
                    continue
                with contextlib.suppress(NotFoundError):
                    await self._js.delete_stream(stream_name(topic))
                self._partitions.pop(topic, None)
        self._run(delete())

    # -- producing -------------------------------------------------------------------------

    def _route(self, topic: str, n: int, key: str | None) -> int:
        p: int | None
        if key is None:
            p = self._unkeyed.get(topic, 0)
            self._unkeyed[topic] = (p + 1) % n
            return p
        routes = self._routes.setdefault(topic, {})
        p = routes.get(key)
        if p is None:
            if len(routes) > 1 << 16:
                routes.clear()
            p = routes[key] = key_hash(key) % n
        return p

    def publish(self, topic: str, event: Event) -> Record:
        """Append one event; waits for the server's ack. An event whose data JSON cannot hold
        raises `EventError` before anything is sent."""
        check_event(event)
        return self._run(self._publish(topic, event, event.to_json().encode()))

    async def _publish(self, topic: str, event: Event, payload: bytes) -> Record:
        n = await self._require(topic)
        p = self._route(topic, n, event.key)
        subject, stream = f"{topic}.{p}", stream_name(topic)
        headers = {"Nats-Msg-Id": msg_id(event.source, event.id)}
        ack = await self._retrying(f"publish to {topic!r}", lambda: self._js.publish(
            subject, payload, stream=stream, headers=dict(headers)))
        return Record(event, topic, p, ack.seq, 1, _clock())

    def publish_raw(self, topic: str, payload: bytes | str) -> None:
        """Append a payload as an outside producer sends it: the bytes go to the stream as
        they are (to the partition of their `partitionkey`, when they parse), and the
        consumers decode them at delivery; one that is not an edalab event is dead-lettered
        by each group that gets it, never handed to a handler."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8", "surrogatepass")
        event, error = decode(payload, topic)
        self._run(self._publish_raw(topic, bytes(payload), None if error else event.key))

    async def _publish_raw(self, topic: str, payload: bytes, key: str | None) -> None:
        p = self._route(topic, await self._require(topic), key)
        await self._retrying(f"publish to {topic!r}", lambda: self._js.publish(
            f"{topic}.{p}", payload, stream=stream_name(topic)))

    def publish_many(self, topic: str, events: Iterable[Event]) -> int:
        """Append events in order with asynchronous publish acks (the batch path).

        All or nothing on bad input: every event is checked and encoded before anything is
        sent, and one whose data JSON cannot hold raises `EventError` with its position in the
        batch as ``error.index``."""
        events = list(events)
        for event in events:
            check_event(event)
        return self._run(self._publish_many(topic, events, self._encode_all(events)), timeout=None)

    @staticmethod
    def _encode_all(events: list[Event]) -> list[bytes]:
        """Every event's JSON, or `EventError` with ``index``: the first that cannot be
        written (the same rule, and message, as `check_serialisable`)."""
        try:
            return [e.to_json().encode() for e in events]
        except EventError:
            check_serialisable(events)  # raises for the first, with its index
            raise

    async def _publish_many(self, topic: str, events: list[Event], payloads: list[bytes]
                            ) -> int:
        n = await self._require(topic)
        if events:
            route = self._route
            subjects = [f"{topic}.{route(topic, n, e.key)}" for e in events]
            # Ids only where a failover is expected: they cost 15-30 % of the rate (pipeline).
            ids = [msg_id(e.source, e.id) for e in events] if self.replicas > 1 else None
            await publish_pipelined(self._nc, subjects, payloads, ids, f"publish to {topic!r}",
                                    self.failover_timeout, pauses=self.pauses)
        return len(events)

    # -- consuming -------------------------------------------------------------------------

    def subscribe(self, topic: str, group: str | None = None, *, max_attempts: int = 3,
                  start: Literal["earliest", "latest"] = "earliest") -> NatsConsumer:
        """Join consumer group `group` on `topic` (a private group when None)."""
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be a positive int, got {max_attempts!r}")
        if start not in ("earliest", "latest"):
            raise ValueError(f"start must be 'earliest' or 'latest', got {start!r}")
        if group is None:
            group = "anonymous-" + uuid.uuid4().hex[:12]
        if not GROUP_PATTERN.match(group):
            raise ValueError(f"group name {group!r}: use letters, digits, '-' and '_'")
        consumer = NatsConsumer(self, topic, group, max_attempts, start)
        self._run(consumer._join())
        self._consumers.append(consumer)
        return consumer

    async def _lease_bucket(self):
        if self._leases is None:
            self._leases = await self._retrying("open the lease bucket", functools.partial(
                lease_bucket, self._js, self.lease_ttl, self.replicas))
        return self._leases

    # -- inspecting ------------------------------------------------------------------------

    def end_offsets(self, topic: str) -> list[int]:
        """Per partition, the sequence the next appended record will exceed (last + 1)."""
        async def offsets() -> list[int]:
            n = await self._require(topic)
            out = []
            for p in range(n):
                try:
                    msg = await self._retrying(f"end offsets of {topic!r}", functools.partial(
                        self._js.get_last_msg, stream_name(topic), f"{topic}.{p}"))
                    out.append(msg.seq + 1)
                except NotFoundError:
                    out.append(0)
            return out
        return self._run(offsets())

    def lag(self, topic: str, group: str) -> dict[int, int]:
        """Per partition: records not yet acked by `group` (pending plus in flight)."""
        return self._run(self._lag(topic, group))

    async def _lag(self, topic: str, group: str) -> dict[int, int]:
        n = await self._require(topic)
        what = f"lag of group {group!r} on {topic!r}"
        for consumer in self._consumers:  # acks sent before: processed by the server first
            if consumer.topic == topic and consumer.group == group:
                await consumer._confirm_acks()
        await self._retrying(what, self._nc.flush)
        return {p: await self._retrying(what, functools.partial(self._unsettled, topic, group, p))
                for p in range(n)}

    async def _unsettled(self, topic: str, group: str, p: int) -> int:
        try:
            return await unsettled(self._js, topic, group, p)
        except NotFoundError:  # the group has no consumer there yet: the whole partition
            return await self._count(topic, p)

    async def _count(self, topic: str, p: int) -> int:
        info = await self._js.stream_info(stream_name(topic), subjects_filter=f"{topic}.{p}")
        return (info.state.subjects or {}).get(f"{topic}.{p}", 0)

    def read(self, topic: str, partition: int | None = None) -> list[Record]:
        """The log itself, for inspection: one partition, or all (each in offset order)."""
        return self._run(self._read(topic, partition), timeout=None)

    async def _read(self, topic: str, partition: int | None) -> list[Record]:
        n = await self._require(topic)
        if partition is not None:
            check_partition(topic, n, partition)
        out: list[Record] = []
        what = f"read {topic!r}"
        for p in range(n) if partition is None else [partition]:
            total = await self._retrying(what, functools.partial(self._count, topic, p))
            if not total:
                continue
            out += await self._retrying(what, functools.partial(
                read_partition, self._js, topic, p, total))
        return out

    def close(self) -> None:
        """Close every consumer (naking what they hold) and the connection."""
        if self._closed:
            return
        for consumer in list(self._consumers):
            consumer.close()
        with contextlib.suppress(Exception):
            # Bounded: servers that are gone (a failover) would hold it for long.
            self._io.run(self._nc.drain(), timeout=min(10.0, max(1.0, self.failover_timeout)))
        with contextlib.suppress(Exception):  # a drain that failed leaves it reconnecting
            self._nc.is_closed or self._io.run(self._nc.close(), timeout=5)
        self._closed = True
        self._io.close()

    def __enter__(self) -> NatsBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
