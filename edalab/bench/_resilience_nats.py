"""The crash fault of `edalab bench resilience` on NATS: real ``edalab worker`` processes, one
SIGKILLed mid-batch.

Two workers serve `crash_app` in one consumer group; the first kills itself with SIGKILL right
after applying its `KILL_AFTER`-th payment (no clean-up: its leases and un-acked batch are left
behind), and the other takes its partitions over when the lease expires and gets the un-acked
payments again. What the workers did is in a SQLite file both write: every dependency call
(``calls``), every application (``applied``) and the kill (``killed``); a killed process's own
counters die with it. With the idempotent strategy the sink is a `SqliteIdempotencyStore` on
that file: the application and the mark commit in one transaction (the inbox pattern).

This runs in wall time: payments are published at `RATE` per second (event time ``T0 + i /
RATE`` matches the publish schedule, so the row's latencies are wall milliseconds from publish
to first application).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from edalab.bench._resilience_run import Run, Setup
from edalab.brokers.base import dead_letter_topic
from edalab.events import Event
from edalab.resilience import CircuitBreaker, Faults, Retry, SqliteIdempotencyStore
from edalab.runtime.app import App

__all__ = ["RATE", "crash_app", "run_crash"]

RATE = 400.0  # payments per wall second
DB, TOPIC, STRATEGY, KILL_AFTER = ("EDALAB_RESIL_DB", "EDALAB_RESIL_TOPIC",
                                   "EDALAB_RESIL_STRATEGY", "EDALAB_RESIL_KILL_AFTER")
SCHEMA = ("CREATE TABLE IF NOT EXISTS calls (id TEXT, at REAL)",
          "CREATE TABLE IF NOT EXISTS applied (id TEXT, at REAL)",
          "CREATE TABLE IF NOT EXISTS killed (at REAL)")


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def crash_app(broker: Any) -> App:
    """The scoring App a worker serves, configured by environment variables: the SQLite file
    (`DB`), the topic, the strategy, and after how many applications it SIGKILLs itself
    (`KILL_AFTER`; 0: never)."""
    strategy = os.environ[STRATEGY]
    conn = _connect(os.environ[DB])
    kill_after = int(os.environ.get(KILL_AFTER, "0"))
    store = SqliteIdempotencyStore(os.environ[DB]) if strategy.endswith("idempotent") else None
    options: dict[str, Any] = {"retry": Setup().retry("blocking" if strategy ==
                                                      "retry-blocking" else "topics")}
    if strategy == "dlq-only":
        options["retry"] = Retry(max_attempts=1)
    if "breaker" in strategy:
        options["breaker"] = CircuitBreaker(window=20, open_for=10.0, half_open_calls=1)
    if store is not None:
        options["idempotent"] = store
    model = Faults(sleep=None).wrap(lambda event: event.data["amount"] / 100.0)
    app = App(broker, partitions=4)
    applied = [0]

    @app.handler(os.environ[TOPIC], group="scoring", **options)
    def score(event: Event) -> None:
        conn.execute("INSERT INTO calls VALUES (?, ?)", (event.id, time.time()))
        model(event)
        if store is not None:
            store.apply_once(event.id, lambda c: c.execute(
                "INSERT INTO applied VALUES (?, ?)", (event.id, time.time())))
        else:
            conn.execute("INSERT INTO applied VALUES (?, ?)", (event.id, time.time()))
        applied[0] += 1
        if applied[0] == kill_after:
            conn.execute("INSERT INTO killed VALUES (?)", (time.time(),))
            os.kill(os.getpid(), signal.SIGKILL)  # mid-batch: the rest of it never acked

    return app


def _worker(url: str, env: dict[str, str], log: Path, lease_ttl: float) -> subprocess.Popen:
    root = Path(__file__).resolve().parents[2]
    with log.open("w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "edalab.cli", "worker", f"{__name__}:crash_app", "--broker",
             url, "--ack-wait", "3", "--lease-ttl", str(lease_ttl), "--batch", "20",
             "--idle", "5"],
            stdout=subprocess.DEVNULL, stderr=err,
            env={**os.environ, **env, "PYTHONPATH": os.pathsep.join(
                [str(root), os.environ.get("PYTHONPATH", "")])})


def _create_topics(broker: Any, topic: str, partitions: int) -> None:
    """Every topic the workers may write, made before they start: two workers that both
    find a topic missing both create it, and the second one's creation fails."""
    broker.create_topic(topic, partitions)  # (its dead-letter topic comes with it)
    have = set(broker.topics())
    for name in Setup().retry("topics").retry_topics(topic):
        if name not in have:
            broker.create_topic(name, partitions)
    if "breaker" not in have:
        broker.create_topic("breaker", 1)


def run_crash(strategy: str, setup: Setup, broker: Any, url: str, topic: str) -> Run:
    """The crash fault x `strategy` on NATS (`broker` on the server at `url`; its lease TTL,
    which the workers take, is how long the killed worker's partitions wait for a new owner);
    raises RuntimeError when no worker was killed."""
    setup = replace(setup, rate=RATE)
    events = setup.payments()
    with tempfile.TemporaryDirectory(prefix="edalab-resil-") as tmp:
        db = str(Path(tmp) / "crash.sqlite")
        conn = _connect(db)
        for statement in SCHEMA:
            conn.execute(statement)
        _create_topics(broker, topic, setup.partitions)
        env = {DB: db, TOPIC: topic, STRATEGY: strategy}
        kill_after = max(1, round(setup.crash_at * setup.events / 2))  # of its half
        logs = [Path(tmp) / "worker1.log", Path(tmp) / "worker2.log"]
        ttl = broker.lease_ttl  # the server's lease bucket has one TTL for every member
        workers = [_worker(url, {**env, KILL_AFTER: str(kill_after)}, logs[0], ttl),
                   _worker(url, env, logs[1], ttl)]
        try:
            time.sleep(3.0)  # both workers connected and holding partitions
            started = time.time()
            for i in range(0, len(events), 10):  # each chunk at its last payment's time
                lag = started + min(i + 9, len(events) - 1) / RATE - time.time()
                if lag > 0:
                    time.sleep(lag)
                broker.publish_many(topic, events[i:i + 10])
            for w in workers:
                w.wait(timeout=120)
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
                    w.wait()
        run = Run("crash", strategy, "nats", setup, events)
        for event_id, at in conn.execute("SELECT id, at FROM applied ORDER BY at"):
            run.applied[event_id] += 1
            if run.applied[event_id] == 1:
                run.first_applied[event_id] = at - started
            else:
                run.duplicate_times.append(at - started)
        for event_id, at in conn.execute("SELECT id, at FROM calls ORDER BY at"):
            run.calls.setdefault(event_id, []).append(at - started)
        killed = conn.execute("SELECT at FROM killed").fetchall()
        conn.close()
        said = " | ".join(line for log in logs for line in log.read_text().splitlines()[-3:])
    if not killed:
        raise RuntimeError(f"the first worker was never killed (it got no partition, or "
                           f"failed); the workers said: {said or 'nothing'}")
    run.fault_end = killed[0][0] - started
    run.dependency_calls = sum(len(t) for t in run.calls.values())
    dlq = dead_letter_topic(topic)
    if dlq in broker.topics():
        run.dead = {r.event.id for r in broker.read(dlq)}
    run.wall_s = time.time() - started
    return run
