"""A consumer group in the embedded broker: one cursor per partition (committed offset, fetch
position, acks that arrived out of order, nacked records to redeliver) and the members that
split the partitions, rebalanced when one joins or leaves."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from edalab.brokers.assignment import assign
from edalab.brokers.base import Record
from edalab.brokers.memory.log import TopicLog

if TYPE_CHECKING:
    from edalab.brokers.memory.consumer import MemoryConsumer


class Cursor:
    """One consumer group's state on one partition."""

    __slots__ = ("committed", "position", "delivered", "acked_ahead", "retry", "attempts", "due")

    def __init__(self, offset: int):
        self.committed = offset  # every offset below is done (acked or dead-lettered)
        self.position = offset  # next offset to fetch from the log
        self.delivered = offset  # offsets below were delivered at least once
        self.acked_ahead: set[int] = set()  # acked offsets above `committed`
        self.retry: deque[Record] = deque()  # nacked records to deliver again, oldest first
        self.attempts: dict[int, int] = {}  # deliveries so far, for offsets delivered twice+
        self.due: dict[int, float] = {}  # nacked with a delay: offset -> not before (clock)

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
        self.due.clear()

    def reset(self, offset: int) -> None:
        """Seek: the group restarts at `offset` as if it had never read past it."""
        self.committed = self.position = self.delivered = offset
        self.acked_ahead.clear()
        self.retry.clear()
        self.attempts.clear()
        self.due.clear()

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
        self.due = {o: t for o, t in self.due.items() if o >= first}
        forget_attempts(self)


class Group:
    __slots__ = ("name", "topic", "cursors", "members", "anonymous")

    def __init__(self, name: str, topic: TopicLog, start: str, anonymous: bool = False):
        self.name = name
        self.topic = topic
        self.cursors = [Cursor(topic.base[p] if start == "earliest" else topic.end(p))
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


def forget_attempts(cursor: Cursor) -> None:
    committed = cursor.committed
    for offset in [o for o in cursor.attempts if o < committed]:
        del cursor.attempts[offset]
