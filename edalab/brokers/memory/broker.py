"""`MemoryBroker`: the embedded broker's topics, publishing, subscriptions, retention and
dead letters (see `edalab.brokers.memory` for the model)."""

from __future__ import annotations

import sys
import threading
import time as _time
from collections.abc import Iterable
from itertools import count, repeat
from typing import Literal

from edalab.brokers.base import (
    DLQ_SUFFIX,
    Batch,
    BrokerError,
    Record,
    UnknownTopicError,
    check_event,
    check_partition,
    dead_letter,
    dead_letter_topic,
    decode,
)
from edalab.brokers.memory.consumer import MemoryConsumer
from edalab.brokers.memory.group import Group
from edalab.brokers.memory.log import TopicLog
from edalab.events import Event, check_serialisable
from edalab.readonly import freeze_data

__all__ = ["MemoryBroker"]

_clock = _time.perf_counter
_NEVER = sys.maxsize


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
        self._topics: dict[str, TopicLog] = {}
        self._groups: dict[tuple[str, str], Group] = {}
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
            self._topics[name] = TopicLog(name, partitions, trim_at)
            if not name.endswith(DLQ_SUFFIX):
                dlq = dead_letter_topic(name)
                self._topics.setdefault(dlq, TopicLog(dlq, 1, trim_at))

    def topics(self) -> list[str]:
        """Names of all topics, dead-letter topics included."""
        with self._lock:
            return sorted(self._topics)

    def partitions(self, topic: str) -> int:
        """Number of partitions of `topic`."""
        return len(self._topic(topic).logs)

    def _topic(self, name: str) -> TopicLog:
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
    def _route_many(t: TopicLog, events: list[Event]) -> None:
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
                state = self._groups[(t.name, group)] = Group(group, t, start, anonymous)
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

    def _trim(self, t: TopicLog, p: int) -> None:
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

    def _forget_group(self, group: Group) -> None:
        del self._groups[(group.topic.name, group.name)]
        group.topic.groups.remove(group)

    def _dead_letter(self, record: Record, group: str,
                     error: BaseException | str | None) -> None:
        self.publish(dead_letter_topic(record.topic), dead_letter(record, group, error))


def _only_events(items: list) -> bool:
    """Whether every item is an `Event` (a C-level pass)."""
    return set(map(type, items)) <= {Event}
