"""Dead-letter operations on any `Broker`: look at a topic's dead letters, and redrive them.

A dead letter is the failed event unchanged plus extension attributes saying where it came
from and why it failed (`edalab.brokers.base.dead_letter`): ``dlerror`` (``"Class: text"``),
``dltopic``, ``dlpartition``, ``dloffset``, ``dlattempts``, ``dlgroup``.

>>> from edalab import App, Event, MemoryBroker
>>> broker = MemoryBroker()
>>> app = App(broker)
>>> @app.handler("amounts", max_attempts=2)
... def check(event):
...     if event.data < 0:
...         raise ValueError("negative amount")
>>> app.source("amounts", [Event("amount", "/doc", d, id=f"a{d}") for d in [5, -1, 7]])
>>> _ = app.run()
>>> dead_letters(broker, "amounts")[["id", "error_class", "error", "attempts"]]
    id error_class            error  attempts
0  a-1  ValueError  negative amount         2
>>> redrive(broker, "amounts"), broker.read("amounts")[-1].event.id
(1, 'a-1')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from edalab.brokers.base import DLQ_SUFFIX, Broker, dead_letter_topic
from edalab.events import Event

__all__ = ["dead_letters", "redrive"]

#: The extension attributes a broker adds to a dead letter.
DLQ_EXTENSIONS = frozenset({"dlerror", "dltopic", "dlpartition", "dloffset", "dlattempts",
                            "dlgroup", "dltype", "dlspentms",
                            # a retry tier's, kept by an event dead-lettered from one
                            "retrydue", "retrysince", "retrypartition", "retryoffset"})
#: Dead letters that hold no event a handler could take (a payload that was not an event,
#: data JSON could not carry): listed, never redriven.
_NOT_EVENTS = frozenset({"edalab.malformed", "edalab.unpublishable"})
COLUMNS = ["id", "type", "error_class", "error", "attempts", "group", "topic", "partition",
           "offset", "time"]


def _original(topic: str) -> str:
    """The topic whose dead letters are asked for (its own name or its ``.dlq`` name)."""
    if not isinstance(topic, str) or not topic:
        raise ValueError(f"topic must be a non-empty str, got {topic!r}")
    return topic[: -len(DLQ_SUFFIX)] if topic.endswith(DLQ_SUFFIX) else topic


def _row(event: Event, topic: str) -> dict[str, Any]:
    ext = event.extensions or {}
    error = str(ext.get("dlerror", ""))
    error_class, sep, text = error.partition(": ")
    if not sep or not error_class.isidentifier():  # no "Class: " prefix: all of it is text
        error_class, text = "", error
    return {"id": event.id, "type": ext.get("dltype", event.type), "error_class": error_class,
            "error": text, "attempts": ext.get("dlattempts"), "group": ext.get("dlgroup"),
            "topic": ext.get("dltopic", topic), "partition": ext.get("dlpartition"),
            "offset": ext.get("dloffset"), "time": event.time}


def _letters(broker: Broker, topic: str, group: str | None) -> list[Event]:
    events = [r.event for r in broker.read(dead_letter_topic(topic))]
    if group is None:
        return events
    return [e for e in events if (e.extensions or {}).get("dlgroup") == group]


def dead_letters(broker: Broker, topic: str, group: str | None = None) -> pd.DataFrame:
    """The dead letters of `topic` (read from ``<topic>.dlq``), one row each, oldest first:
    `id`, `type`, `error_class`, `error` (its text), `attempts`, `group`, the original
    `topic`, `partition` and `offset`, and the event's `time`. With `group`, only the dead
    letters of that consumer group."""
    topic = _original(topic)
    rows = [_row(e, topic) for e in _letters(broker, topic, group)]
    return pd.DataFrame(rows, columns=COLUMNS)


def _mask(frame: pd.DataFrame, where: str) -> list[bool]:
    """The rows of `frame` that the condition `where` keeps, or a `ValueError` saying why
    it is not a condition over the dead-letter columns."""
    problem = f"where {where!r} must be a condition over the dead-letter columns " \
              f"({', '.join(COLUMNS)})"
    if frame.empty:
        return []
    try:
        mask = frame.eval(where)
    except Exception as exc:
        raise ValueError(f"{problem}: {type(exc).__name__}: {exc}") from None
    if not isinstance(mask, pd.Series) or mask.dtype != bool:
        raise ValueError(f"{problem}, giving True or False per row")
    return mask.tolist()


def restored(event: Event) -> Event:
    """A dead letter as it was before it failed: same id, dead-letter extensions removed.

    >>> e = Event("t", "/doc", 1, id="e1", extensions={"dlerror": "X: y", "trace": "t1"})
    >>> restored(e).id, restored(e).extensions
    ('e1', {'trace': 't1'})
    """
    kept = {k: v for k, v in (event.extensions or {}).items() if k not in DLQ_EXTENSIONS}
    return event.replace(id=event.id, extensions=kept or None)


def redrive(broker: Broker, topic: str, where: str | Callable[[Event], bool] | None = None,
            to: str | None = None) -> int:
    """Publish `topic`'s dead letters again, with their original ids and without the
    dead-letter extensions, to the topic they failed on (or `to`); returns how many.

    `where` picks some: a `pandas.DataFrame.query` expression over the columns of
    `dead_letters` (``"error_class == 'TimeoutError'"``) or a predicate on the dead letter
    event. Dead letters that hold no event (``edalab.malformed``, ``edalab.unpublishable``)
    are left where they are. The dead-letter topic is a log and keeps its entries: redriving
    twice publishes twice, and an idempotent consumer applies each event once.
    """
    topic = _original(topic)
    letters = [e for e in _letters(broker, topic, None) if e.type not in _NOT_EVENTS]
    if isinstance(where, str):
        frame = pd.DataFrame([_row(e, topic) for e in letters], columns=COLUMNS)
        mask = _mask(frame, where)
        letters = [e for e, keep in zip(letters, mask, strict=True) if keep]
    elif where is not None:
        if not callable(where):
            raise TypeError(f"where must be a query string or a predicate on events, "
                            f"got {type(where).__name__} {where!r}")
        letters = [e for e in letters if where(e)]
    by_target: dict[str, list[Event]] = {}
    for event in letters:
        target = to or str((event.extensions or {}).get("dltopic", topic))
        by_target.setdefault(target, []).append(restored(event))
    return sum(broker.publish_many(target, events) for target, events in by_target.items())
