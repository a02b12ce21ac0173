"""`MemoryBroker`: the embedded, in-process broker with Kafka's log semantics.

Topics have partitions; each partition is an append-only log of `Record`s: a list of the kept
events, whose first one has offset ``base`` (retention deletes from the front, so an offset is
``base + index``). A consumer group keeps one cursor per partition: the committed offset (what
survives a crash), the fetch position, acks that arrived out of order, and nacked records
waiting to be redelivered. Members of a group split the partitions (sticky and balanced, see
`edalab.brokers.assignment`); a member joining or closing moves partitions, and the new owner
starts again from the committed offset, so whatever was polled but not acked is delivered again.

Publishing to a topic that was never created raises `UnknownTopicError`, unless the broker was
made with ``auto_create=True`` (then the topic is created with ``default_partitions``). Every
consumer group gets the same event objects, so the broker makes their data read-only at
publish (see `edalab.brokers.frozen`): no reader can change what another sees.

All methods are safe to call from several threads (one lock per broker).

>>> from edalab import Event, MemoryBroker
>>> broker = MemoryBroker()
>>> broker.create_topic("orders", partitions=2)
>>> broker.publish_many("orders", [Event("order", "/shop", {"n": i}, key=f"c{i % 3}")
...                                for i in range(6)])
6
>>> worker = broker.subscribe("orders", group="billing")
>>> records = worker.poll(max_events=10)
>>> len(records), sorted(worker.assignment())
(6, [0, 1])
>>> worker.ack(records)
>>> broker.lag("orders", "billing")
{0: 0, 1: 0}
"""

from __future__ import annotations

import sys
import threading
import time as _time
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from itertools import count, repeat
from typing import Literal

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
from edalab.brokers.frozen import freeze_data
from edalab.brokers.partitioning import key_hash
from edalab.events import Event, check_serialisable

__all__ = ["MemoryBroker", "MemoryConsumer"]

_clock = _time.perf_counter
_ROUTE_CACHE = 1 << 16
_NEVER = sys.maxsize


class _Topic:
    """Per partition, the kept events and their append times, and the offset of the first."""

    __slots__ = ("name", "logs", "stamps", "base", "trim_at", "groups", "routes",
                 "next_unkeyed")

    def __init__(self, name: str, partitions: int, trim_at: int):
        self.name = name
        self.logs: list[list[Event]] = [[] for _ in range(partitions)]
        self.stamps: list[list[float]] = [[] for _ in range(partitions)]
        self.base: list[int] = [0] * partitions  # offset of logs[p][0]
        self.trim_at: list[int] = [trim_at] * partitions  # log length that triggers retention
        self.groups: list[_Group] = []
        self.routes: dict[str | None, int] = {}  # key -> partition, so the hot path skips hashing
        self.next_unkeyed = 0

    def end(self, p: int) -> int:
        """The offset the next record appended to partition `p` gets."""
        return self.base[p] + len(self.logs[p])

    def route(self, key: str | None) -> int:
        n = len(self.logs)
        if key is None:
            p = self.next_unkeyed
            self.next_unkeyed = (p + 1) % n
            return p
        if len(self.routes) >= _ROUTE_CACHE:
            self.routes.clear()
        p = self.routes[key] = key_hash(key) % n
        return p


class _Cursor:
    """One consumer group's state on one partition."""

    __slots__ = ("committed", "position", "delivered", "acked_ahead", "retry", "attempts")

    def __init__(self, offset: int):
        self.committed = offset  # every offset below is done (acked or dead-lettered)
        self.position = offset  # next offset to fetch from the log
        self.delivered = offset  # offsets below were delivered at least once
        self.acked_ahead: set[int] = set()  # acked offsets above `committed`
        self.retry: deque[Record] = deque()  # nacked records to deliver again, oldest first
        self.attempts: dict[int, int] = {}  # deliveries so far, for offsets delivered twice+

    def ack(self, offset: int) -> None:
        if offset >= self.delivered:
            return  # never delivered to the group: nothing to commit yet
        if offset == self.committed:
            offset += 1
            ahead = self.acked_ahead
            while offset in ahead:
                ahead.discard(offset)
                offset += 1
            self.committed = offset
        elif offset > self.committed:
            self.acked_ahead.add(offset)

    def rewind(self) -> None:
        """A new owner takes over: fetch again from the committed offset. Queued retries
        were never delivered, so their attempt counts step back."""
        for record in self.retry:
            if record.attempt > 2:
                self.attempts[record.offset] = record.attempt - 1
            else:
                self.attempts.pop(record.offset, None)
        self.position = self.committed
        self.retry.clear()

    def reset(self, offset: int) -> None:
        """Seek: the group restarts at `offset` as if it had never read past it."""
        self.committed = self.position = self.delivered = offset
        self.acked_ahead.clear()
        self.retry.clear()
        self.attempts.clear()

    def skip_to(self, first: int) -> None:
        """Retention deleted the records below `first` while the group had no member: it
        goes on from the first kept record (Kafka's ``auto.offset.reset=earliest``)."""
        if self.committed >= first:
            return
        ahead = {o for o in self.acked_ahead if o >= first}
        while first in ahead:
            ahead.discard(first)
            first += 1
        self.committed = first
        self.position = max(self.position, first)
        self.delivered = max(self.delivered, first)
        self.acked_ahead = ahead
        self.retry = deque(r for r in self.retry if r.offset >= first)
        _forget_attempts(self)


class _Group:
    __slots__ = ("name", "topic", "cursors", "members", "anonymous")

    def __init__(self, name: str, topic: _Topic, start: str, anonymous: bool = False):
        self.name = name
        self.topic = topic
        self.cursors = [_Cursor(topic.base[p] if start == "earliest" else topic.end(p))
                        for p in range(len(topic.logs))]
        self.members: list[MemoryConsumer] = []
        self.anonymous = anonymous

    def rebalance(self) -> None:
        """Sticky balanced assignment; partitions that change owner rewind to the committed
        offset, so what the previous owner polled but did not ack is delivered again."""
        current = {p: m for m in self.members for p in m._partitions}
        plan = assign(len(self.cursors), self.members, current)
        for member in self.members:
            parts = plan[member]
            for p in set(parts) - set(member._partitions):
                self.cursors[p].rewind()
            member._partitions = parts
            member._next = 0


class MemoryConsumer:
    """A member of a consumer group on a `MemoryBroker` topic (see `MemoryBroker.subscribe`)."""

    def __init__(self, broker: MemoryBroker, group: _Group, max_attempts: int):
        self._broker = broker
        self._group = group
        self._cursors = group.cursors
        self._t = group.topic
        self._logs = group.topic.logs
        self.topic = group.topic.name
        self.group = group.name
        self.max_attempts = max_attempts
        self._partitions: list[int] = []
        self._next = 0  # round-robin start, so no partition starves the others
        self._closed = False
        self._last_batch: Batch | None = None
        self._last_spans: list[tuple[_Cursor, int, int]] = []

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"partitions={self._partitions}"
        return f"MemoryConsumer(topic={self.topic!r}, group={self.group!r}, {state})"

    def poll(self, max_events: int = 500, timeout: float = 0.0) -> Batch:
        """Up to `max_events` records from this member's partitions, oldest first per
        partition; waits up to `timeout` seconds when none is ready."""
        if max_events < 1:
            raise ValueError(f"max_events must be >= 1, got {max_events}")
        broker = self._broker
        with broker._lock:
            batch = self._take(max_events)
            if batch or timeout <= 0:
                return batch
            deadline = _clock() + timeout
            while not batch:
                remaining = deadline - _clock()
                if remaining <= 0:
                    break
                broker._waiters += 1
                try:
                    broker._changed.wait(remaining)
                finally:
                    broker._waiters -= 1
                batch = self._take(max_events)
            return batch

    def _take(self, max_events: int) -> Batch:
        if self._closed:
            raise ConsumerClosedError(f"consumer of {self.topic!r} in group {self.group!r} "
                                      "is closed")
        events: list[Event] = []
        stamps: list[float] = []
        runs: list = []
        spans: list[tuple[_Cursor, int, int]] = []
        parts = self._partitions
        room = max_events
        n = len(parts)
        start = self._next
        t = self._t
        logs, all_stamps, bases, topic = self._logs, t.stamps, t.base, self.topic
        for i in range(n):
            p = parts[(start + i) % n]
            cursor = self._cursors[p]
            if cursor.retry or cursor.position < cursor.delivered:
                singles = self._take_again(p, cursor, room)
                for record in singles:
                    events.append(record.event)
                    stamps.append(record.timestamp)
                runs += singles
                room -= len(singles)
            pos = cursor.position
            base = bases[p]
            end = min(base + len(logs[p]), pos + room)
            if pos < end:
                events += logs[p][pos - base:end - base]
                stamps += all_stamps[p][pos - base:end - base]
                runs.append((topic, p, pos, end))
                spans.append((cursor, pos, end))
                cursor.position = cursor.delivered = end
                room -= end - pos
            if not room:
                self._next = (start + i + 1) % n
                break
        batch = Batch(events, stamps, runs)
        self._last_batch = batch
        self._last_spans = spans if len(spans) == len(runs) else []
        return batch

    def _take_again(self, p: int, cursor: _Cursor, room: int) -> list[Record]:
        """Nacked records, then records a previous owner got but did not ack."""
        out: list[Record] = []
        retry = cursor.retry
        while retry and room:
            record = retry.popleft()
            if record.offset >= cursor.committed and record.offset not in cursor.acked_ahead:
                out.append(record)
                room -= 1
        log, stamps, base = self._logs[p], self._t.stamps[p], self._t.base[p]
        cursor.position = max(cursor.position, cursor.committed)
        while room and cursor.position < cursor.delivered:
            offset = cursor.position
            cursor.position += 1
            if offset in cursor.acked_ahead:
                continue
            attempt = cursor.attempts.get(offset, 1) + 1
            cursor.attempts[offset] = attempt
            out.append(Record(log[offset - base], self.topic, p, offset, attempt,
                              stamps[offset - base]))
            room -= 1
        return out

    def ack(self, records: Iterable[Record]) -> None:
        """Commit these records for the group: they will not be delivered to it again.

        Acking a record the group was not delivered yet has no effect (it is delivered when
        its turn comes), as on every broker; a partition the topic lacks is a `ValueError`.
        """
        with self._broker._lock:
            if records is self._last_batch and self._last_spans:
                for cursor, start, end in self._last_spans:
                    if cursor.committed == start and not cursor.acked_ahead:
                        cursor.committed = end
                    else:
                        for offset in range(start, end):
                            cursor.ack(offset)
                    if cursor.attempts:
                        _forget_attempts(cursor)
                self._last_spans = []
                return
            cursors = self._cursors
            topic = self.topic
            for record in records:
                if record.topic != topic:
                    raise BrokerError(f"cannot ack a record of topic {record.topic!r} on a "
                                      f"consumer of {topic!r}")
                p = record.partition
                if not 0 <= p < len(cursors):
                    check_partition(topic, len(cursors), p)
                cursor = cursors[p]
                cursor.ack(record.offset)
                if cursor.attempts:
                    _forget_attempts(cursor)

    def nack(self, record: Record, error: BaseException | str | None = None) -> None:
        """Processing failed: redeliver with ``attempt + 1``, or after `max_attempts` move the
        event to the dead-letter topic with the error and its original position."""
        broker = self._broker
        with broker._lock:
            if record.topic != self.topic:
                raise BrokerError(f"cannot nack a record of topic {record.topic!r} on a "
                                  f"consumer of {self.topic!r}")
            check_partition(self.topic, len(self._cursors), record.partition)
            cursor = self._cursors[record.partition]
            offset = record.offset
            if (offset < cursor.committed or offset >= cursor.delivered
                    or offset in cursor.acked_ahead
                    or record.partition not in self._partitions
                    or record.attempt != cursor.attempts.get(offset, 1)):
                # Already done, never delivered, or a stale delivery: the partition moved to
                # another member (which gets the record again anyway) or this delivery was
                # nacked before.
                return
            if record.attempt >= self.max_attempts:
                broker._dead_letter(record, self.group, error)
                cursor.ack(offset)
                cursor.attempts.pop(offset, None)
                return
            cursor.attempts[offset] = record.attempt + 1
            cursor.retry.append(record._replace(attempt=record.attempt + 1))
            broker._notify()

    def seek(self, position: Position, partition: int | None = None) -> None:
        """Move the whole group to `position` on one partition or all: ``"beginning"``,
        ``"end"``, an offset, or an event time (the first record at or after it). Positions
        below the first record retention kept start at that record."""
        with self._broker._lock:
            t = self._t
            parts = range(len(t.logs)) if partition is None else [partition]
            for p in parts:
                if not 0 <= p < len(t.logs):
                    raise ValueError(f"topic {self.topic!r} has no partition {p}")
                self._cursors[p].reset(_offset_of(t.logs[p], position, t.base[p]))
            self._broker._notify()

    def lag(self) -> dict[int, int]:
        """Per partition: appended but not yet committed by this consumer's group."""
        with self._broker._lock:
            t = self._t
            return {p: t.end(p) - cursor.committed for p, cursor in enumerate(self._cursors)}

    def assignment(self) -> list[int]:
        """The partitions this member owns now."""
        with self._broker._lock:
            return list(self._partitions)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Leave the group; its un-acked records are delivered again to the next owner. A
        private group (``group=None``) ends with its last member."""
        with self._broker._lock:
            if self._closed:
                return
            self._closed = True
            group = self._group
            group.members.remove(self)
            self._partitions = []
            group.rebalance()
            if group.anonymous and not group.members:
                self._broker._forget_group(group)
            self._broker._notify()

    def __enter__(self) -> MemoryConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _forget_attempts(cursor: _Cursor) -> None:
    committed = cursor.committed
    for offset in [o for o in cursor.attempts if o < committed]:
        del cursor.attempts[offset]


def _offset_of(log: list[Event], position: Position, base: int) -> int:
    """The offset `position` names in a partition whose kept records start at `base`."""
    end = base + len(log)
    if position == "beginning":
        return base
    if position == "end":
        return end
    if isinstance(position, datetime):
        if position.utcoffset() is None:
            raise ValueError("seek time must be timezone-aware")
        for index, event in enumerate(log):
            if event.time >= position:
                return base + index
        return end
    if isinstance(position, int) and not isinstance(position, bool):
        if not 0 <= position <= end:
            raise ValueError(f"offset {position} is outside the log [0, {end}]")
        return max(base, position)
    raise TypeError("seek position must be 'beginning', 'end', an offset or a datetime, "
                    f"got {position!r}")


class MemoryBroker:
    """The embedded broker: topics, partitions, consumer groups, acks, dead letters, replay.

    Parameters
    ----------
    auto_create
        Create unknown topics on first publish or subscribe (with `default_partitions`).
        Off by default, so a typo in a topic name is an error instead of a silent new topic.
    default_partitions
        Partitions of auto-created topics.
    retain
        None (the default) keeps every record, so a notebook can read whole logs. An int
        deletes records every consumer group with a live member has committed, keeping the
        last `retain` of those per partition (JetStream's interest retention, with a tail
        kept for inspection): long runs then hold only what is in flight. Offsets are not
        reused; `read` and seeks to the beginning start at the first kept record. A topic
        no live member reads keeps what it gets. A group whose members all left holds
        nothing back: it keeps its committed offsets, and when it joins again after records
        it had not committed were deleted, it goes on from the first kept record (Kafka's
        ``auto.offset.reset=earliest``). A private group (``group=None``) ends with its
        last member.

    Examples
    --------
    >>> broker = MemoryBroker(retain=10)
    >>> broker.create_topic("t")
    >>> worker = broker.subscribe("t", group="g")
    >>> for i in range(5000):
    ...     _ = broker.publish("t", Event("n", "/t", i))
    ...     worker.ack(worker.poll())
    >>> len(broker.read("t")) < 3000, broker.end_offsets("t")
    (True, [5000])
    """

    def __init__(self, *, auto_create: bool = False, default_partitions: int = 1,
                 retain: int | None = None):
        if retain is not None and (not isinstance(retain, int) or retain < 0):
            raise ValueError(f"retain must be None or an int >= 0, got {retain!r}")
        self.auto_create = auto_create
        self.default_partitions = default_partitions
        self.retain = retain
        # Retention looks at a partition every `_trim_step` appends (and deletes no fewer
        # records), so trimming costs a few list operations per few hundred events, and a
        # partition holds at most about retain + in flight + 2 steps.
        self._trim_step = max(retain // 4, 256) if retain is not None else _NEVER
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._waiters = 0
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[tuple[str, str], _Group] = {}
        self._anonymous = count(1)
        self._closed = False

    def __repr__(self) -> str:
        return f"MemoryBroker(topics={self.topics()})"

    # -- topics ----------------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create `name` with `partitions` partitions (and its ``.dlq`` dead-letter topic).
        Creating an existing topic with the same partition count does nothing."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"topic name must be a non-empty string, got {name!r}")
        if not isinstance(partitions, int) or partitions < 1:
            raise ValueError(f"partitions must be a positive int, got {partitions!r}")
        trim_at = (self.retain or 0) + self._trim_step if self.retain is not None else _NEVER
        with self._lock:
            existing = self._topics.get(name)
            if existing is not None:
                if len(existing.logs) != partitions:
                    raise BrokerError(f"topic {name!r} exists with {len(existing.logs)} "
                                      f"partitions, not {partitions}")
                return
            self._topics[name] = _Topic(name, partitions, trim_at)
            if not name.endswith(DLQ_SUFFIX):
                dlq = dead_letter_topic(name)
                self._topics.setdefault(dlq, _Topic(dlq, 1, trim_at))

    def topics(self) -> list[str]:
        """Names of all topics, dead-letter topics included."""
        with self._lock:
            return sorted(self._topics)

    def partitions(self, topic: str) -> int:
        """Number of partitions of `topic`."""
        return len(self._topic(topic).logs)

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            with self._lock:
                topic = self._topics.get(name)
                if topic is None:
                    if not self.auto_create:
                        known = ", ".join(sorted(self._topics)) or "none"
                        raise UnknownTopicError(
                            f"unknown topic {name!r} (known: {known}); create it with "
                            f"broker.create_topic({name!r}, partitions=...) or make the broker "
                            "with auto_create=True")
                    self.create_topic(name, self.default_partitions)
                    topic = self._topics[name]
        return topic

    # -- producing -------------------------------------------------------------------------

    def publish(self, topic: str, event: Event) -> Record:
        """Append one event to its partition (by key; round-robin without a key)."""
        if event.__class__ is not Event:
            check_event(event)
        if self._closed:
            raise BrokerError("broker is closed")
        check_serialisable([event])
        freeze_data([event])
        t = self._topic(topic)
        with self._lock:
            p = t.routes.get(event.key)
            if p is None:
                p = t.route(event.key)
            log = t.logs[p]
            now = _clock()
            log.append(event)
            t.stamps[p].append(now)
            offset = t.base[p] + len(log) - 1
            if len(log) >= t.trim_at[p]:
                self._trim(t, p)
            self._notify()
            return Record(event, t.name, p, offset, 1, now)

    def publish_many(self, topic: str, events: Iterable[Event]) -> int:
        """Append events in order (the batch path); returns how many were appended.

        All or nothing: if one item is not an `Event`, or its data is not JSON (`EventError`
        with its ``index`` in the batch), nothing of the batch is appended.
        """
        if self._closed:
            raise BrokerError("broker is closed")
        if events.__class__ is not list:
            events = list(events)
        if not _only_events(events):
            for item in events:
                check_event(item)
        check_serialisable(events)
        freeze_data(events)
        t = self._topic(topic)
        if not events:
            return 0
        with self._lock:
            logs = t.logs
            now = _clock()
            if len(logs) == 1:
                logs[0].extend(events)
                t.stamps[0].extend(repeat(now, len(events)))
            else:
                before = [len(log) for log in logs]
                self._route_many(t, events)
                for log, stamps, length in zip(logs, t.stamps, before, strict=True):
                    if len(log) > length:
                        stamps.extend(repeat(now, len(log) - length))
            trim_at = t.trim_at
            for p, log in enumerate(logs):
                if len(log) >= trim_at[p]:
                    self._trim(t, p)
            self._notify()
            return len(events)

    def publish_raw(self, topic: str, payload: bytes | str) -> None:
        """Append a payload as an outside producer sends it (CloudEvents structured JSON).

        The embedded broker decodes it here, at the boundary: an edalab event is appended
        as `publish` does (to its `partitionkey`'s partition); anything else goes to
        the topic's dead-letter topic at once, as an ``edalab.malformed`` event holding the
        bytes, with the reason in ``dlerror`` (``dlgroup`` is empty: no group read it). No
        handler ever sees it. (`NatsBroker` decodes at delivery, with the same outcome.)

        >>> broker = MemoryBroker()
        >>> broker.create_topic("in")
        >>> broker.publish_raw("in", b'{"specversion": "1.0", "id": null}')
        >>> [r.event.extensions["dlerror"] for r in broker.read("in.dlq")]
        ["EventError: event field 'type': is required"]
        """
        if self._closed:
            raise BrokerError("broker is closed")
        t = self._topic(topic)
        event, error = decode(payload, topic)
        if error is None:
            self.publish(topic, event)
            return
        with self._lock:
            p = t.route(None)
            record = Record(event, t.name, p, t.end(p), 0, _clock())
            self._dead_letter(record, "", error)

    @staticmethod
    def _route_many(t: _Topic, events: list[Event]) -> None:
        """Append each event (checked already) to its key's partition."""
        appends = [log.append for log in t.logs]
        route = t.routes.get
        for event in events:
            p = route(event.key)
            if p is None:
                p = t.route(event.key)
            appends[p](event)

    # -- consuming -------------------------------------------------------------------------

    def subscribe(self, topic: str, group: str | None = None, *, max_attempts: int = 3,
                  start: Literal["earliest", "latest"] = "earliest") -> MemoryConsumer:
        """Join consumer group `group` on `topic` (a private group when `group` is None).

        `max_attempts` is how many deliveries a record gets before `nack` dead-letters it.
        `start` is where a new group begins: the oldest record or the end of the log.
        """
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be a positive int, got {max_attempts!r}")
        if start not in ("earliest", "latest"):
            raise ValueError(f"start must be 'earliest' or 'latest', got {start!r}")
        if self._closed:
            raise BrokerError("broker is closed")
        t = self._topic(topic)
        with self._lock:
            if self._closed:
                raise BrokerError("broker is closed")
            anonymous = group is None
            if group is None:
                group = f"_anonymous-{next(self._anonymous)}"
            state = self._groups.get((t.name, group))
            if state is None:
                state = self._groups[(t.name, group)] = _Group(group, t, start, anonymous)
                t.groups.append(state)
            elif not state.members:
                for cursor, first in zip(state.cursors, t.base, strict=True):
                    cursor.skip_to(first)
            consumer = MemoryConsumer(self, state, max_attempts)
            state.members.append(consumer)
            state.rebalance()
            self._notify()
            return consumer

    def members(self, topic: str, group: str) -> list[MemoryConsumer]:
        """The live members of a group, in join order."""
        with self._lock:
            state = self._groups.get((topic, group))
            return list(state.members) if state else []

    def groups(self, topic: str) -> list[str]:
        """Names of the consumer groups of `topic` (a private one while it has a member)."""
        with self._lock:
            return sorted(g for (t, g) in self._groups if t == topic)

    # -- inspecting ------------------------------------------------------------------------

    def end_offsets(self, topic: str) -> list[int]:
        """Per partition, the offset the next appended record will get."""
        t = self._topic(topic)
        with self._lock:
            return [t.end(p) for p in range(len(t.logs))]

    def committed(self, topic: str, group: str) -> list[int]:
        """Per partition, the group's committed offset (0 for a group that never joined)."""
        t = self._topic(topic)
        with self._lock:
            state = self._groups.get((topic, group))
            if state is None:
                return [0] * len(t.logs)
            return [c.committed for c in state.cursors]

    def lag(self, topic: str, group: str) -> dict[int, int]:
        """Per partition: records appended but not yet committed by `group`."""
        t = self._topic(topic)
        with self._lock:
            committed = self.committed(topic, group)
            return {p: t.end(p) - c for p, c in enumerate(committed)}

    def read(self, topic: str, partition: int | None = None) -> list[Record]:
        """The log itself (a copy), for inspection: one partition, or all in offset order
        per partition (from the first record retention kept)."""
        t = self._topic(topic)
        with self._lock:
            n = len(t.logs)
            if partition is not None:
                check_partition(topic, n, partition)
            parts = range(n) if partition is None else [partition]
            return [r for p in parts
                    for r in Batch(t.logs[p][:], t.stamps[p][:],
                                   [(t.name, p, t.base[p], t.end(p))])]

    def close(self) -> None:
        """Close every consumer; the broker accepts no new events or subscriptions."""
        with self._lock:
            self._closed = True
            for state in list(self._groups.values()):
                for member in list(state.members):
                    member.close()

    def __enter__(self) -> MemoryBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _notify(self) -> None:
        if self._waiters:
            self._changed.notify_all()

    def _trim(self, t: _Topic, p: int) -> None:
        """Retention on partition `p`: delete what every group with a live member has
        committed, but the last `retain`. Deletes at least `_trim_step` records and a
        quarter of the log at a time, so each kept record moves a bounded number of times."""
        log = t.logs[p]
        committed = [g.cursors[p].committed for g in t.groups if g.members]
        if committed:
            # _trim runs only when retain is set, which the checker cannot see
            drop = min(committed) - self.retain - t.base[p]  # type: ignore[operator]
            if drop >= max(self._trim_step, len(log) >> 2):
                del log[:drop]
                del t.stamps[p][:drop]
                t.base[p] += drop
        t.trim_at[p] = len(log) + self._trim_step

    def _forget_group(self, group: _Group) -> None:
        del self._groups[(group.topic.name, group.name)]
        group.topic.groups.remove(group)

    def _dead_letter(self, record: Record, group: str,
                     error: BaseException | str | None) -> None:
        self.publish(dead_letter_topic(record.topic), dead_letter(record, group, error))


def _only_events(items: list) -> bool:
    """Whether every item is an `Event` (a C-level pass)."""
    return set(map(type, items)) <= {Event}
