"""What becomes of an event whose handler failed, under a `Retry` policy: the events a guarded
handler publishes to a retry tier (``<topic>.retry.<n>``) and to the dead-letter topic.

A retry-tier event is the failed event (same id) plus extension attributes: ``retrydue``
(when it may run again, ISO 8601 in the app's clock), ``retrysince`` (when its first attempt
failed), and where it came from (``retrypartition``, ``retryoffset``). A guarded dead letter
is the broker's (`edalab.brokers.base.dead_letter`: ``dlerror`` names the error class, and
``dlattempts``) plus ``dlspentms``: milliseconds of the app's clock from the first failed
attempt to the dead-lettering.

>>> from datetime import datetime, timezone
>>> from edalab import Event
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> e = Event("payment", "/doc", 1, id="p1")
>>> waiting = to_tier(e, due=t0, since=t0, partition=0, offset=7)
>>> due_of(waiting) == t0, waiting.id
(True, 'p1')
>>> dead = to_dead_letter(waiting, "payments", "score", ValueError("bad"), attempts=3,
...                       since=t0, now=datetime(2024, 1, 1, 0, 0, 2, tzinfo=timezone.utc))
>>> {k: dead.extensions[k] for k in ("dlerror", "dlattempts", "dloffset", "dlspentms")}
{'dlerror': 'ValueError: bad', 'dlattempts': 3, 'dloffset': 7, 'dlspentms': 2000}
>>> sorted(k for k in dead.extensions if k.startswith("retry"))
[]
"""

from __future__ import annotations

from datetime import datetime

from edalab.brokers.base import Record, dead_letter
from edalab.events import Event

__all__ = ["RETRY_EXTENSIONS", "due_of", "since_of", "to_dead_letter", "to_tier"]

#: The extension attributes a retry tier adds to an event (none survive its dead letter).
RETRY_EXTENSIONS = ("retrydue", "retrysince", "retrypartition", "retryoffset")


def to_tier(event: Event, *, due: datetime, since: datetime, partition: int,
            offset: int) -> Event:
    """`event` as it waits in a retry tier: runnable at `due`, failing since `since`, from
    (`partition`, `offset`) of the original topic."""
    extensions = dict(event.extensions or {})
    extensions.update(retrydue=due.isoformat(), retrysince=since.isoformat(),
                      retrypartition=partition, retryoffset=offset)
    return event.replace(id=event.id, extensions=extensions)


def due_of(event: Event) -> datetime:
    """When a retry-tier event may run again."""
    return datetime.fromisoformat(event.extensions["retrydue"])  # type: ignore[index]


def since_of(event: Event) -> datetime:
    """When a retry-tier event's first attempt failed."""
    return datetime.fromisoformat(event.extensions["retrysince"])  # type: ignore[index]


def to_dead_letter(event: Event, topic: str, group: str, error: BaseException, *,
                   attempts: int, since: datetime, now: datetime, partition: int | None = None,
                   offset: int | None = None) -> Event:
    """The dead letter of `event` of `topic` after `attempts` attempts, the first failing at
    `since`; a retry-tier event keeps its original position (the tier's is not useful)."""
    ext = event.extensions or {}
    partition = ext.get("retrypartition", partition)
    offset = ext.get("retryoffset", offset)
    clean = {k: v for k, v in ext.items() if k not in RETRY_EXTENSIONS}
    original = event.replace(id=event.id, extensions=clean or None)
    dead = dead_letter(Record(original, topic, partition if partition is not None else -1,
                              offset if offset is not None else -1, attempts, 0.0),
                       group, error)
    extensions = dict(dead.extensions or {})
    extensions["dlspentms"] = max(0, round((now - since).total_seconds() * 1000))
    return dead.replace(id=dead.id, extensions=extensions)
