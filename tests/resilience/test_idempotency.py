"""Idempotency stores: a handled key is skipped; for SQLite the effect and the mark commit in
one transaction, through an exception and through a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edalab import StoreClosedError
from edalab.resilience import MemoryIdempotencyStore, SqliteIdempotencyStore

ROOT = Path(__file__).resolve().parents[2]


def test_memory_store_applies_each_key_once_and_counts_duplicates():
    store, sink = MemoryIdempotencyStore(), []
    for key in ["e1", "e2", "e1", "e1", "e3"]:
        store.apply_once(key, lambda key=key: sink.append(key))
    assert sink == ["e1", "e2", "e3"] and store.duplicates == 2 and len(store) == 3


def test_memory_store_forgets_the_oldest_keys_beyond_max_ids():
    store = MemoryIdempotencyStore(max_ids=3)
    for key in ["a", "b", "c", "d"]:
        store.mark(key)
    assert [store.seen(k) for k in "abcd"] == [False, True, True, True]


def test_memory_store_forgets_in_constant_time_when_full():
    # A plain dict made forgetting the oldest of 100,000 keys scan its deleted slots: about
    # 90 us a key instead of under 1 us (18 s for this loop instead of a fraction of one).
    store = MemoryIdempotencyStore(max_ids=100_000)
    start = time.perf_counter()
    for i in range(300_000):
        store.mark(f"k{i}")
    assert time.perf_counter() - start < 3.0
    assert len(store) == 100_000 and store.seen("k299999") and not store.seen("k199999")


def test_memory_store_marks_nothing_when_the_effect_raises():
    store = MemoryIdempotencyStore()

    def effect():
        raise ConnectionError("sink down")
    with pytest.raises(ConnectionError):
        store.apply_once("e1", effect)
    assert not store.seen("e1") and store.apply_once("e1", lambda: None)


@pytest.mark.parametrize("bad", ["", None, 3])
def test_a_key_must_be_a_non_empty_string(bad):
    with pytest.raises(ValueError, match="idempotency key must be a non-empty str"):
        MemoryIdempotencyStore().mark(bad)
    with pytest.raises(ValueError, match="idempotency key must be a non-empty str"):
        SqliteIdempotencyStore(":memory:").apply_once(bad, lambda conn: None)


def test_max_ids_must_be_a_positive_int():
    with pytest.raises(ValueError, match="max_ids must be an int >= 1, got 0"):
        MemoryIdempotencyStore(max_ids=0)


def _sink(store: SqliteIdempotencyStore) -> list[str]:
    store.connection.execute("CREATE TABLE IF NOT EXISTS sink (id TEXT)")
    return [r[0] for r in store.connection.execute("SELECT id FROM sink ORDER BY rowid")]


def _write(key: str):
    return lambda conn: conn.execute("INSERT INTO sink VALUES (?)", (key,))


def test_sqlite_store_remembers_handled_keys_across_reopening(tmp_path):
    store = SqliteIdempotencyStore(tmp_path / "inbox.db")
    _sink(store)
    assert store.apply_once("e1", _write("e1"))
    store.close()
    again = SqliteIdempotencyStore(tmp_path / "inbox.db")
    assert not again.apply_once("e1", _write("e1")) and again.duplicates == 1
    assert _sink(again) == ["e1"] and len(again) == 1


def test_sqlite_effect_that_raises_rolls_back_its_writes_and_the_mark(tmp_path):
    store = SqliteIdempotencyStore(tmp_path / "inbox.db")
    _sink(store)

    def half_done(conn):
        conn.execute("INSERT INTO sink VALUES ('e1')")
        raise ConnectionError("lost the downstream call after writing")
    with pytest.raises(ConnectionError):
        store.apply_once("e1", half_done)
    assert _sink(store) == [] and not store.seen("e1")
    assert store.apply_once("e1", _write("e1")) and _sink(store) == ["e1"]


def test_sqlite_store_used_after_close_raises_store_closed(tmp_path):
    store = SqliteIdempotencyStore(tmp_path / "inbox.db")
    store.close()
    store.close()
    with pytest.raises(StoreClosedError, match="is closed"):
        store.seen("e1")


_CHILD = textwrap.dedent("""
    import sys, time
    from edalab.resilience import SqliteIdempotencyStore
    store = SqliteIdempotencyStore(sys.argv[1])
    store.connection.execute("CREATE TABLE IF NOT EXISTS sink (id TEXT)")
    def effect(conn):
        conn.execute("INSERT INTO sink VALUES ('e1')")
        if sys.argv[2] == "inside":
            print("inside", flush=True)
            time.sleep(60)
    store.apply_once("e1", effect)
    print("committed", flush=True)
    time.sleep(60)
""")


@pytest.mark.parametrize("kill_at", ["inside", "after"])
def test_sqlite_sigkill_mid_way_neither_loses_nor_doubles_the_effect(tmp_path, kill_at):
    path = tmp_path / "inbox.db"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), kill_at],
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = child.stdout.readline().strip()
        assert line == ("inside" if kill_at == "inside" else "committed")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
    store = SqliteIdempotencyStore(path)  # the redelivery after the crash
    applied = store.apply_once("e1", _write("e1"))
    assert applied == (kill_at == "inside")
    assert _sink(store) == ["e1"]


def test_sqlite_store_keeps_only_the_newest_max_ids_keys(tmp_path):
    store = SqliteIdempotencyStore(tmp_path / "inbox.db", max_ids=3)
    for key in ["a", "b", "c"]:
        store.mark(key)
    store.apply_once("d", lambda conn: None)
    store.apply_once("d", lambda conn: None)  # a duplicate adds nothing, trims nothing
    store.mark("e")
    store.close()
    again = SqliteIdempotencyStore(tmp_path / "inbox.db", max_ids=3)
    assert [again.seen(k) for k in "abcde"] == [False, False, True, True, True]
    assert len(again) == 3 and again.duplicates == 0


def test_sqlite_mark_of_a_handled_key_is_no_duplicate(tmp_path):
    store = SqliteIdempotencyStore(tmp_path / "inbox.db")
    store.mark("a")
    store.mark("a")
    assert len(store) == 1 and store.duplicates == 0


def test_sqlite_max_ids_must_be_a_positive_int_or_none(tmp_path):
    with pytest.raises(ValueError, match="max_ids must be an int >= 1 or None, got 0"):
        SqliteIdempotencyStore(tmp_path / "inbox.db", max_ids=0)
