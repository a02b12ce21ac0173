"""UC1, database storage: every power reading converted to a row and written to SQLite.

Theodolite's first use case measures the cheapest stateless pipeline: read a record, convert
it, write it to a database. Here the database is SQLite (a file, so several worker processes
write to one; ``":memory:"`` keeps the rows in the process) and each polled batch is one
transaction, so the cost per record is the conversion and an ``executemany`` row.

>>> from edalab.streams import power_sensors, sensor_events
>>> app = uc1_storage()
>>> app.source("input", list(sensor_events(power_sensors(sensors=3, duration=10, seed=1))))
>>> _ = app.run()
>>> app.store.count()
30
"""

from __future__ import annotations

import sqlite3
import threading

from edalab.brokers.base import Broker
from edalab.events import Event
from edalab.runtime.app import App

__all__ = ["ReadingStore", "uc1_storage"]

_SCHEMA = ("CREATE TABLE IF NOT EXISTS readings (identifier TEXT NOT NULL, "
           "timestamp INTEGER NOT NULL, value_w REAL NOT NULL, event_id TEXT PRIMARY KEY)")


class ReadingStore:
    """A SQLite table ``readings(identifier, timestamp, value_w, event_id)``.

    The event id is the primary key, so an event delivered twice (at-least-once) is stored
    once. One connection per store, usable from the thread that runs the app.
    """

    def __init__(self, path: str = ":memory:"):
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30.0)
        if path != ":memory:":  # several writers (worker processes) on one file
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._db.commit()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ReadingStore({self.path!r})"

    def write(self, events: list[Event]) -> None:
        """Convert `events` to rows and write them in one transaction."""
        rows = [(d["identifier"], d["timestamp"], d["valueInW"], e.id)
                for e in events for d in (e.data,)]
        with self._lock, self._db:
            self._db.executemany("INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?)", rows)

    def count(self) -> int:
        """Rows stored."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM readings").fetchone()[0]

    def close(self) -> None:
        self._db.close()


def uc1_storage(broker: Broker | None = None, *, db: str = ":memory:", partitions: int = 8,
                topic: str = "input") -> App:
    """The UC1 App: handler ``store`` (group ``uc1``) writes each reading of `topic` to the
    SQLite database `db`; the store is ``app.store``."""
    app = App(broker, partitions=partitions)
    store = ReadingStore(db)

    @app.handler(topic, group="uc1", batch=True)
    def store_readings(events: list[Event]) -> None:
        store.write(events)

    app.store = store  # type: ignore[attr-defined]
    return app
