"""What only `SQLiteState` promises: the file survives the process (a clean exit and a
SIGKILL in the middle of a save), several connections fence each other, threads share one,
and a path it cannot use is named in a clear error."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest

from edalab.errors import StoreClosedError
from edalab.state import Checkpoint, FencedError, SQLiteState


def run_python(code: str) -> subprocess.CompletedProcess:
    """`code` in a new interpreter, with this worktree's edalab."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=os.environ | {"PYTHONPATH": os.getcwd()}, timeout=60)


def test_state_survives_the_process_that_wrote_it(tmp_path):
    path = tmp_path / "state.db"
    run = run_python(f"""
from edalab.state import SQLiteState
backend = SQLiteState({str(path)!r})
epoch = backend.claim("s", 3).epoch
backend.save("s", 3, epoch, 41, {{"a": b"1", "b": b"2"}})
backend.save("s", 3, epoch, 42, {{"b": None}})
backend.close()
""")
    assert run.returncode == 0, run.stderr
    backend = SQLiteState(path)
    assert backend.claim("s", 3) == Checkpoint({"a": b"1"}, 42, 2)
    backend.close()


def test_a_kill_in_the_middle_of_a_save_writes_nothing_of_it(tmp_path):
    # The writer SIGKILLs itself when SQLite starts the 500th value write of its second
    # checkpoint: a crash between the statements of one save.
    path = tmp_path / "state.db"
    run = run_python(f"""
import os, signal
from edalab.state import SQLiteState
backend = SQLiteState({str(path)!r})
epoch = backend.claim("s", 0).epoch
backend.save("s", 0, epoch, 1000, {{f"k{{i}}": b"first" for i in range(1000)}})
writes = []
def die_at_the_500th_write(sql):
    writes.append(sql)
    if len(writes) == 500:
        os.kill(os.getpid(), signal.SIGKILL)
backend._con.set_trace_callback(die_at_the_500th_write)
backend.save("s", 0, epoch, 2000, {{f"k{{i}}": b"second" for i in range(1000)}})
print("not killed")
""")
    assert run.returncode == -signal.SIGKILL, (run.returncode, run.stdout, run.stderr)
    backend = SQLiteState(path)
    snap = backend.claim("s", 0)
    assert (snap.offset, set(snap.values.values()), len(snap.values)) == (1000, {b"first"}, 1000)
    backend.close()


def test_an_error_between_the_statements_of_a_save_rolls_it_back(tmp_path):
    backend = SQLiteState(tmp_path / "state.db")
    epoch = backend.claim("s", 0).epoch
    backend.save("s", 0, epoch, 1, {"a": b"1"})
    # "a" is written, then SQLite cannot bind the second value: the save fails mid-way.
    with pytest.raises(sqlite3.ProgrammingError, match="binding parameter"):
        backend.save("s", 0, epoch, 2, {"a": b"2", "b": object()})  # type: ignore[dict-item]
    assert backend.load("s", 0) == Checkpoint({"a": b"1"}, 1, epoch)
    backend.save("s", 0, epoch, 3, {"a": b"3"})  # no transaction left open
    assert backend.load("s", 0).values == {"a": b"3"}
    backend.close()


def test_two_connections_to_one_file_fence_each_other(tmp_path):
    old, new = SQLiteState(tmp_path / "state.db"), SQLiteState(tmp_path / "state.db")
    epoch = old.claim("s", 0).epoch
    new.claim("s", 0)
    with pytest.raises(FencedError, match="claimed by epoch 2 since this member's epoch 1"):
        old.save("s", 0, epoch, 5, {"a": b"zombie"})
    assert new.load("s", 0) == Checkpoint({}, 0, 2)
    old.close()
    new.close()


def test_threads_share_one_backend(tmp_path):
    backend = SQLiteState(tmp_path / "state.db")
    errors: list[BaseException] = []

    def work(p: int) -> None:
        try:
            epoch = backend.claim("s", p).epoch
            for offset in range(1, 51):
                backend.save("s", p, epoch, offset, {f"k{offset % 7}": b"%d" % offset})
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [backend.load("s", p).offset for p in range(4)] == [50] * 4
    backend.close()


def test_use_after_close_raises_store_closed_error(tmp_path):
    backend = SQLiteState(tmp_path / "state.db")
    backend.close()
    backend.close()
    for call in (lambda: backend.claim("s", 0), lambda: backend.load("s", 0),
                 lambda: backend.save("s", 0, 0, 1, {}), lambda: backend.size("s")):
        with pytest.raises(StoreClosedError, match="SQLiteState.*state.db.* is closed"):
            call()


def test_a_missing_directory_is_named(tmp_path):
    path = tmp_path / "no" / "such" / "state.db"
    with pytest.raises(FileNotFoundError, match=f"its directory '{path.parent}' does not"):
        SQLiteState(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes any directory")
def test_a_directory_that_cannot_be_written_is_named(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)
    with pytest.raises(PermissionError, match="locked' cannot be written"):
        SQLiteState(folder / "state.db")


def test_a_file_that_is_not_sqlite_is_named(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database " * 100)
    with pytest.raises(OSError, match=r"notes.txt'\) cannot be used: file is not a database"):
        SQLiteState(path)


@pytest.mark.parametrize("path", ["", ":memory:"])
def test_a_path_that_is_no_file_is_a_value_error(path):
    with pytest.raises(ValueError, match="needs a file path"):
        SQLiteState(path)


def test_a_file_locked_past_the_busy_timeout_is_named(tmp_path):
    path = tmp_path / "state.db"
    backend = SQLiteState(path, busy_timeout=0.1)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer, holding the lock
    with pytest.raises(OSError, match=r"state.db'\): database is locked \(another connection "
                                      r"held it for more than 0.1 s\)"):
        backend.claim("s", 0)
    other.execute("ROLLBACK")
    assert backend.claim("s", 0).epoch == 1  # usable again once the lock is gone
    other.close()
    backend.close()


def test_a_directory_as_the_path_is_named(tmp_path):
    with pytest.raises(OSError, match=f"SQLiteState\\('{tmp_path}'\\) cannot be used"):
        SQLiteState(tmp_path)


def test_concurrent_claims_on_one_file_each_get_their_own_epoch(tmp_path):
    members = [SQLiteState(tmp_path / "state.db") for _ in range(4)]
    epochs: list[int] = []
    threads = [threading.Thread(target=lambda m=m: epochs.append(m.claim("s", 0).epoch))
               for m in members]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(epochs) == [1, 2, 3, 4]
    journal = sqlite3.connect(tmp_path / "state.db").execute("PRAGMA journal_mode").fetchone()
    assert journal == ("wal",)
    for m in members:
        m.close()
