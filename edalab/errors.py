"""One root for every edalab exception, and the errors shared across layers.

Every exception class edalab defines derives from `EdalabError` and keeps the builtin base
callers caught before (`EventError` is still a `ValueError`, `BrokerError` a
`RuntimeError`, ...), so ``except edalab.EdalabError`` catches anything edalab raises on
purpose and ``except ValueError`` still works where it did.

This module imports nothing from edalab: every layer may raise what it defines.

>>> from edalab import EdalabError, Event
>>> try:
...     Event("", "/doc")
... except EdalabError as exc:
...     print(type(exc).__name__, isinstance(exc, ValueError))
EventError True
"""

from __future__ import annotations

from typing import Any

__all__ = ["BatchFailure", "EdalabError", "StoreClosedError"]


class EdalabError(Exception):
    """The root of every exception edalab defines."""


class BatchFailure(EdalabError):
    """Raised by a batch handler whose batch failed part-way: the first `done` events were
    handled (their state changes kept, `results` the events they emitted) and the next one
    failed (the exception's ``__cause__``, which is what the failing event is dead-lettered
    with). `App` keeps those results and runs the rest of the batch one event at a time, so no
    event is handled twice and only the failing one is retried and dead-lettered.

    >>> from edalab import App, Event
    >>> app, seen = App(), []
    >>> @app.handler("n", output="out", batch=True)
    ... def double(events):
    ...     out = []
    ...     for i, e in enumerate(events):
    ...         try:
    ...             value = 2 * int(e.data)
    ...         except ValueError as exc:
    ...             raise BatchFailure(i, out) from exc
    ...         seen.append(e.data)
    ...         out.append(e.replace(type="doubled", data=value))
    ...     return out
    >>> app.source("n", [Event("n", "/doc", d) for d in ["1", "2", "x", "4"]])
    >>> app.run().dead_letters, seen
    (1, ['1', '2', '4'])
    """

    def __init__(self, done: int, results: list[Any]):
        super().__init__(f"batch failed at event {done}")
        self.done = done
        self.results = results


class StoreClosedError(EdalabError, RuntimeError):
    """A store was used after `close()`; `store` names it.

    >>> str(StoreClosedError("SqliteEventStore('/data/events.db')"))
    "SqliteEventStore('/data/events.db') is closed"
    """

    def __init__(self, store: str) -> None:
        super().__init__(f"{store} is closed")
        self.store = store

    def __reduce__(self) -> tuple:
        return self.__class__, (self.store,)
