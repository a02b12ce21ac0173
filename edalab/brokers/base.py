"""The `Broker` protocol every backend implements, and the `Record` a poll returns.

The model is Kafka's log: a topic has partitions, each an append-only log with offsets; a
consumer group shares a topic's partitions among its members and commits offsets by acking.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from itertools import repeat
from typing import Literal, NamedTuple, Protocol, runtime_checkable

from edalab.errors import EdalabError
from edalab.events import Event, EventError

__all__ = ["Batch", "Broker", "BrokerError", "Consumer", "ConsumerClosedError", "Record",
           "UnknownTopicError", "dead_letter_topic"]

#: Suffix of the topic that receives a topic's dead letters.
DLQ_SUFFIX = ".dlq"
Position = int | datetime | Literal["beginning", "end"]


def dead_letter_topic(topic: str) -> str:
    """The name of `topic`'s dead-letter topic.

    >>> dead_letter_topic("payments")
    'payments.dlq'
    """
    return topic + DLQ_SUFFIX


def dead_letter(record: Record, group: str, error: BaseException | str | None) -> Event:
    """The event as it goes to the dead-letter topic: unchanged, plus where it came from and
    why it failed, as CloudEvents extension attributes."""
    if isinstance(error, BaseException):
        error = f"{type(error).__name__}: {error}"
    extensions = dict(record.event.extensions or {})
    extensions.update(dlerror=str(error or "unknown error"), dltopic=record.topic,
                      dlpartition=record.partition, dloffset=record.offset,
                      dlattempts=record.attempt, dlgroup=group)
    return record.event.replace(id=record.event.id, extensions=extensions)


def unpublishable(event: Event, topic: str, error: BaseException) -> Event:
    """The dead letter of an event that no broker can carry (its data is not JSON: NaN, a
    numpy scalar, ...): its attributes, its data as text (``repr``), the reason.

    >>> e = Event("reading", "/s", {"w": float("nan")}, id="r1")
    >>> dead = unpublishable(e, "readings", ValueError("NaN"))
    >>> dead.type, dead.id, dead.data, dead.extensions["dltype"]
    ('edalab.unpublishable', 'r1', "{'w': nan}", 'reading')
    """
    return Event("edalab.unpublishable", event.source, repr(event.data)[:10_000],
                 key=event.key, time=event.time, id=event.id, subject=event.subject,
                 datacontenttype="text/plain",
                 extensions={"dltype": event.type, "dltopic": topic,
                             "dlerror": f"{type(error).__name__}: {error}"})


def malformed(payload: bytes, topic: str) -> Event:
    """A delivered payload that is not an edalab event, kept byte for byte as the data of an
    ``edalab.malformed`` event, so it can travel to the dead-letter topic.

    >>> malformed(b"{not json", "payments").data
    b'{not json'
    """
    return Event("edalab.malformed", f"/edalab/topics/{topic}", bytes(payload),
                 datacontenttype="application/octet-stream")


def decode(payload: bytes | str, topic: str) -> tuple[Event, EventError | None]:
    """A payload as it crossed the wire: its event and None, or, when it is not an edalab
    event (whatever the fault), the `malformed` event that keeps it and the reason.

    >>> event, error = decode(b'{"specversion": "1.0", "id": null}', "payments")
    >>> event.type, str(error)
    ('edalab.malformed', "event field 'type': is required")
    """
    try:
        return Event.from_json(payload), None
    except EventError as exc:
        error = exc
    except Exception as exc:  # from_json raises EventError only; a boundary never crashes
        error = EventError("event", f"cannot be parsed: {type(exc).__name__}: {exc}")
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogatepass")
    return malformed(payload, topic), error


def check_event(item: object) -> None:
    """Brokers carry `Event`s only: anything else is a `TypeError` that says what it got."""
    if not isinstance(item, Event):
        raise TypeError(f"brokers carry edalab.Event objects, got {type(item).__name__}: "
                        f"{item!r:.80}")


def check_partition(topic: str, partitions: int, partition: object) -> None:
    """A partition number the topic lacks is a `ValueError` that says what it has.

    >>> check_partition("payments", 2, -1)
    Traceback (most recent call last):
    ValueError: topic 'payments' has 2 partitions (0 to 1), not -1
    """
    if partition.__class__ is not int or not 0 <= partition < partitions:
        raise ValueError(f"topic {topic!r} has {partitions} partitions (0 to {partitions - 1}), "
                         f"not {partition!r}")


def chosen_partitions(topic: str, partitions: int, chosen: Iterable[int] | None) -> set[int]:
    """The partitions a call names (None: all of the topic's), each checked by
    `check_partition`.

    >>> sorted(chosen_partitions("payments", 3, None)), chosen_partitions("payments", 3, [1])
    ([0, 1, 2], {1})
    """
    if chosen is None:
        return set(range(partitions))
    named = set(chosen)
    for p in named:
        check_partition(topic, partitions, p)
    return named


class BrokerError(EdalabError, RuntimeError):
    """A broker operation cannot be done (the message says why)."""


class UnknownTopicError(BrokerError, LookupError):
    """A topic that was never created was used."""


class ConsumerClosedError(BrokerError):
    """A closed consumer was used."""


class Record(NamedTuple):
    """One delivery of an event: where it sits in the log and how often it was delivered.

    `attempt` counts deliveries of this offset to the group (1 the first time). `timestamp` is
    the broker's append time in seconds of ``time.perf_counter`` (for latency measurements).
    """

    event: Event
    topic: str
    partition: int
    offset: int
    attempt: int
    timestamp: float


_new_record = partial(tuple.__new__, Record)


class Batch(Sequence[Record]):
    """The records of one poll, in delivery order.

    Iterating or indexing gives `Record`s (built on first use). The hot path reads the parallel
    lists instead: ``batch.events`` and ``batch.timestamps`` (append times), with no object
    per record.

    `runs` describes the batch: a ``(topic, partition, start, end)`` tuple for consecutive
    first deliveries of offsets ``start..end-1``, or a `Record` for a single (re)delivery.
    """

    __slots__ = ("events", "timestamps", "runs", "_records")

    def __init__(self, events: list[Event], timestamps: list[float],
                 runs: Sequence[tuple[str, int, int, int] | Record]):
        self.events = events
        self.timestamps = timestamps
        self.runs = runs
        self._records: list[Record] | None = None

    def records(self) -> list[Record]:
        """All records as a list (built once)."""
        if self._records is None:
            out: list[Record] = []
            i = 0
            events, stamps = self.events, self.timestamps
            for run in self.runs:
                if isinstance(run, Record):
                    out.append(run)
                    i += 1
                else:
                    topic, p, start, end = run
                    j = i + end - start
                    out += map(_new_record, zip(events[i:j], repeat(topic), repeat(p),
                                                range(start, end), repeat(1), stamps[i:j]))
                    i = j
            self._records = out
        return self._records

    def __len__(self) -> int:
        return len(self.events)

    def __bool__(self) -> bool:
        return bool(self.events)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records())

    def __getitem__(self, index):
        return self.records()[index]

    def __repr__(self) -> str:
        return f"Batch({len(self.events)} records)"


@runtime_checkable
class Consumer(Protocol):
    """A member of a consumer group, subscribed to one topic."""

    topic: str
    group: str

    def poll(self, max_events: int = 500, timeout: float = 0.0) -> Batch:
        """Up to `max_events` records from the partitions this member owns; waits up to
        `timeout` seconds when none is ready."""

    def ack(self, records: Iterable[Record]) -> None:
        """Commit: these records are done and will not be delivered to the group again."""

    def nack(self, record: Record, error: BaseException | str | None = None,
             delay: float = 0.0) -> None:
        """Processing failed: deliver again (attempt + 1), not before `delay` seconds of the
        broker's clock, or dead-letter after max_attempts."""

    def pause(self, partitions: Iterable[int] | None = None) -> None:
        """Deliver nothing more from these partitions (None: all of the topic's, also those
        assigned later) until `resume`; they stay assigned and nothing is lost. Records
        polled before the pause are still this member's to ack or nack."""

    def resume(self, partitions: Iterable[int] | None = None) -> None:
        """Deliver again from these paused partitions (None: from all)."""

    def paused(self) -> list[int]:
        """The partitions paused now, of those this member owns."""

    def seek(self, position: Position, partition: int | None = None) -> None:
        """Move the group to `position` (replay from there), on one or all partitions."""

    def lag(self) -> dict[int, int]:
        """Per partition: events appended but not yet committed by this group."""

    def assignment(self, refresh: bool = True) -> list[int]:
        """The partitions this member owns now (``refresh=False``: as this member last
        learnt, without asking the group: no round trip on a networked broker)."""

    def close(self) -> None:
        """Leave the group; un-acked records go to the partitions' next owners."""

    @property
    def closed(self) -> bool:
        """Whether this member has left its group (`close`)."""


@runtime_checkable
class Broker(Protocol):
    """What every edalab broker offers (the embedded `MemoryBroker`, NATS JetStream, ...)."""

    def create_topic(self, name: str, partitions: int = 1) -> None: ...

    def topics(self) -> list[str]: ...

    def partitions(self, topic: str) -> int: ...

    def publish(self, topic: str, event: Event) -> Record: ...

    def publish_many(self, topic: str, events: Iterable[Event]) -> int: ...

    def publish_raw(self, topic: str, payload: bytes | str) -> None:
        """Append a payload as an outside producer sends it (CloudEvents JSON, unchecked, to
        its `partitionkey`'s partition); one that is not an edalab event ends in the
        dead-letter topic, never in a handler."""

    def subscribe(self, topic: str, group: str | None = None, *, max_attempts: int = 3,
                  start: Literal["earliest", "latest"] = "earliest") -> Consumer: ...

    def end_offsets(self, topic: str) -> list[int]: ...

    def lag(self, topic: str, group: str) -> dict[int, int]: ...

    def read(self, topic: str, partition: int | None = None) -> list[Record]: ...

    def close(self) -> None: ...
