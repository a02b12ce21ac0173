"""`NatsBroker`: the `Broker` protocol on NATS JetStream, for pipelines that outgrow a process.

Mapping (see DESIGN.md): one stream per topic with subjects ``<topic>.<partition>``; per
consumer group and partition one durable pull consumer with explicit acks; `nack` is a NAK
(the server redelivers and counts deliveries, which is `Record.attempt`); after `max_attempts`
the event goes to ``<topic>.dlq``; `seek` re-creates the group's consumers at a sequence or a
time; lag is the consumers' pending plus un-acked count. A record's `offset` is the stream
sequence: it grows within a partition but is shared by the topic's partitions.

JetStream has no group coordinator, so group membership and partition ownership live in a
key-value bucket: each member heartbeats a member key, and owns a partition by holding its
lease key (compare-and-set on the revision). Keys not refreshed within `lease_ttl` expire, so a
dead worker's partitions are taken over. Every member computes the same sticky assignment
(`edalab.brokers.assignment`) from the live members and current owners.

The client is asyncio; this class runs it on a private loop thread, so its API is synchronous
and works in scripts and inside Jupyter alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import ssl
import time
import uuid
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import APIError, NotFoundError

from edalab.brokers.assignment import assign
from edalab.brokers.base import (
    DLQ_SUFFIX,
    Batch,
    BrokerError,
    ConsumerClosedError,
    Position,
    Record,
    UnknownTopicError,
    check_event,
    check_partition,
    dead_letter,
    dead_letter_topic,
    decode,
)
from edalab.brokers.loop_thread import LoopThread
from edalab.brokers.partitioning import key_hash
from edalab.events import Event, EventError, check_serialisable

__all__ = ["NatsBroker", "NatsConsumer"]

_TOPIC = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\Z")
_GROUP = re.compile(r"[A-Za-z0-9_-]+\Z")
LEASES = "edalab-leases"
_clock = time.perf_counter


_STREAM_PREFIX = "edalab-"
# JetStream's longest stream name is 255 characters; a topic leaves room for its dead letters.
MAX_TOPIC_LENGTH = 255 - len(_STREAM_PREFIX) - len(DLQ_SUFFIX)
_OVERLAP = 10065  # JetStream's error code: the subjects belong to another stream


def stream_name(topic: str) -> str:
    """The JetStream stream of `topic`. Stream names cannot contain dots, so each dot becomes
    ``=``, which topic names cannot contain: distinct topics get distinct streams.

    >>> stream_name("orders.eu"), stream_name("orders_eu")
    ('edalab-orders=eu', 'edalab-orders_eu')
    """
    return _STREAM_PREFIX + topic.replace(".", "=")


def _check_topic(name: str) -> None:
    if not isinstance(name, str) or not _TOPIC.match(name):
        raise ValueError(f"topic name {name!r}: use letters, digits, '-', '_' and dots")
    limit = MAX_TOPIC_LENGTH + (len(DLQ_SUFFIX) if name.endswith(DLQ_SUFFIX) else 0)
    if len(name) > limit:
        raise ValueError(f"topic name {name[:30]!r}... has {len(name)} characters; at most "
                         f"{MAX_TOPIC_LENGTH} characters fit a JetStream stream name (with "
                         f"{DLQ_SUFFIX!r} for its dead letters)")


class NatsBroker:
    """The `Broker` protocol on a NATS JetStream server.

    Parameters
    ----------
    url
        Server URL, e.g. ``nats://127.0.0.1:4222`` (`edalab broker start` runs one).
    user, password, token
        Credentials, when the server requires them.
    tls, tls_hostname
        An `ssl.SSLContext` (and the name to verify) for TLS connections.
    storage
        ``"file"`` (survives a server restart; the default) or ``"memory"``.
    replicas
        Stream replicas (1 on a single server).
    max_age
        Retention of stream messages in seconds (None keeps everything).
    ack_wait
        Seconds before the server redelivers a message nobody acked (a crashed consumer).
    lease_ttl
        Seconds after which a silent group member's partitions are taken over.
    auto_create, default_partitions
        As on `MemoryBroker`: create unknown topics on first use instead of raising.
    """

    def __init__(self, url: str = "nats://127.0.0.1:4222", *, user: str | None = None,
                 password: str | None = None, token: str | None = None, tls: Any = None,
                 tls_hostname: str | None = None, storage: Literal["file", "memory"] = "file",
                 replicas: int = 1, max_age: float | None = None, ack_wait: float = 30.0,
                 lease_ttl: float = 6.0, auto_create: bool = False,
                 default_partitions: int = 1, connect_timeout: float = 5.0):
        if storage not in ("file", "memory"):
            raise ValueError(f"storage must be 'file' or 'memory', got {storage!r}")
        self.url = url
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
        self._leases = None
        self._closed = False
        self._io = LoopThread()
        options: dict[str, Any] = {
            "user": user, "password": password, "token": token, "tls": tls,
            "tls_hostname": tls_hostname, "connect_timeout": connect_timeout,
            "name": f"edalab-{socket.gethostname()}-{os.getpid()}",
            "max_reconnect_attempts": 120, "reconnect_time_wait": 0.25,
        }
        try:
            self._nc = self._io.run(self._connect(url, {k: v for k, v in options.items()
                                                        if v is not None}))
        except Exception as exc:
            self._io.close()
            raise BrokerError(_connect_error(url, exc, bool(user or token))) from None
        self._js = self._nc.jetstream()

    async def _connect(self, url: str, options: dict[str, Any]):
        errors: list[BaseException] = []

        async def remember(exc: BaseException) -> None:
            errors.append(exc)

        # A probe without reconnects fails fast with the server's reason (refused, bad
        # credentials); the real connection then reconnects through server restarts.
        try:
            probe = await nats.connect(url, error_cb=remember, allow_reconnect=False,
                                       **{**options, "max_reconnect_attempts": 1,
                                          "reconnect_time_wait": 0.05})
        except Exception as exc:
            raise (errors[-1] if errors else exc) from None
        await probe.close()
        return await nats.connect(url, error_cb=remember, **options)

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
        _check_topic(name)
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
            try:
                await self._js.add_stream(config)
            except APIError as exc:
                if exc.err_code != _OVERLAP:
                    raise
                raise BrokerError(await self._subjects_taken(name, exc)) from None
            self._partitions[name] = partitions
        if not name.endswith(DLQ_SUFFIX) and await self._lookup(dead_letter_topic(name)) is None:
            await self._create_topic(dead_letter_topic(name), 1)

    async def _lookup(self, name: str) -> int | None:
        if name in self._partitions:
            return self._partitions[name]
        _check_topic(name)
        try:
            info = await self._js.stream_info(stream_name(name))
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

    async def _subjects_taken(self, name: str, exc: APIError) -> str:
        """Why topic `name` cannot be created: which stream holds its subjects."""
        try:
            holder = await self._js.find_stream_name_by_subject(f"{name}.0")
            topic = ((await self._js.stream_info(holder)).config.metadata or {}).get(
                "edalab_topic")
        except Exception:  # the reason stays the server's own words
            return f"cannot create topic {name!r} on {self.url}: {exc.description}"
        held = f", topic {topic!r}" if topic else ""
        return (f"cannot create topic {name!r} on {self.url}: its subjects {name}.<partition> "
                f"belong to stream {holder!r}{held}; delete that stream or use another name")

    async def _require(self, name: str) -> int:
        n = await self._lookup(name)
        if n is None:
            if not self.auto_create:
                raise UnknownTopicError(
                    f"unknown topic {name!r} on {self.url}; create it with "
                    f"broker.create_topic({name!r}, partitions=...) or make the broker with "
                    "auto_create=True")
            _check_topic(name)
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
        ack = await self._js.publish(f"{topic}.{p}", payload, stream=stream_name(topic))
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
        await self._js.publish(f"{topic}.{p}", payload, stream=stream_name(topic))

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

    async def _publish_many(self, topic: str, events: list[Event], payloads: list[bytes],
                            window: int = 4000) -> int:
        # Pipelined publish with one reply inbox for the whole batch: the server's acks are
        # counted by one subscription callback instead of a future, a random token and a
        # semaphore per message (js.publish_async); at most `window` unacked at a time.
        n = await self._require(topic)
        if not events:
            return 0
        nc, route = self._nc, self._route
        subjects = [f"{topic}.{p}" for p in range(n)]
        inbox = nc.new_inbox()
        total = len(events)
        state: dict[str, Any] = {"acked": 0, "error": None}
        room = asyncio.Event()
        finished = asyncio.get_running_loop().create_future()

        async def on_ack(msg) -> None:
            # An ack is {"stream":..,"seq":..}; an error is {"error":..}; an empty reply is
            # a status such as 503 no responders (no stream takes the subject).
            if state["error"] is None and (not msg.data or b'"error"' in msg.data):
                state["error"] = msg.data.decode(errors="replace") or \
                    f"no stream answered (status {(msg.headers or {}).get('Status', '?')})"
            state["acked"] += 1
            if state["acked"] == total and not finished.done():
                finished.set_result(None)
            room.set()

        sub = await nc.subscribe(inbox + ".*", cb=on_ack)
        try:
            publish = nc.publish
            for i, (e, payload) in enumerate(zip(events, payloads, strict=True)):
                while i - state["acked"] >= window:
                    room.clear()
                    await room.wait()
                await publish(subjects[route(topic, n, e.key)], payload, reply=f"{inbox}.{i}")
            await asyncio.wait_for(finished, 30 + total / 1000)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        if state["error"]:
            raise BrokerError(f"publish to {topic!r} failed: {state['error']}")
        return total

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
        if not _GROUP.match(group):
            raise ValueError(f"group name {group!r}: use letters, digits, '-' and '_'")
        consumer = NatsConsumer(self, topic, group, max_attempts, start)
        self._run(consumer._join())
        self._consumers.append(consumer)
        return consumer

    async def _lease_bucket(self):
        if self._leases is None:
            try:
                kv = await self._js.key_value(LEASES)
            except Exception:
                kv = await self._js.create_key_value(
                    api.KeyValueConfig(bucket=LEASES, history=1, ttl=self.lease_ttl,
                                       storage=api.StorageType.FILE))
            ttl = (await kv.status()).ttl
            if ttl is not None and abs(ttl - self.lease_ttl) > 1e-3:
                raise BrokerError(
                    f"the server's lease bucket expires leases after {ttl:g} s but this broker "
                    f"has lease_ttl={self.lease_ttl:g}; every member must use the same value "
                    f"(NatsBroker(..., lease_ttl={ttl:g}))")
            self._leases = kv
        return self._leases

    # -- inspecting ------------------------------------------------------------------------

    def end_offsets(self, topic: str) -> list[int]:
        """Per partition, the sequence the next appended record will exceed (last + 1)."""
        async def offsets() -> list[int]:
            n = await self._require(topic)
            out = []
            for p in range(n):
                try:
                    msg = await self._js.get_last_msg(stream_name(topic), f"{topic}.{p}")
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
        await self._nc.flush()  # acks sent before this call reach the server first
        out = {}
        for p in range(n):
            try:
                out[p] = await self._unsettled(topic, group, p)
            except NotFoundError:
                out[p] = await self._count(topic, p)
        return out

    async def _unsettled(self, topic: str, group: str, p: int) -> int:
        """Records of p not yet delivered or not yet acked in `group`. The server counts a
        new record into a consumer's pending from a queue of its own, so just after a
        publish the count may miss it: a count of none is checked against the partition's
        last record and asked again (for up to a second) until the two agree."""
        stream, durable = stream_name(topic), _durable(group, p)
        deadline = _clock() + 1.0
        while True:
            info = await self._js.consumer_info(stream, durable)
            if info.num_pending or _clock() > deadline:
                break
            try:
                last = await self._js.get_last_msg(stream, f"{topic}.{p}")
            except NotFoundError:  # an empty partition
                break
            if last.seq <= info.delivered.stream_seq:
                break
            await asyncio.sleep(0.005)
        return info.num_pending + info.num_ack_pending

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
        for p in range(n) if partition is None else [partition]:
            total = await self._count(topic, p)
            if not total:
                continue
            sub = await self._js.pull_subscribe(
                f"{topic}.{p}", stream=stream_name(topic),
                config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE,
                                          inactive_threshold=30.0))
            try:
                got = 0
                while got < total:
                    try:
                        msgs = await sub.fetch(min(1000, total - got), timeout=1.0)
                    except NatsTimeout:
                        break
                    for msg in msgs:
                        meta = msg.metadata
                        out.append(Record(decode(msg.data, topic)[0], topic, p,
                                          meta.sequence.stream, 1,
                                          _perf_time(meta.timestamp)))
                    got += len(msgs)
            finally:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        return out

    def close(self) -> None:
        """Close every consumer (naking what they hold) and the connection."""
        if self._closed:
            return
        for consumer in list(self._consumers):
            consumer.close()
        with contextlib.suppress(Exception):
            self._io.run(self._nc.drain(), timeout=10)
        self._closed = True
        self._io.close()

    def __enter__(self) -> NatsBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Puller:
    """Pull requests for one (group, partition) durable consumer, one outstanding at a time;
    the messages land straight in the partition's buffer from a subscription callback.

    This is JetStream's pull protocol (a request on ``$JS.API.CONSUMER.MSG.NEXT``, messages to
    a private inbox, a status message when the request ends) without nats-py's `fetch`, which
    awaits every message under its own timeout: a third of the cost of consuming here.
    """

    def __init__(self, nc, stream: str, durable: str, buffer: deque, arrived: asyncio.Event):
        self._nc = nc
        self._subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._buffer = buffer
        self._arrived = arrived
        self._sub = None
        self.expected = 0  # messages the outstanding request may still bring (0: none open)
        self.closing = False  # being handed over: no new requests
        self._stopped = False

    async def start(self) -> _Puller:
        self._sub = await self._nc.subscribe(self._inbox, cb=self._on_message)
        return self

    async def _on_message(self, msg) -> None:
        headers = msg.headers
        if headers and not msg.data and _STATUS in headers:
            self.expected = 0  # 408 expired, 409 consumer gone or limits: the request is over
        elif self._stopped:  # after the hand-over (a request that outlived `settle`)
            with contextlib.suppress(Exception):
                await msg.nak()
            return
        else:
            self._buffer.append(msg)
            self.expected -= 1
        self._arrived.set()

    async def request(self, batch: int, wait: float) -> None:
        """Ask for up to `batch` messages, waiting up to `wait` seconds at the server."""
        if self.closing:
            return
        self.expected = batch
        body = b'{"batch":%d,"expires":%d}' % (batch, int(wait * 1e9))
        await self._nc.publish(self._subject, body, reply=self._inbox)

    async def settle(self) -> None:
        """Wait for the outstanding request to end (it expires within its `wait`)."""
        deadline = _clock() + 5.0
        while self.expected > 0 and _clock() < deadline:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), 0.1)

    async def stop(self) -> None:
        self._stopped = True
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()


class NatsConsumer:
    """A member of a consumer group on a `NatsBroker` topic (see `NatsBroker.subscribe`)."""

    def __init__(self, broker: NatsBroker, topic: str, group: str, max_attempts: int,
                 start: str):
        self._broker = broker
        self._js = broker._js
        self.topic = topic
        self.group = group
        self.max_attempts = max_attempts
        self.start = start
        self.member = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._stream = stream_name(topic)
        self._n = 0
        self._owned: dict[int, _Puller] = {}  # partition -> its pull requests
        self._revisions: dict[int, int] = {}  # partition -> our lease key's revision
        self._buffers: dict[int, deque] = {}  # fetched, not yet handed out
        self._arrived = asyncio.Event()  # set by a puller when a message or status arrives
        self._inflight: dict[tuple[int, int], Any] = {}  # (partition, seq) -> message
        self._carried: dict[int, dict[int, int]] = {}  # deliveries before a hand-over
        self._naked: dict[int, dict[int, int]] = {}  # nacked, not yet delivered again
        self._next = 0
        self._last_round = 0.0
        self._expires = 0.0  # no lease of ours expires before this (see `_poll`)
        self._heartbeat: asyncio.Task | None = None
        self._closed = False
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"partitions={sorted(self._owned)}"
        return f"NatsConsumer(topic={self.topic!r}, group={self.group!r}, {state})"

    # -- membership ------------------------------------------------------------------------

    def _key(self, kind: str, name: object) -> str:
        return f"{self._stream}.{self.group}.{kind}.{name}"

    async def _join(self) -> None:
        self._n = await self._broker._require(self.topic)
        for p in range(self._n):
            await self._ensure_durable(p)
        await self._round()
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def _ensure_durable(self, p: int, position: Position | None = None) -> None:
        durable = _durable(self.group, p)
        if position is None:
            try:
                await self._js.consumer_info(self._stream, durable)
                return
            except NotFoundError:
                position = "beginning" if self.start == "earliest" else "end"
        config = api.ConsumerConfig(
            durable_name=durable, filter_subject=f"{self.topic}.{p}",
            ack_policy=api.AckPolicy.EXPLICIT, max_deliver=-1,
            ack_wait=self._broker.ack_wait, max_ack_pending=-1, **_deliver_from(position))
        await self._js.add_consumer(self._stream, config)

    async def _beat(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._broker.lease_ttl / 3)
            with contextlib.suppress(Exception):
                await self._round()

    async def _round(self) -> None:
        """One membership round: heartbeat, read members and leases, release and acquire."""
        async with self._lock:
            if self._closed:
                return
            began = _clock()
            kv = await self._broker._lease_bucket()
            await kv.put(self._key("m", self.member), b"1")
            entries = await _entries(kv, f"{self._stream}.{self.group}.>")
            prefix = self._key("m", "")
            members = sorted({key[len(prefix):] for key in entries if key.startswith(prefix)}
                             | {self.member})
            # A lease is (owner, revision). A partition handed back cleanly has owner "" and
            # the delivery counts of what its last owner handed back, as "=" + JSON.
            leases: dict[int, tuple[str, int]] = {}
            handed: dict[int, dict[int, int]] = {}
            for p in range(self._n):
                value = entries.get(self._key("p", p))
                if value is not None:
                    owner = value[0].decode()
                    if owner.startswith("="):
                        handed[p] = {int(k): v for k, v in json.loads(owner[1:]).items()}
                        owner = ""
                    leases[p] = (owner, value[1])
            live = {p: owner for p, (owner, _) in leases.items() if owner in members}
            mine = set(assign(self._n, members, live).get(self.member, []))
            for p in sorted(set(self._owned) - mine):
                if leases.get(p, ("",))[0] == self.member:
                    await self._release(kv, p)
                else:  # our lease expired and another member took p over
                    await self._drop(p, hand_back=False)
            for p in sorted(mine):
                owner, revision = leases.get(p, (None, 0))
                if owner and owner != self.member and owner in members:
                    if p in self._owned:  # taken over after our lease expired
                        await self._drop(p, hand_back=False)
                    continue  # a live member still holds it; it lets go on its round
                try:
                    if owner is None:  # never leased, or the lease expired with its holder
                        self._revisions[p] = await kv.create(self._key("p", p),
                                                             self.member.encode())
                    else:
                        self._revisions[p] = await kv.update(
                            self._key("p", p), self.member.encode(), last=revision)
                except Exception:  # another member won the compare-and-set
                    if p in self._owned:
                        await self._drop(p, hand_back=False)
                    continue
                if p not in self._owned:
                    await self._take_over(p, handed.get(p))
                    await self._pull(p)
            self._last_round = _clock()
            self._expires = began + self._broker.lease_ttl  # all refreshed after `began`

    async def _pull(self, p: int) -> None:
        self._buffers[p] = deque()
        self._owned[p] = await _Puller(self._broker._nc, self._stream, _durable(self.group, p),
                                       self._buffers[p], self._arrived).start()

    async def _take_over(self, p: int, handed: dict[int, int] | None) -> None:
        """Start owning p. Deliveries still pending that its previous owner did not hand back
        (lost in flight, or held by a member that died) would come again only after
        `ack_wait`, behind newer records, breaking per-key order; a pull request still open
        after its owner's lease expired (`handed` is None) would split the partition between
        two readers. Then restart the group's consumer at its first un-acked record, as a
        Kafka consumer restarts at the committed offset (deleting it ends the open requests);
        delivery counts restart, except those the previous owner handed back."""
        durable = _durable(self.group, p)
        info = await self._js.consumer_info(self._stream, durable)
        self._carried[p] = {}
        if info.num_ack_pending > len(handed or ()) or (handed is None and info.num_waiting):
            await self._js.delete_consumer(self._stream, durable)
            await self._ensure_durable(p, info.ack_floor.stream_seq + 1)
            self._carried[p] = dict(handed or {})

    async def _release(self, kv, p: int) -> None:
        counts = await self._drop(p)
        revision = self._revisions.pop(p, None)
        with contextlib.suppress(Exception):
            await kv.update(self._key("p", p), b"=" + json.dumps(counts).encode(),
                            last=revision)

    async def _drop(self, p: int, hand_back: bool = True) -> dict[int, int]:
        """Stop reading p. With `hand_back`, NAK what we hold of it (redelivered at once) and
        return the delivery counts of what was handed back, by stream sequence. Without
        (our lease expired and another member took p over, restarting the group's consumer
        at its first un-acked record), forget it."""
        puller = self._owned.pop(p, None)  # polls skip p from now on
        if puller is not None:
            puller.closing = True  # no new requests (a poll suspended mid-loop may try)
            if hand_back:  # let the open one end: what it brings lands in the buffer
                await puller.settle()
        held = list(self._buffers.pop(p, ()))
        held += [self._inflight.pop(key) for key in [k for k in self._inflight if k[0] == p]]
        counts = self._naked.pop(p, {})
        carried = self._carried.pop(p, {})
        if not hand_back:
            held, counts = [], {}
        # The server redelivers NAKed messages in NAK order: hand back in log order.
        for msg in sorted(held, key=lambda m: _ack_tokens(m)[1]):
            attempt, seq, _ = _ack_tokens(msg)
            counts[seq] = attempt + carried.get(seq, 0)
            with contextlib.suppress(Exception):
                await msg.nak()
        if puller is not None:
            await puller.stop()
        return counts

    # -- the Consumer protocol -------------------------------------------------------------

    def _run(self, coro, timeout: float | None = 60.0):
        if self._closed:
            coro.close()
            raise ConsumerClosedError(f"consumer of {self.topic!r} in group {self.group!r} "
                                      "is closed")
        return self._broker._run(coro, timeout)

    def poll(self, max_events: int = 500, timeout: float = 0.0) -> Batch:
        """Up to `max_events` records from this member's partitions; waits up to `timeout`
        seconds (at least one round trip to the server) when none is buffered."""
        if max_events < 1:
            raise ValueError(f"max_events must be >= 1, got {max_events}")
        return self._run(self._poll(max_events, timeout),
                         timeout=None if timeout is None else timeout + 60)

    def _lease_left(self) -> float:
        """Seconds a pull request may still last: until a quarter of `lease_ttl` before the
        earliest our leases can expire."""
        return self._expires - self._broker.lease_ttl / 4 - _clock()

    async def _round_if_due(self) -> None:
        if _clock() - self._last_round > self._broker.lease_ttl / 3:
            await self._round()

    async def _poll(self, max_events: int, timeout: float) -> Batch:
        await self._round_if_due()
        deadline = _clock() + max(timeout, 0.0)
        while True:
            self._arrived.clear()
            records = await self._take(max_events)
            if records:
                return _batch(records)
            # No prefetching: a message delivered here counts as a delivery attempt, so ask
            # only for what a caller is waiting for. A request ends well before our leases
            # may expire: who takes a partition over from an expired lease must be its only
            # reader. A member that could not renew them in time (a stalled process, a lost
            # connection) asks again only after a round that does.
            if self._owned and self._lease_left() < 0.01:
                with contextlib.suppress(Exception):
                    await self._round()
            left = self._lease_left()
            wait = max(0.01, min(1.0, deadline - _clock(), left))
            # A copy: a membership round may drop a partition while a request is sent.
            for p, puller in list(self._owned.items()):
                if not puller.expected and not self._buffers.get(p) and left >= 0.01:
                    await puller.request(max_events, wait)
            remaining = deadline - _clock()
            if not self._owned:
                if remaining <= 0:
                    return _batch([])
                await asyncio.sleep(min(remaining, 0.05))
                await self._round_if_due()
                continue
            if remaining <= 0 and not any(p.expected for p in self._owned.values()):
                return _batch([])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), max(remaining, 0.0) + 0.05)
            if _clock() >= deadline and not any(self._buffers.get(p) for p in self._owned):
                return _batch([])

    async def _take(self, max_events: int) -> list[Record]:
        # No coroutine per record: stream sequence, delivery count and append time come from
        # the ack subject's tokens (not nats-py's Metadata dataclasses and datetime), one
        # clock offset per batch; malformed or over-delivered messages go to `_reject`.
        out: list[Record] = []
        parts = sorted(self._owned)
        if not parts:
            return out
        n = len(parts)
        topic, inflight, limit, from_json = self.topic, self._inflight, self.max_attempts, \
            Event.from_json
        offset = _clock() - time.time()  # perf_counter = wall time + offset
        for i in range(n):
            p = parts[(self._next + i) % n]
            buffer = self._buffers[p]
            carried = self._carried.get(p)
            naked = self._naked.get(p)
            while buffer and len(out) < max_events:
                msg = buffer.popleft()
                attempt, seq, stamp = _ack_tokens(msg)
                if carried:
                    attempt += carried.get(seq, 0)
                if naked:
                    naked.pop(seq, None)
                try:
                    event = from_json(msg.data) if attempt <= limit else None
                except Exception:  # any fault of the payload: never crash the consumer
                    event = None
                if event is None:  # the slow path dead-letters it
                    await self._reject(p, msg, seq, attempt)
                    continue
                inflight[(p, seq)] = msg
                out.append(Record(event, topic, p, seq, attempt, stamp / 1e9 + offset))
            if len(out) >= max_events:
                self._next = (self._next + i + 1) % n
                break
        return out

    async def _reject(self, p: int, msg, seq: int, attempt: int) -> None:
        """Dead-letter a message that is not an edalab event, or was delivered more than
        `max_attempts` times without being settled (its consumers crashed)."""
        event, error = decode(msg.data, self.topic)  # not an event: its bytes, and why
        if error is None:
            error = f"delivered {attempt} times without an ack or a nack"
        await self._dead_letter(p, seq, attempt, event, error)
        await msg.term()

    async def _dead_letter(self, p: int, seq: int, attempt: int, event: Event,
                           error: BaseException | str | None) -> None:
        dead = dead_letter(Record(event, self.topic, p, seq, attempt, 0.0), self.group, error)
        dlq = dead_letter_topic(self.topic)
        await self._broker._require(dlq)
        await self._js.publish(f"{dlq}.0", dead.to_json().encode(), stream=stream_name(dlq))

    def ack(self, records: Iterable[Record]) -> None:
        """These records are done: the group will not get them again."""
        records = records.records() if isinstance(records, Batch) else list(records)
        for record in records:
            if not 0 <= record.partition < self._n:
                check_partition(self.topic, self._n, record.partition)
        if records:
            self._run(self._ack(records))

    async def _ack(self, records: list[Record]) -> None:
        for record in records:
            if record.topic != self.topic:
                raise BrokerError(f"cannot ack a record of topic {record.topic!r} on a "
                                  f"consumer of {self.topic!r}")
            msg = self._inflight.pop((record.partition, record.offset), None)
            if msg is not None:
                await msg.ack()

    def nack(self, record: Record, error: BaseException | str | None = None) -> None:
        """Processing failed: the server redelivers (attempt + 1); after `max_attempts` the
        event goes to the dead-letter topic with the error and its original position."""
        if record.topic != self.topic:
            raise BrokerError(f"cannot nack a record of topic {record.topic!r} on a consumer "
                              f"of {self.topic!r}")
        check_partition(self.topic, self._n, record.partition)
        self._run(self._nack(record, error))

    async def _nack(self, record: Record, error: BaseException | str | None) -> None:
        msg = self._inflight.pop((record.partition, record.offset), None)
        if msg is None:
            return  # not ours any more (settled, or the partition moved)
        if record.attempt >= self.max_attempts:
            await self._dead_letter(record.partition, record.offset, record.attempt,
                                    record.event, error)
            await msg.term()
        else:
            await msg.nak()  # pending at the server until redelivered: ours to hand back
            self._naked.setdefault(record.partition, {})[record.offset] = record.attempt

    def seek(self, position: Position, partition: int | None = None) -> None:
        """Move the whole group to `position` on one partition or all: ``"beginning"``,
        ``"end"``, an offset (stream sequence), or an event time (the first record whose
        event time is at or after it; this reads the partition)."""
        if not (position in ("beginning", "end") or isinstance(position, datetime)
                or (isinstance(position, int) and not isinstance(position, bool))):
            raise TypeError("seek position must be 'beginning', 'end', an offset or a "
                            f"datetime, got {position!r}")
        if isinstance(position, datetime) and position.utcoffset() is None:
            raise ValueError("seek time must be timezone-aware")
        self._run(self._seek(position, partition))

    async def _seek(self, position: Position, partition: int | None) -> None:
        parts = range(self._n) if partition is None else [partition]
        for p in parts:
            if not 0 <= p < self._n:
                raise ValueError(f"topic {self.topic!r} has no partition {p}")
            target = position
            if isinstance(position, datetime):  # event time: the first record at or after it
                later = [r.offset for r in await self._broker._read(self.topic, p)
                         if r.event.time >= position]
                target = later[0] if later else "end"
            owned = p in self._owned
            if owned:
                await self._drop(p)
            with contextlib.suppress(NotFoundError):
                await self._js.delete_consumer(self._stream, _durable(self.group, p))
            await self._ensure_durable(p, target)
            if owned:
                await self._pull(p)

    def lag(self) -> dict[int, int]:
        """Per partition: records not yet acked by this consumer's group."""
        return self._run(self._broker._lag(self.topic, self.group))

    def assignment(self) -> list[int]:
        """The partitions this member owns (after a membership round)."""
        self._run(self._round())
        return sorted(self._owned)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Leave the group: NAK what it holds (the next owner gets it at once), release its
        leases and its member key."""
        if self._closed:
            return
        with contextlib.suppress(Exception):
            self._broker._run(self._leave(), timeout=30)
        self._closed = True
        with contextlib.suppress(ValueError):
            self._broker._consumers.remove(self)

    async def _leave(self) -> None:
        async with self._lock:
            if self._heartbeat is not None:
                self._heartbeat.cancel()
            kv = await self._broker._lease_bucket()
            for p in sorted(self._owned):
                await self._release(kv, p)
            with contextlib.suppress(Exception):
                await kv.delete(self._key("m", self.member))
            self._closed = True

    def __enter__(self) -> NatsConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _entries(kv, pattern: str) -> dict[str, tuple[bytes, int]]:
    """Live keys matching `pattern`, with their values and revisions (one watch)."""
    watcher = await kv.watch(pattern, ignore_deletes=True)
    out: dict[str, tuple[bytes, int]] = {}
    try:
        async for entry in watcher:
            if entry is None:  # the end of the current values
                break
            out[entry.key] = (entry.value or b"", entry.revision)
    finally:
        await watcher.stop()
    return out


_STATUS = api.Header.STATUS


def _ack_tokens(msg) -> tuple[int, int, int]:
    """(delivery count, stream sequence, append time in ns) from a JetStream message's ack
    subject, ``$JS.ACK.[domain.hash.]stream.consumer.delivered.sseq.cseq.ts.pending[.x]``
    (cheaper than nats-py's Metadata, which builds dataclasses and a datetime)."""
    tokens = msg.reply.split(".")
    k = 0 if len(tokens) == 9 else 2
    return int(tokens[4 + k]), int(tokens[5 + k]), int(tokens[7 + k])


def _durable(group: str, p: int) -> str:
    return f"{group}-p{p}"


def _deliver_from(position: Position) -> dict[str, Any]:
    if position == "beginning":
        return {"deliver_policy": api.DeliverPolicy.ALL}
    if position == "end":
        return {"deliver_policy": api.DeliverPolicy.NEW}
    return {"deliver_policy": api.DeliverPolicy.BY_START_SEQUENCE,
            "opt_start_seq": max(1, int(position))}


def _batch(records: list[Record]) -> Batch:
    return Batch([r.event for r in records], [r.timestamp for r in records], records)


def _perf_time(server_time: datetime) -> float:
    """A server timestamp on this process's perf_counter scale (for latency)."""
    return _clock() - (time.time() - server_time.timestamp())


def _connect_error(url: str, exc: BaseException, credentials: bool = False) -> str:
    text = (str(exc) or type(exc).__name__).strip()
    lowered = text.lower()
    if "authorization" in lowered or "authentication" in lowered:
        hint = ("check the user/password or token given to NatsBroker" if credentials
                else "pass user/password or token to NatsBroker")
        return f"NATS server at {url} refused the connection: {text} ({hint})"
    if isinstance(exc, ssl.SSLCertVerificationError) or "certificate_verify_failed" in lowered:
        return (f"TLS to the NATS server at {url} failed: {text} (pass "
                "tls=ssl.create_default_context(cafile=<the server's CA file>) to NatsBroker, "
                "and tls_hostname=<a name in the certificate> if the URL's host is not in it)")
    if isinstance(exc, ssl.SSLError):
        return f"TLS to the NATS server at {url} failed: {text}"
    return (f"cannot connect to NATS at {url}: {text} (is the server running? "
            "`edalab broker start` starts one)")
