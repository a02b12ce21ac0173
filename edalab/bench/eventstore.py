"""`edalab bench eventstore`: event store appends and replays, against raw sqlite3 inserts.

Per backend (in-memory and SQLite in a temporary file, WAL, ``synchronous=NORMAL``):
single-event appends (one transaction each), batched appends (`--batch` events of one stream
per append, one transaction each) and a full replay (`read_all` in pages of 1,000; SQLite
rebuilds every `Event` from its row, memory holds `Event` objects). The floor, measured in the
same run: raw ``sqlite3`` ``executemany`` of exactly the rows the store writes (the same column
tuples, built before the clock starts) into the same schema, with the same pragmas and the same
batches (``raw``). Turning events into rows is edalab's own work, so it is part of what the
store is measured on; ``row`` times that work plus the raw inserts, for reference.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta

from edalab.bench._harness import Contender, Target, report, run_contenders
from edalab.events import Event
from edalab.patterns.eventstore import EventStore, MemoryEventStore, SqliteEventStore
from edalab.patterns.eventstore.rows import event_rows
from edalab.patterns.eventstore.sqlite import INSERT, SCHEMA

STREAMS = 100


def card_events(n: int) -> list[Event]:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    return [Event("card.authorised", "/bench", {"amount": round(i * 0.37 % 500, 2),
                                                "merchant": f"m{i % 977}"},
                  key=f"card-{i % STREAMS}", time=t0 + timedelta(seconds=i), id=f"tx-{i}")
            for i in range(n)]


def batches(events: list[Event], size: int) -> list[tuple[str, list[Event]]]:
    """Consecutive chunks of `size` events, each appended to one stream (round robin)."""
    return [(f"card-{k % STREAMS}", events[start:start + size])
            for k, start in enumerate(range(0, len(events), size))]


def fresh_store(backend: str, folder: str) -> EventStore:
    """A new, empty store (a new SQLite file in `folder`)."""
    if backend == "memory":
        return MemoryEventStore()
    return SqliteEventStore(tempfile.mktemp(suffix=".db", dir=folder))


def append_each(store: EventStore, events: list[Event]) -> int:
    versions: dict[str, int] = {}
    for e in events:
        # the bench's events are all keyed (their key is the stream id)
        v = versions.get(e.key, 0)  # type: ignore[arg-type]
        store.append(e.key, [e], v)  # type: ignore[arg-type]
        versions[e.key] = v + 1  # type: ignore[index]
    return store.head()


def append_batched(store: EventStore, chunks: list[tuple[str, list[Event]]]) -> int:
    versions: dict[str, int] = {}
    for stream, chunk in chunks:
        v = versions.get(stream, 0)
        store.append(stream, chunk, v)
        versions[stream] = v + len(chunk)
    return store.head()


def timed_on_fresh(backend: str, folder: str, fill, data) -> int:
    store = fresh_store(backend, folder)
    try:
        return fill(store, data)
    finally:
        store.close()


def read_all_pages(store: EventStore, page: int = 1000) -> int:
    seen, position = 0, 1
    while batch := store.read_all(position, page):
        seen += len(batch)
        position = batch[-1].position + 1
    return seen


def store_rows(chunks: list[tuple[str, list[Event]]], recorded_at: float) -> list[list[tuple]]:
    """The rows the SQLite store writes for `append_batched(chunks)`, one list per batch."""
    versions: dict[str, int] = {}
    out = []
    for stream, chunk in chunks:
        v = versions.get(stream, 0)
        out.append(event_rows(stream, v + 1, recorded_at, chunk))
        versions[stream] = v + len(chunk)
    return out


def raw_sqlite_insert(path: str | os.PathLike, row_batches) -> int:
    """``executemany`` of each batch of rows in its own transaction, into a new database at
    `path` with the store's schema and pragmas; returns the rows in the table."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.executescript(SCHEMA)
    for rows in row_batches:
        con.execute("BEGIN IMMEDIATE")
        con.executemany(INSERT, rows)
        con.execute("COMMIT")
    n = con.execute("SELECT count(*) FROM events").fetchone()[0]
    con.close()
    return n


def main(argv: list[str]) -> int:
    from edalab.bench._help import DefaultsFormatter
    parser = argparse.ArgumentParser(prog="edalab bench eventstore",
                                     description=__doc__.split("\n")[0],
                                     formatter_class=DefaultsFormatter)
    parser.add_argument("--events", type=int, default=50_000,
                        help="events per batched-append and replay run")
    parser.add_argument("--single", type=int, default=5_000,
                        help="events per single-event-append run")
    parser.add_argument("--batch", type=int, default=100, help="events per batched append")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed runs of each contender (the table shows the median)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    events = card_events(args.events)
    single = events[:args.single]
    chunks = batches(events, args.batch)
    prepared = store_rows(chunks, time.time())
    n, s, b = args.events, len(single), args.batch
    with tempfile.TemporaryDirectory(prefix="edalab-bench-es-") as folder:
        def new_db() -> str:
            return tempfile.mktemp(suffix=".db", dir=folder)
        replay_stores = {}
        for backend in ("memory", "sqlite"):
            replay_stores[backend] = fresh_store(backend, folder)
            append_batched(replay_stores[backend], chunks)
        contenders = [
            Contender("raw", f"raw sqlite3: executemany {b} prepared rows/txn",
                      lambda: raw_sqlite_insert(new_db(), prepared), n),
            Contender("row", f"raw sqlite3: event_rows + executemany {b}/txn",
                      lambda: raw_sqlite_insert(new_db(), store_rows(chunks, time.time())), n)]
        for backend in ("memory", "sqlite"):
            contenders += [
                Contender(f"{backend[0]}1", f"{backend}: append 1 event per call",
                          lambda k=backend: timed_on_fresh(k, folder, append_each, single), s),  # type: ignore[misc]
                Contender(f"{backend[0]}b", f"{backend}: append {b} events per call",
                          lambda k=backend: timed_on_fresh(k, folder, append_batched, chunks),  # type: ignore[misc]
                          n),
                Contender(f"{backend[0]}r", f"{backend}: full replay (read_all, pages of 1,000)",
                          lambda st=replay_stores[backend]: read_all_pages(st), n),  # type: ignore[misc]
            ]
        run_contenders(contenders, args.repeats)
        for store in replay_stores.values():
            store.close()
    by = {c.name: round(c.median) for c in contenders}
    extra = {"python": platform.python_version(), "sqlite_version": sqlite3.sqlite_version,
             "batch": b, "durability": "WAL, synchronous=NORMAL"}
    for backend in ("memory", "sqlite"):
        k = backend[0]
        extra[backend] = {"append_per_s": by[f"{k}1"], "batched_append_per_s": by[f"{k}b"],
                          "replay_per_s": by[f"{k}r"]}
    extra["raw_sqlite_insert_per_s"] = by["raw"]
    extra["raw_sqlite_insert_with_row_building_per_s"] = by["row"]
    extra["sqlite_batched_append_to_raw"] = round(by["sb"] / by["raw"], 3)
    return report(f"edalab bench eventstore: {n:,} events ({s:,} for single appends), "
                  f"median of {args.repeats} runs", contenders,
                  [Target("sb", "raw", 0.5)], reference="raw", as_json=args.json,
                  extra=extra)
