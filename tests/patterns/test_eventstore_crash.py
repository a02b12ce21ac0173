"""The SQLite store survives a writer killed with SIGKILL in the middle of appending batches:
after a restart every stream is intact (versions 1..n, positions gap-free) and no partial
batch is visible (a batch is one transaction).

To kill the writer *inside* a transaction every time, not just often, it freezes itself from a
SQLite progress handler once half of a batch's rows are inserted but not committed, says so on
stdout, and the test kills it right then."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from collections import Counter

import pytest

from edalab.patterns.eventstore import SqliteEventStore

BATCH = 200
WRITER = f"""
import sys, time
from edalab import Event
from edalab.patterns.eventstore import SqliteEventStore
store = SqliteEventStore(sys.argv[1])
con = store._con()
k = 0

def progress():
    # SQLite calls this while a statement runs: after two whole batches, freeze mid-insert.
    if k >= 2 and con.in_transaction and con.total_changes % {BATCH} > {BATCH} // 2:
        print("frozen mid-append", flush=True)
        time.sleep(60)
    return 0

con.set_progress_handler(progress, 50)
while True:
    stream = f"s{{k % 3}}"
    events = [Event("tick", "/crash", {{"batch": f"{{sys.argv[2]}}-{{k}}", "i": i}}, key=stream)
              for i in range({BATCH})]
    store.append(stream, events, store.version(stream))
    k += 1
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sqlite_store_survives_a_writer_killed_mid_append(tmp_path):
    path = tmp_path / "events.db"
    SqliteEventStore(path).close()  # create the tables before the first writer starts
    for round_ in range(3):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(round_)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            ready, _, _ = select.select([writer.stdout], [], [], 60)
            assert ready, "the writer never froze inside an append transaction"
            assert writer.stdout.readline() == "frozen mid-append\n"
        finally:
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait()
        assert writer.returncode == -signal.SIGKILL

    store = SqliteEventStore(path)  # the restart
    assert store._con().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    everything = store.read_all()
    assert len(everything) == 3 * 2 * BATCH  # two whole batches per round; the third is gone
    assert [s.position for s in everything] == list(range(1, len(everything) + 1))
    for stream in store.streams():
        assert [s.version for s in store.read(stream)] == list(range(1, store.version(stream) + 1))
    assert set(Counter(s.event.data["batch"] for s in everything).values()) == {BATCH}
    store.append("s0", [everything[0].event.replace()], store.version("s0"))  # writable again
    store.close()
