"""`edalab bench eventstore` at a tiny size: it runs, reports the contract keys, and its raw
baseline inserts exactly the rows the store writes."""

from __future__ import annotations

import json
import time

from edalab.bench.eventstore import (
    append_batched,
    batches,
    card_events,
    main,
    raw_sqlite_insert,
    store_rows,
)
from edalab.patterns.eventstore import SqliteEventStore


def test_bench_json_has_the_contract_keys(capsys):
    main(["--events", "200", "--single", "20", "--batch", "10", "--repeats", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    for backend in ("memory", "sqlite"):
        assert set(out[backend]) == {"append_per_s", "batched_append_per_s", "replay_per_s"}
        assert all(v > 0 for v in out[backend].values())
    assert out["raw_sqlite_insert_per_s"] > 0
    assert out["sqlite_batched_append_to_raw"] > 0
    [target] = out["targets"]
    assert target["target"] == "sb >= 0.5x raw" and target["ratio"] > 0


def test_raw_baseline_inserts_exactly_the_rows_the_store_writes(tmp_path):
    chunks = batches(card_events(30), 7)
    with SqliteEventStore(tmp_path / "store.db") as store:
        append_batched(store, chunks)
        stored = store._con().execute("SELECT * FROM events ORDER BY position").fetchall()
    assert raw_sqlite_insert(tmp_path / "raw.db", store_rows(chunks, time.time())) == 30
    with SqliteEventStore(tmp_path / "raw.db") as raw:
        inserted = raw._con().execute("SELECT * FROM events ORDER BY position").fetchall()
    no_clock = [row[:3] + row[4:] for row in stored]  # all but recorded_at
    assert [row[:3] + row[4:] for row in inserted] == no_clock
