"""`MemoryConsumer`: a member of a consumer group on the embedded broker: poll, ack, nack,
seek, lag."""

from __future__ import annotations

import time as _time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from edalab.brokers.base import (
    Batch,
    BrokerError,
    ConsumerClosedError,
    Position,
    Record,
    check_partition,
    chosen_partitions,
)
from edalab.brokers.memory.group import Cursor, Group, forget_attempts
from edalab.brokers.memory.log import offset_of
from edalab.events import Event

if TYPE_CHECKING:
    from edalab.brokers.memory.broker import MemoryBroker

__all__ = ["MemoryConsumer"]

_clock = _time.perf_counter


class MemoryConsumer:
    """A member of a consumer group on a `MemoryBroker` topic (see `MemoryBroker.subscribe`)."""

    def __init__(self, broker: MemoryBroker, group: Group, max_attempts: int):
        self._broker = broker
        self._group = group
        self._cursors = group.cursors
        self._t = group.topic
        self._logs = group.topic.logs
        self.topic = group.topic.name
        self.group = group.name
        self.max_attempts = max_attempts
        self._partitions: list[int] = []
        self._paused: set[int] = set()
        self._next_due: float | None = None  # the earliest delayed retry not yet due
        self._next = 0  # round-robin start, so no partition starves the others
        self._closed = False
        self._last_batch: Batch | None = None
        self._last_spans: list[tuple[Cursor, int, int]] = []

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
                now = _clock()
                remaining = deadline - now
                if remaining <= 0:
                    break
                if self._next_due is not None:  # no publish announces a retry falling due
                    remaining = min(remaining, max(self._next_due - now, 0.0))
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
        spans: list[tuple[Cursor, int, int]] = []
        parts = self._partitions
        if self._paused:
            parts = [p for p in parts if p not in self._paused]
        self._next_due = None
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

    def _take_again(self, p: int, cursor: Cursor, room: int) -> list[Record]:
        """Nacked records, then records a previous owner got but did not ack."""
        out: list[Record] = []
        retry, due = cursor.retry, cursor.due
        later: list[Record] = []  # nacked with a delay that has not passed
        now = _clock() if due else 0.0
        while retry and room:
            record = retry.popleft()
            if due and due.get(record.offset, now) > now:
                later.append(record)
                continue
            due.pop(record.offset, None)
            if record.offset >= cursor.committed and record.offset not in cursor.acked_ahead:
                out.append(record)
                room -= 1
        if later:
            retry.extendleft(reversed(later))
            first = min(due[r.offset] for r in later)
            self._next_due = first if self._next_due is None else min(self._next_due, first)
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
                        forget_attempts(cursor)
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
                    forget_attempts(cursor)

    def nack(self, record: Record, error: BaseException | str | None = None,
             delay: float = 0.0) -> None:
        """Processing failed: redeliver with ``attempt + 1`` (not before `delay` seconds of
        wall time; other records keep flowing meanwhile), or after `max_attempts` move the
        event to the dead-letter topic with the error and its original position."""
        if not delay >= 0:  # NaN too
            raise ValueError(f"nack delay must be >= 0 seconds, got {delay!r}")
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
            if delay:
                cursor.due[offset] = _clock() + delay
            broker._notify()

    def pause(self, partitions: Iterable[int] | None = None) -> None:
        """Deliver nothing more from these partitions (None: all of the topic's, also those
        assigned later) until `resume`; they stay assigned, and what was polled before is
        still this member's to ack or nack (a circuit breaker's way to stop a handler
        without burning attempts)."""
        with self._broker._lock:
            self._paused.update(self._partition_set(partitions))

    def resume(self, partitions: Iterable[int] | None = None) -> None:
        """Deliver again from these paused partitions (None: from all)."""
        with self._broker._lock:
            self._paused.difference_update(self._partition_set(partitions))
            self._broker._notify()

    def paused(self) -> list[int]:
        """The partitions paused now, of those this member owns."""
        with self._broker._lock:
            return [p for p in self._partitions if p in self._paused]

    def _partition_set(self, partitions: Iterable[int] | None) -> set[int]:
        if self._closed:
            raise ConsumerClosedError(f"consumer of {self.topic!r} in group {self.group!r} "
                                      "is closed")
        return chosen_partitions(self.topic, len(self._cursors), partitions)

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
                self._cursors[p].reset(offset_of(t.logs[p], position, t.base[p]))
            self._broker._notify()

    def lag(self) -> dict[int, int]:
        """Per partition: appended but not yet committed by this consumer's group."""
        with self._broker._lock:
            t = self._t
            return {p: t.end(p) - cursor.committed for p, cursor in enumerate(self._cursors)}

    def assignment(self, refresh: bool = True) -> list[int]:
        """The partitions this member owns now (kept current: `refresh` changes nothing)."""
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
