"""One scenario of `edalab bench resilience`: a small card-scoring pipeline whose model
dependency fails in a given way, handled by a given strategy, measured from the run itself.

The pipeline: ``payments`` (one event per card payment, keyed by card) -> handler ``score``,
which calls the model dependency (wrapped by `Faults`, which counts every call) and then
applies the payment to a sink. The sink counts applications per event id, so duplicates are
seen, not assumed; with the idempotent strategy it applies through an idempotency store
(``apply_once``: the effect and the mark together, the inbox pattern), shared by every
worker as a durable store would be.

Time is the app's virtual clock: payments arrive at `Setup.rate` per second of event time and
each dependency call costs `Setup.service_ms` of that clock, so a 60-second outage takes
no wall minute and every run gives the same numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from edalab.brokers.base import Broker, dead_letter_topic
from edalab.brokers.memory import MemoryBroker
from edalab.brokers.partitioning import partition_for
from edalab.events import Event
from edalab.resilience import (
    Backoff,
    CircuitBreaker,
    Faults,
    MemoryIdempotencyStore,
    Retry,
)
from edalab.runtime.app import App

__all__ = ["FAULTS", "STRATEGIES", "Run", "Setup", "run_scenario"]

FAULTS = ("transient", "outage", "poison", "crash")
STRATEGIES = ("dlq-only", "retry-blocking", "retry-topics", "retry-topics+breaker",
              "retry-topics+breaker+idempotent")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
HEARTBEATS = 4  # clock ticks per payment interval (see _heartbeats)


class WorkerKilled(BaseException):
    """The worker dies here (a BaseException: no handler guard catches it, as none catches
    SIGKILL); what it polled and did not ack goes to the group's next member."""


@dataclass(frozen=True)
class Setup:
    """The experiment's knobs (seconds are the app's virtual seconds)."""

    events: int = 2000
    rate: float = 20.0            # payments per second of event time
    cards: int = 200
    partitions: int = 4
    batch: int = 20               # events polled per step
    service_ms: float = 10.0      # virtual cost of one dependency call
    error_rate: float = 0.10      # "transient"
    outage: tuple[float, float] = (20.0, 80.0)  # "outage": seconds after the first payment
    poison: int = 5               # "poison": this many poisoned payments, evenly spaced
    crash_at: float = 0.5         # "crash": the worker dies after this share of the events
    max_attempts: int = 5
    seed: int = 7

    def __post_init__(self) -> None:
        if not isinstance(self.events, int) or self.events < 10:
            raise ValueError(f"events must be an int >= 10, got {self.events!r}")
        if not 0 <= self.error_rate <= 1:
            raise ValueError(f"error_rate must be in [0, 1], got {self.error_rate!r}")
        start, end = self.outage
        if not 0 <= start < end:
            raise ValueError(f"outage must be (start, end) seconds with 0 <= start < end, "
                             f"got {self.outage!r}")
        if self.poison < 0:
            raise ValueError(f"poison must be >= 0, got {self.poison!r}")

    def retry(self, mode: str) -> Retry:
        return Retry(max_attempts=self.max_attempts, mode=mode,  # type: ignore[arg-type]
                     backoff=Backoff.exponential(initial=0.5, factor=2.0, max=8.0,
                                                 jitter="none"))

    def retry_span(self) -> float:
        """Seconds an always-failing event waits in all before it is dead-lettered."""
        backoff = self.retry("topics").backoff
        return sum(backoff.delay(n) for n in range(1, self.max_attempts))

    def payments(self) -> list[Event]:
        rng = np.random.default_rng(self.seed)
        amounts = np.round(rng.lognormal(3.5, 1.0, self.events), 2)
        return [Event("payment", "/bench/resilience", {"card": f"c{i % self.cards}",
                                                       "amount": float(amounts[i])},
                      key=f"c{i % self.cards}", id=f"tx{i}",
                      time=T0 + timedelta(seconds=i / self.rate))
                for i in range(self.events)]

    def poisoned(self) -> set[str]:
        step = self.events / (self.poison + 1)
        return {f"tx{round(step * (k + 1))}" for k in range(self.poison)}


@dataclass
class Run:
    """What one scenario measured; `row()` is its line of the report."""

    fault: str
    strategy: str
    broker: str
    setup: Setup
    events: list[Event]
    applied: Counter = field(default_factory=Counter)        # event id -> applications
    first_applied: dict[str, float] = field(default_factory=dict)  # id -> seconds
    duplicate_times: list[float] = field(default_factory=list)
    calls: dict[str, list[float]] = field(default_factory=dict)  # id -> call times
    dead: set[str] = field(default_factory=set)
    breaker: list[tuple[float, str]] = field(default_factory=list)  # (seconds, new state)
    dependency_calls: int = 0
    outage_calls: int = 0                     # calls failed by the outage
    fault_end: float = 0.0
    wall_s: float = 0.0

    def settled_at(self, event_id: str) -> float | None:
        """When the event was applied (first) or dead-lettered (its last failed call)."""
        if event_id in self.first_applied:
            return self.first_applied[event_id]
        if event_id in self.dead and self.calls.get(event_id):
            return self.calls[event_id][-1]
        return None

    def row(self) -> dict[str, Any]:
        n = len(self.events)
        applied = set(self.first_applied)
        lost = n - len(applied | self.dead)
        latency = [(self.first_applied[e.id] - _seconds(e.time)) * 1000 for e in self.events
                   if e.id in applied]
        p50, p99 = (np.percentile(latency, [50, 99]) if latency else (np.nan, np.nan))
        span = max(self.first_applied.values(), default=0.0)
        return {"fault": self.fault, "strategy": self.strategy, "broker": self.broker,
                "events": n, "lost": lost, "dead_lettered": len(self.dead),
                "duplicates_applied": sum(c - 1 for c in self.applied.values()),
                "dependency_calls": self.dependency_calls,
                "p50_ms": round(float(p50), 1), "p99_ms": round(float(p99), 1),
                "throughput_per_s": round(len(applied) / span, 2) if span > 0 else 0.0,
                "recovery_s": self.recovery()}

    def recovery(self) -> float | None:
        """Seconds from the fault's end until every event that had arrived by then was
        applied or dead-lettered (None: some never were)."""
        last = self.fault_end
        for e in self.events:
            if _seconds(e.time) <= self.fault_end:
                settled = self.settled_at(e.id)
                if settled is None:
                    return None
                last = max(last, settled)
        return round(last - self.fault_end, 3)


def _seconds(at: datetime) -> float:
    return (at - T0).total_seconds()


class _Pipeline:
    """The workers of one scenario: each an App with the scoring handler, on one broker."""

    def __init__(self, run: Run, broker: Broker, topic: str) -> None:
        self.run, self.broker, self.topic = run, broker, topic
        setup = run.setup
        self.app: App | None = None
        poisoned = run.setup.poisoned() if run.fault == "poison" else set()
        self.faults = Faults(
            error_rate=setup.error_rate if run.fault == "transient" else 0.0,
            outage=[setup.outage] if run.fault == "outage" else [],
            latency=setup.service_ms / 1000, sleep=self._spend, seed=setup.seed,
            poison=lambda event: event.id in poisoned, poison_error=ValueError,
            clock=self.now)
        self.model = self.faults.wrap(lambda event: event.data["amount"] / 100.0)
        self.store = MemoryIdempotencyStore() if run.strategy.endswith("idempotent") else None
        self.crash_after = round(setup.crash_at * setup.events) if run.fault == "crash" \
            else None
        self.breaker_name = f"model-{topic}"

    def now(self) -> float:
        return _seconds(self.app.now()) if self.app is not None else 0.0

    def _spend(self, seconds: float) -> None:
        """A dependency call takes `seconds` of the app's virtual clock."""
        clock = self.app.clock  # type: ignore[union-attr]
        clock.advance(clock.now() + timedelta(seconds=seconds))

    def worker(self) -> App:
        """A new worker: an App whose ``score`` handler runs the strategy."""
        run, setup = self.run, self.run.setup
        app = App(self.broker, partitions=setup.partitions)
        options: dict[str, Any] = {"retry": setup.retry("blocking" if run.strategy ==
                                                        "retry-blocking" else "topics")}
        if run.strategy == "dlq-only":
            options["retry"] = Retry(max_attempts=1)
        if "breaker" in run.strategy:
            options["breaker"] = CircuitBreaker(failure_rate=0.5, window=20, open_for=10.0,
                                                half_open_calls=1, name=self.breaker_name)
        if self.store is not None:
            options["idempotent"] = self.store

        @app.handler(self.topic, group="scoring", **options)
        def score(event: Event) -> None:
            self.run.calls.setdefault(event.id, []).append(self.now())
            self.model(event)
            self._apply(event)

        self.app = app
        return app

    def _apply(self, event: Event) -> None:
        run = self.run

        def effect() -> None:
            at = self.now()
            run.applied[event.id] += 1
            if run.applied[event.id] == 1:
                run.first_applied[event.id] = at
            else:
                run.duplicate_times.append(at)

        if self.store is not None:
            self.store.apply_once(event.id, effect)
        else:
            effect()
        if self.crash_after is not None and len(run.first_applied) == self.crash_after:
            self.crash_after = None
            run.fault_end = self.now()
            raise WorkerKilled(f"worker killed after {len(run.first_applied)} payments")

    def run_all(self, events: list[Event]) -> None:
        """Run workers until the stream is drained; a killed one is replaced by a new one,
        which takes over the group's partitions and the rest of the stream (from what the
        broker holds: the sources are published in order)."""
        clock = self.topic + "-clock"
        while True:
            app = self.worker()
            app.topic(self.topic), app.topic(clock, 1)
            sent = [sum(self.broker.end_offsets(t)) for t in (self.topic, clock)]
            app.source(self.topic, events[sent[0]:])
            app.source(clock, _heartbeats(self.run.setup, sent[1]))
            try:
                app.run(batch_size=self.run.setup.batch, timeout=600)
                return
            except WorkerKilled:
                continue  # the App left its group on the way out; a new worker joins


def _heartbeats(setup: Setup, start: int) -> Iterator[Event]:
    """`HEARTBEATS` clock ticks per payment interval on a topic no handler reads. App.run
    publishes as many source events per step as it polls, so with payments alone a backlog
    could drain only as fast as payments arrive; with the ticks a step carries a fifth as
    many payments, and the dependency's service time is what bounds the drain."""
    gap = 1.0 / (setup.rate * HEARTBEATS)
    for i in range(start, setup.events * HEARTBEATS):
        yield Event("tick", "/bench/resilience", None, id=f"h{i}",
                    time=T0 + timedelta(seconds=i * gap))


def run_scenario(fault: str, strategy: str, setup: Setup | None = None, *,
                 broker: Broker | None = None, topic: str = "payments") -> Run:
    """Run `fault` x `strategy` on `broker` (a new `MemoryBroker` by default).

    >>> run = run_scenario("crash", "retry-topics", Setup(events=200))
    >>> {k: run.row()[k] for k in ("events", "lost", "dead_lettered", "duplicates_applied")}
    {'events': 200, 'lost': 0, 'dead_lettered': 0, 'duplicates_applied': 4}
    """
    import time

    if fault not in FAULTS + ("none",):
        raise ValueError(f"fault must be one of {', '.join(FAULTS)} (or 'none'), got {fault!r}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    setup = setup or Setup()
    name = "memory" if broker is None or isinstance(broker, MemoryBroker) else "nats"
    broker = broker if broker is not None else MemoryBroker()
    events = setup.payments()
    run = Run(fault, strategy, name, setup, events)
    pipeline = _Pipeline(run, broker, topic)
    started = time.perf_counter()
    pipeline.run_all(events)
    run.wall_s = time.perf_counter() - started
    run.dependency_calls = pipeline.faults.calls
    run.outage_calls = pipeline.faults.by_kind["outage"]
    dlq = dead_letter_topic(topic)
    if dlq in broker.topics():
        run.dead = {r.event.id for r in broker.read(dlq)}
    if "breaker" in broker.topics():
        run.breaker = [(e.data["at"] - T0.timestamp(), e.data["to"]) for e in
                       (r.event for r in broker.read("breaker"))
                       if e.data.get("name") == pipeline.breaker_name]
    run.fault_end = _fault_end(run, setup)
    return run


def _fault_end(run: Run, setup: Setup) -> float:
    if run.fault == "outage":
        return setup.outage[1]
    if run.fault == "poison" and setup.poison:
        return max(_seconds(e.time) for e in run.events if e.id in setup.poisoned())
    if run.fault == "crash":
        return run.fault_end
    return _seconds(run.events[-1].time)


def partition_of(setup: Setup) -> Callable[[Event], int]:
    """The partition a payment lands in."""
    return lambda event: partition_for(event.key, setup.partitions)  # type: ignore[arg-type]
