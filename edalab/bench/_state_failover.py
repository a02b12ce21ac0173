"""The failover study of `edalab bench state`: a stateful app (per key: count and sum; and the
fraud features, whose windows are per-partition operator state) served by ``edalab worker``
processes, SIGKILLed several times at seeded points, against one process.

With NATS state (`NatsState`) two workers share the consumer group and a killed one is
replaced at once; with SQLite state (`SQLiteState`, a file of the app's) one worker runs at a
time and is restarted after each kill. Each worker kills itself with SIGKILL after a seeded
number of events (no clean-up: un-checkpointed state, leases and un-acked events are left
behind). The log is on a fresh NATS server. At the end the state in the backend and the
outputs, deduplicated by id, are compared with one process on the memory broker.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edalab.brokers.memory import MemoryBroker
from edalab.events import Event
from edalab.runtime.app import App
from edalab.state import MemoryState, State
from edalab.state.codec import loads
from edalab.state.keyed import OPERATOR, PENDING

__all__ = ["count", "numbers", "run_failover", "stateful_app", "worker_app"]

TOPIC, OUT, GROUP, PARTITIONS = "numbers", "totals", "count", 4
STORE = f"{TOPIC}.{GROUP}"
PAYMENTS, FEATURES = "payments", "features"  # the fraud features' topics (group "features")
FEATURES_STORE = f"{PAYMENTS}.{FEATURES}"
BACKEND, EVERY, KILL_AFTER = "EDALAB_STATE_BACKEND", "EDALAB_STATE_EVERY", "EDALAB_STATE_KILL"
LEASE_TTL = 2.0  # seconds a dead worker's partitions wait for a new owner


def numbers(n: int, keys: int = 97, seed: int = 0) -> list[Event]:
    """`n` seeded numbers on `keys` keys (ids ``n<i>``)."""
    rng = random.Random(seed)
    return [Event("number", "/edalab/bench/state", rng.randint(1, 100),
                  key=f"k{rng.randrange(keys)}", id=f"n{i}") for i in range(n)]


def payments(customers: int = 40, seed: int = 0) -> list[Event]:
    """A seeded card stream as the fraud pipeline reads it: transactions and their labels
    (7 days later) on one topic, in event-time order, labels first at the same instant."""
    from edalab.streams import label_events, transaction_events, transactions

    df = transactions(customers=customers, terminals=2 * customers, days=30, seed=seed)
    tx = list(transaction_events(df[["TX_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID",
                                     "TX_AMOUNT", "TX_TIME_DAYS"]]))
    labels = list(label_events(df, delay="7D"))
    return sorted(labels + tx, key=lambda e: (e.time, e.type != "fraud.label"))


def zero() -> dict[str, int]:
    return {"n": 0, "sum": 0}


def count(event: Event, state: Any) -> Event:
    """The stateful handler: the key's running count and sum, emitted as a ``total``."""
    total = state.get()
    total["n"] += 1
    total["sum"] += event.data
    return Event("total", "/edalab/bench/state", dict(total), key=event.key, time=event.time)


def stateful_app(broker: Any, backend: Any, every: int, handler: Any = count,
                 durable: bool = True, features: bool = False) -> App:
    """`handler` on `TOPIC` with its state in `backend`, checkpointed every `every` events
    (`durable` False: kept in the process only, never checkpointed); with `features`, also
    the fraud features on `PAYMENTS`, their windows in the same backend."""
    app = App(broker, partitions=PARTITIONS)
    app.handler(TOPIC, group=GROUP, output=OUT,
                state=State(backend, every=every, default=zero, durable=durable))(handler)
    if features:
        from edalab.fraud.features import FraudFeatures

        app.handler(PAYMENTS, group=FEATURES, output=FEATURES,
                    state=State(backend, every=every))(FraudFeatures("7D"))
    return app


def backend_of(spec: str, broker: Any) -> Any:
    """The backend a worker's `BACKEND` names: ``nats`` or ``sqlite:<path>``."""
    if spec == "nats":
        from edalab.state import NatsState
        return NatsState(broker)
    if spec.startswith("sqlite:"):
        from edalab.state import SQLiteState
        return SQLiteState(spec[len("sqlite:"):])
    raise ValueError(f"{BACKEND} must be 'nats' or 'sqlite:<path>', got {spec!r}")


def worker_app(broker: Any) -> App:
    """What ``edalab worker`` serves: `count`, killing its own process with SIGKILL after
    `KILL_AFTER` events (0: never)."""
    kill_after = int(os.environ.get(KILL_AFTER, "0"))
    handled = [0]

    def counting(event: Event, state: Any) -> Event:
        out = count(event, state)
        handled[0] += 1
        if handled[0] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return out
    counting.__name__ = "count"
    return stateful_app(broker, backend_of(os.environ[BACKEND], broker),
                        int(os.environ[EVERY]), counting, features=True)


def _spawn(url: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    root = Path(__file__).resolve().parents[2]
    with log.open("a") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "edalab.cli", "worker", f"{__name__}:worker_app",
             "--broker", url, "--ack-wait", "5", "--lease-ttl", str(LEASE_TTL),
             "--batch", "100"],
            stdout=subprocess.DEVNULL, stderr=err,
            env={**os.environ, **env, "PYTHONPATH": os.pathsep.join(
                [str(root), os.environ.get("PYTHONPATH", "")])})


def reference(events: list[Event], cards: list[Event], every: int) -> tuple[dict, dict]:
    """One process on the memory broker: the final state and the outputs by id."""
    broker = MemoryBroker()
    backend = MemoryState()
    app = stateful_app(broker, backend, every, features=True)
    app.source(TOPIC, events)
    app.source(PAYMENTS, cards)
    app.run(batch_size=100)
    return read_state(backend), outputs_of(broker)[0]


def outputs_of(broker: Any) -> tuple[dict[str, Any], int, int]:
    """The outputs of both handlers by id, how many ids came with differing data, and how
    many outputs were delivered in all."""
    out: dict[str, Any] = {}
    conflicts = delivered = 0
    for topic in (OUT, FEATURES):
        for record in broker.read(topic):
            delivered += 1
            if out.setdefault(record.event.id, record.event.data) != record.event.data:
                conflicts += 1
    return out, conflicts, delivered


def read_state(backend: Any) -> dict[Any, Any]:
    """Every key's value in the backend's `STORE`, over the partitions, and each customer's
    and terminal's windows of the fraud features (per partition: their operator state)."""
    state: dict[Any, Any] = {k: loads(v) for p in range(PARTITIONS)
                             for k, v in backend.load(STORE, p).values.items() if k != PENDING}
    for p in range(PARTITIONS):
        snap = backend.load(FEATURES_STORE, p).values.get(OPERATOR)
        if snap is None:
            continue
        features = loads(snap)
        for customer, windows in features["customers"].items():
            state["customer", customer] = [(list(w.items), w.total) for w in windows]
        for terminal, labels in features["terminals"].items():
            state["terminal", p, terminal] = (labels.times, labels.frauds)
        state["pending", p] = features["pending"]
    return state


def run_failover(backend: str = "nats", *, events: int = 6000, kills: int = 3,
                 every: int = 200, seed: int = 0, timeout: float = 300.0) -> dict[str, Any]:
    """The study on `backend` (``"nats"`` or ``"sqlite"``): kills, events, keys whose final
    state differs from one process's, outputs that differ after deduplication by id."""
    from edalab.brokers.nats import NatsBroker, NatsServer

    data = numbers(events, seed=seed)
    cards = payments(seed=seed)
    rng = random.Random(seed)
    workers = 2 if backend == "nats" else 1
    share = events // workers
    points = [rng.randint(share // 10, share // 2) for _ in range(kills)]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edalab-state-") as tmp, NatsServer() as server:
        broker = NatsBroker(server.url, lease_ttl=LEASE_TTL, ack_wait=5.0)
        spec = "nats" if backend == "nats" else f"sqlite:{Path(tmp) / 'state.sqlite'}"
        log = Path(tmp) / "workers.log"
        try:
            for topic in (TOPIC, OUT, PAYMENTS, FEATURES):
                broker.create_topic(topic, PARTITIONS)
            broker.publish_many(TOPIC, data)
            broker.publish_many(PAYMENTS, cards)
            env = {BACKEND: spec, EVERY: str(every)}
            running = [_spawn(url=server.url, env={**env, KILL_AFTER: str(points.pop(0))
                                                     if points else "0"}, log=log)
                       for _ in range(workers)]
            killed = 0
            deadline = time.perf_counter() + timeout
            while True:
                time.sleep(0.2)
                for i, w in enumerate(running):
                    if w.poll() is not None:
                        if w.returncode != -signal.SIGKILL:
                            raise RuntimeError(f"a worker exited with {w.returncode}: "
                                               f"{log.read_text()[-600:]}")
                        killed += 1
                        running[i] = _spawn(server.url, {**env, KILL_AFTER: str(
                            points.pop(0) if points else 0)}, log)
                if not points and killed >= kills and not sum(
                        broker.lag(TOPIC, GROUP).values()) and not sum(
                        broker.lag(PAYMENTS, FEATURES).values()):
                    break
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"the failover study did not drain in {timeout:g} s "
                                       f"({killed} kills); workers said: "
                                       f"{log.read_text()[-600:]}")
            for w in running:
                w.send_signal(signal.SIGTERM)  # a clean stop: the last checkpoints
            for w in running:
                w.wait(timeout=60)
            state = read_state(backend_of(spec, broker))
            outputs, conflicts, delivered = outputs_of(broker)
        finally:
            broker.close()
    want_state, want_outputs = reference(data, cards, every)
    keys = set(state) | set(want_state)
    return {"backend": backend, "kills": killed, "events": events + len(cards),
            "mismatched_keys": sum(state.get(k) != want_state.get(k) for k in keys),
            "duplicates_after_dedup": conflicts + len(set(outputs) - set(want_outputs)),
            "missing_outputs": len(set(want_outputs) - set(outputs)),
            "mismatched_outputs": sum(outputs.get(i) != d for i, d in want_outputs.items()),
            "outputs_delivered": delivered,
            "wall_s": round(time.perf_counter() - started, 1)}
