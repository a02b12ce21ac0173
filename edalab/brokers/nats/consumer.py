"""`NatsConsumer`: one member of a consumer group on a NATS topic (poll, ack, nack, seek).

Per (group, partition) one durable pull consumer with explicit acks; a `nack` is a NAK (the
server redelivers and counts deliveries, which is `Record.attempt`); after `max_attempts` the
event goes to ``<topic>.dlq``; `seek` re-creates the group's consumers at a sequence or a
time. Which partitions this member reads is decided by the lease protocol (`Membership`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from nats.errors import ConnectionReconnectingError
from nats.js import api
from nats.js.errors import NotFoundError

from edalab.brokers.base import (
    Batch,
    BrokerError,
    ConsumerClosedError,
    Position,
    Record,
    check_partition,
    chosen_partitions,
    dead_letter,
    dead_letter_topic,
    decode,
)
from edalab.brokers.nats.codec import ack_tokens, durable_name, stream_name
from edalab.brokers.nats.failover import note_pause, transient
from edalab.brokers.nats.membership import ACK_CONFIRM_S, Membership
from edalab.brokers.nats.puller import Puller
from edalab.events import Event

if TYPE_CHECKING:
    from edalab.brokers.nats.broker import NatsBroker

__all__ = ["NatsConsumer"]

_clock = time.perf_counter


class NatsConsumer(Membership):
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
        self._owned: dict[int, Puller] = {}  # partition -> its pull requests
        self._revisions: dict[int, int] = {}  # partition -> our lease key's revision
        self._buffers: dict[int, deque] = {}  # fetched, not yet handed out
        self._arrived = asyncio.Event()  # set by a puller when a message or status arrives
        self._inflight: dict[tuple[int, int], Any] = {}  # (partition, seq) -> message
        self._carried: dict[int, dict[int, int]] = {}  # deliveries before a hand-over
        self._naked: dict[int, dict[int, int]] = {}  # nacked, not yet delivered again
        self._paused: set[int] = set()  # no requests, nothing handed out (see `pause`)
        self._next = 0
        self._last_round = 0.0
        self._expires = 0.0  # no lease of ours expires before this (see `_poll`)
        self._heartbeat: asyncio.Task | None = None
        self._failing: float | None = None  # when membership rounds began to fail
        self._unconfirmed: dict[int, Any] = {}  # partition -> last message acked, unconfirmed
        self._closed = False
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"partitions={sorted(self._owned)}"
        return f"NatsConsumer(topic={self.topic!r}, group={self.group!r}, {state})"

    # -- the group's durable consumers and their pull requests ------------------------------

    async def _ensure_durable(self, p: int, position: Position | None = None) -> None:
        durable = durable_name(self.group, p)
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

    async def _pull(self, p: int) -> None:
        self._buffers[p] = deque()
        self._owned[p] = await Puller(self._broker._nc, self._stream,
                                      durable_name(self.group, p), self._buffers[p],
                                      self._arrived).start()

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

    async def _poll(self, max_events: int, timeout: float) -> Batch:
        await self._round_or_wait()
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
            if self._owned and self._lease_left() < 0.01 and self._broker._nc.is_connected:
                with contextlib.suppress(Exception):
                    await self._round()
            left = self._lease_left()
            wait = max(0.01, min(1.0, deadline - _clock(), left))
            # A copy: a membership round may drop a partition while a request is sent.
            for p, puller in list(self._owned.items()):
                if (not puller.open and not self._buffers.get(p) and left >= 0.01
                        and p not in self._paused):
                    await puller.request(max_events, wait)
            remaining = deadline - _clock()
            if not self._owned:
                if remaining <= 0:
                    return _batch([])
                await asyncio.sleep(min(remaining, 0.05))
                await self._round_or_wait()
                continue
            if remaining <= 0 and not any(p.open for p in self._owned.values()):
                return _batch([])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), max(remaining, 0.0) + 0.05)
            if _clock() >= deadline and not any(self._buffers.get(p) for p in self._owned
                                                 if p not in self._paused):
                return _batch([])

    async def _round_or_wait(self) -> None:
        """A due membership round; while the cluster fails over (a transient fault) the poll
        goes on with the partitions it has, for up to the broker's `failover_timeout`."""
        what = f"poll of {self.topic!r} in group {self.group!r}"
        try:
            if not self._broker._nc.is_connected:  # reconnecting: each request would time out
                raise ConnectionReconnectingError
            await self._round_if_due()
            if self._failing is not None:
                note_pause(self._broker.pauses, what, _clock() - self._failing)
                self._failing = None
        except Exception as exc:
            if not transient(exc):
                raise
            now = _clock()
            self._failing = self._failing or now
            bound = self._broker.failover_timeout
            if now - self._failing > bound:
                note_pause(self._broker.pauses, what, now - self._failing, recovered=False)
                raise BrokerError(
                    f"{what}: the servers did not answer within failover_timeout={bound:g} s "
                    f"({exc or type(exc).__name__})") from None

    async def _take(self, max_events: int) -> list[Record]:
        # No coroutine per record: stream sequence, delivery count and append time come from
        # the ack subject's tokens (not nats-py's Metadata dataclasses and datetime), one
        # clock offset per batch; malformed or over-delivered messages go to `_reject`.
        out: list[Record] = []
        parts = sorted(p for p in self._owned if p not in self._paused)
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
                attempt, seq, stamp = ack_tokens(msg)
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
            error = f"delivered {attempt} times without an ack or a nack"  # type: ignore[assignment]
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
                self._unconfirmed[record.partition] = msg

    async def _confirm_acks(self) -> None:
        """Wait until the server has processed this member's acks so far. Acks go without
        an answer; the server may still hold some in its queue when `lag` reads the
        consumer, and count them as pending. So the last ack of each partition is sent again
        as a request, answered once the server has processed the acks before it (an ack
        again is harmless). Best effort, bounded: a late answer (a failover) is not waited
        for."""
        last, self._unconfirmed = self._unconfirmed, {}
        if last:
            request = self._broker._nc.request
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(
                    *(request(msg.reply, b"", timeout=ACK_CONFIRM_S) for msg in last.values())),
                    ACK_CONFIRM_S)

    def nack(self, record: Record, error: BaseException | str | None = None,
             delay: float = 0.0) -> None:
        """Processing failed: the server redelivers (attempt + 1), not before `delay` seconds
        (JetStream's NAK with a delay; other records keep flowing meanwhile); after
        `max_attempts` the event goes to the dead-letter topic with the error and its
        original position."""
        if not delay >= 0:  # NaN too
            raise ValueError(f"nack delay must be >= 0 seconds, got {delay!r}")
        if record.topic != self.topic:
            raise BrokerError(f"cannot nack a record of topic {record.topic!r} on a consumer "
                              f"of {self.topic!r}")
        check_partition(self.topic, self._n, record.partition)
        self._run(self._nack(record, error, delay))

    async def _nack(self, record: Record, error: BaseException | str | None,
                    delay: float = 0.0) -> None:
        msg = self._inflight.pop((record.partition, record.offset), None)
        if msg is None:
            return  # not ours any more (settled, or the partition moved)
        if record.attempt >= self.max_attempts:
            await self._dead_letter(record.partition, record.offset, record.attempt,
                                    record.event, error)
            await msg.term()
        else:
            await msg.nak(delay or None)  # pending at the server until redelivered
            self._naked.setdefault(record.partition, {})[record.offset] = record.attempt

    def pause(self, partitions: Iterable[int] | None = None) -> None:
        """Deliver nothing more from these partitions (None: all of the topic's, also those
        assigned later) until `resume`: no pull requests are sent for them, so the server
        counts no delivery; they stay assigned (leases renewed), and what was polled before is
        still this member's to ack or nack."""
        self._paused.update(self._partition_set(partitions))

    def resume(self, partitions: Iterable[int] | None = None) -> None:
        """Deliver again from these paused partitions (None: from all)."""
        self._paused.difference_update(self._partition_set(partitions))

    def paused(self) -> list[int]:
        """The partitions paused now, of those this member owns."""
        return [p for p in sorted(self._owned) if p in self._paused]

    def _partition_set(self, partitions: Iterable[int] | None) -> set[int]:
        if self._closed:
            raise ConsumerClosedError(f"consumer of {self.topic!r} in group {self.group!r} "
                                      "is closed")
        return chosen_partitions(self.topic, self._n, partitions)

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
                await self._js.delete_consumer(self._stream, durable_name(self.group, p))
            await self._ensure_durable(p, target)
            if owned:
                await self._pull(p)

    def lag(self) -> dict[int, int]:
        """Per partition: records not yet acked by this consumer's group."""
        return self._run(self._broker._lag(self.topic, self.group))

    def assignment(self, refresh: bool = True) -> list[int]:
        """The partitions this member owns (after a membership round; ``refresh=False``:
        as of the last round, the heartbeat's or a poll's)."""
        return self._run(self._assignment(refresh))

    async def _assignment(self, refresh: bool) -> list[int]:
        if refresh:
            await self._round()
        return sorted(self._owned)  # on the loop's thread: rounds change it there

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Leave the group: NAK what it holds (the next owner gets it at once), release its
        leases and its member key."""
        if self._closed:
            return
        with contextlib.suppress(Exception):
            self._broker._run(self._leave(), timeout=max(1.0, self._broker.failover_timeout))
        self._closed = True
        with contextlib.suppress(ValueError):
            self._broker._consumers.remove(self)


    def __enter__(self) -> NatsConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _deliver_from(position: Position) -> dict[str, Any]:
    if position == "beginning":
        return {"deliver_policy": api.DeliverPolicy.ALL}
    if position == "end":
        return {"deliver_policy": api.DeliverPolicy.NEW}
    return {"deliver_policy": api.DeliverPolicy.BY_START_SEQUENCE,
            "opt_start_seq": max(1, int(position))}  # type: ignore[arg-type]  # _seek made times offsets


def _batch(records: list[Record]) -> Batch:
    return Batch([r.event for r in records], [r.timestamp for r in records], records)
