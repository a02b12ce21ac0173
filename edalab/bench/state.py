"""`edalab bench state`: what durable state costs and whether it is exactly-once after a crash.

Throughput: a stateful app (per key: a running count and sum, one output per event) with
its state checkpointed every ``--every`` events, against the same app with no durable state
(``State(durable=False)``: kept in the process, never checkpointed), and, for scale, the same
work in a plain handler with a dict, on each backend in the same run: the
embedded `MemoryState` and `SQLiteState` with the embedded broker, `NatsState` with NATS
JetStream (a `NatsServer` of its own). Restore time is a new member's claim of every
partition of the state the run left; state size is what the backend holds.

Failover: the same app served by ``edalab worker`` processes on NATS, SIGKILLed several
times at seeded points (two workers with NATS state; one restarted worker with SQLite
state); its final state and its outputs deduplicated by id against one process's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edalab.bench._help import DefaultsFormatter
from edalab.bench._state_failover import (
    OUT,
    PARTITIONS,
    STORE,
    TOPIC,
    numbers,
    run_failover,
    stateful_app,
    zero,
)
from edalab.brokers.memory import MemoryBroker
from edalab.events import Event
from edalab.runtime.app import App
from edalab.state import MemoryState

__all__ = ["main", "measure_backend", "state_benchmark", "state_targets"]

MIN_RATIO = 0.7  # checkpointed throughput against no durable state, per backend


def _plain_app(broker: Any) -> App:
    """The same work with the state in a dict of the process (nothing checkpointed)."""
    app = App(broker, partitions=PARTITIONS)
    totals: dict[str, dict[str, int]] = {}

    @app.handler(TOPIC, group="count", output=OUT)
    def count(event: Event) -> Event:
        total = totals.get(event.key)  # type: ignore[arg-type]
        if total is None:
            total = totals[event.key] = zero()  # type: ignore[index]
        total["n"] += 1
        total["sum"] += event.data
        return Event("total", "/edalab/bench/state", dict(total), key=event.key,
                     time=event.time)
    return app


def _rate(app: App, events: list[Event]) -> tuple[float, dict[str, Any]]:
    """Events per second through `app`, and its stateful handler's statistics (if any)."""
    app.source(TOPIC, events)
    started = time.perf_counter()
    stats = app.run(batch_size=1000)
    return len(events) / (time.perf_counter() - started), stats.state.get("count", {})


def measure_backend(name: str, events: list[Event], every: int, repeats: int = 5
                    ) -> dict[str, Any]:
    """Throughput with and without durable state on backend `name` (best of `repeats`,
    alternating), the state's size and a new member's restore time."""
    from contextlib import ExitStack
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edalab-state-")))
        if name == "nats":
            from edalab.brokers.nats import NatsBroker, NatsServer
            from edalab.state import NatsState
            server = stack.enter_context(NatsServer())
            runs = iter(range(10**6))

            def fresh() -> tuple[Any, Any]:
                # New topics and a new state stream: a checkpoint of a deleted topic's
                # offsets would send the next run's consumer past its events.
                broker = NatsBroker(server.url)
                stack.callback(broker.close)
                for topic in broker.topics():
                    broker.delete_topic(topic)
                return broker, NatsState(broker, stream=f"EDALAB_STATE_BENCH{next(runs)}")
        elif name == "sqlite":
            from edalab.state import SQLiteState
            runs = iter(range(10**6))

            def fresh() -> tuple[Any, Any]:
                return MemoryBroker(), SQLiteState(tmp / f"state{next(runs)}.sqlite")
        else:
            def fresh() -> tuple[Any, Any]:
                return MemoryBroker(), MemoryState()
        stateful, volatile, plain = 0.0, 0.0, 0.0
        checkpoints: dict[str, Any] = {}
        for _ in range(repeats):
            broker, _backend = fresh()
            plain = max(plain, _rate(_plain_app(broker), events)[0])
            broker, _backend = fresh()
            volatile = max(volatile, _rate(stateful_app(broker, None, every, durable=False),
                                           events)[0])
            broker, backend = fresh()
            rate, checkpoints = _rate(stateful_app(broker, backend, every), events)
            stateful = max(stateful, rate)
        started = time.perf_counter()
        for p in range(PARTITIONS):
            backend.claim(STORE, p)
        restore = time.perf_counter() - started
        size = backend.size(STORE)
    return {"backend": name, "events_per_s": round(stateful),
            "no_checkpoint_events_per_s": round(volatile), "checkpoint_every": every,
            "state_bytes": size, "restore_s": round(restore, 4),
            "checkpoints": checkpoints.get("checkpoints", 0),
            "checkpoint_ms": round(1e3 * checkpoints.get("checkpoint_s", 0.0)
                                   / max(1, checkpoints.get("checkpoints", 0)), 3),
            "ratio": round(stateful / volatile, 3), "plain_dict_events_per_s": round(plain)}


def state_benchmark(*, events: int = 20_000, keys: int = 1000, every: int = 1000,
                    backends: tuple[str, ...] = ("memory", "sqlite", "nats"),
                    failover: bool = True, kills: int = 3, seed: int = 0) -> dict[str, Any]:
    """Every row of the benchmark (see the module's docstring)."""
    data = numbers(events, keys=keys, seed=seed)
    out: dict[str, Any] = {"backends": [measure_backend(b, data, every) for b in backends]}
    if failover:
        out["failover"] = run_failover("nats", kills=kills, seed=seed)
        out["failover_sqlite"] = run_failover("sqlite", kills=kills, seed=seed)
    return out


def state_targets(rep: dict[str, Any]) -> list[tuple[str, bool]]:
    """Each target and whether it holds."""
    rows = [(f"{b['backend']}: checkpointed >= {MIN_RATIO}x no durable state "
             f"({b['ratio']}x)", b["ratio"] >= MIN_RATIO) for b in rep["backends"]]
    for key in ("failover", "failover_sqlite"):
        f = rep.get(key)
        if f is not None:
            exact = not (f["mismatched_keys"] or f["duplicates_after_dedup"]
                         or f["missing_outputs"] or f["mismatched_outputs"])
            rows.append((f"{f['backend']} failover after {f['kills']} kills: state and "
                         "outputs as one process", exact))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every target holds, 1 when one is missed, 2 on bad input."""
    parser = argparse.ArgumentParser(
        prog="edalab bench state", formatter_class=DefaultsFormatter,
        description="Durable partition state: throughput with checkpoints against none, "
                    "state size and restore time per backend (memory, sqlite, nats), and "
                    "exactly-once state after SIGKILLed workers on NATS. Starts its own "
                    "nats-servers; about a minute.")
    parser.add_argument("--events", type=int, default=20_000, help="events per run")
    parser.add_argument("--keys", type=int, default=1000, help="distinct keys")
    parser.add_argument("--every", type=int, default=1000,
                        help="checkpoint each partition after this many events")
    parser.add_argument("--kills", type=int, default=3, help="workers SIGKILLed per failover")
    parser.add_argument("--backends", default="memory,sqlite,nats",
                        help="comma-separated: memory, sqlite, nats")
    parser.add_argument("--no-failover", action="store_true", help="skip the failover study")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    bad = [b for b in backends if b not in ("memory", "sqlite", "nats")]
    if bad or args.events < 1 or args.keys < 1 or args.every < 1 or args.kills < 0:
        print(f"edalab bench state: {'unknown backend ' + repr(bad[0]) if bad else ''}"
              f"{'' if bad else '--events, --keys, --every must be >= 1, --kills >= 0'}",
              file=sys.stderr)
        return 2
    started = time.perf_counter()
    rep = state_benchmark(events=args.events, keys=args.keys, every=args.every, backends=backends,
                  failover=not args.no_failover, kills=args.kills)
    rep["wall_s"] = round(time.perf_counter() - started, 1)
    checks = state_targets(rep)
    rep["targets"] = [{"target": t, "ok": ok} for t, ok in checks]
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        for b in rep["backends"]:
            print(f"{b['backend']:>7}: {b['events_per_s']:>8,} ev/s checkpointed every "
                  f"{b['checkpoint_every']} vs {b['no_checkpoint_events_per_s']:>8,} ev/s "
                  f"no durable state ({b['ratio']}x; a plain dict handler "
                  f"{b['plain_dict_events_per_s']:,} ev/s); {b['checkpoints']} checkpoints of "
                  f"{b['checkpoint_ms']:.2f} ms; state {b['state_bytes']:,} B, restore "
                  f"{b['restore_s'] * 1000:.1f} ms")
        for key in ("failover", "failover_sqlite"):
            if key in rep:
                print(f"failover ({rep[key]['backend']}): {rep[key]}")
        for t, ok in checks:
            print(f"  {'ok  ' if ok else 'MISS'} {t}")
        print(f"  wall time {rep['wall_s']} s")
    return 0 if all(ok for _, ok in checks) else 1
