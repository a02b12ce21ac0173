"""A chaos run on a `NatsCluster`: servers killed while a pipeline produces and consumes.

`chaos_run` starts a producer that publishes `n` keyed events (ids ``<run>-<i>``, each with
its key's running number) and two members of one consumer group, each on its own connection,
that put what they poll into an idempotent sink (a dict keyed by event id) and ack it.
Meanwhile it SIGKILLs servers at seeded random points of the stream (the first kill hits the
stream's leader), restarts each after `down` seconds and waits until it is current before
the next kill. At the end it checks what the issue asks (`ChaosReport`): every acked event
stored exactly once, the replicas agreeing, the sink holding exactly the `n` events, per-key
order, and the pause each kill caused.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field

from edalab.brokers.nats.broker import NatsBroker
from edalab.brokers.nats.cluster import NatsCluster
from edalab.events import Event

__all__ = ["ChaosReport", "chaos_run"]

_clock = time.monotonic


@dataclass
class ChaosReport:
    """What a chaos run found.

    ``acked``: events whose publish was acked; ``stored_once``: every acked event is in the
    stream exactly once (and nothing else is); ``sink_events``: distinct events in the sink;
    ``replicas_agree``: every server's replica has the same messages, first and last
    sequence; ``order_violations``: events that reached the sink after a later event of
    their key; ``publish_pause_s`` / ``consume_pause_s``: the longest gap, over the kills,
    between the last publish ack (sink arrival) before a kill and the first after it;
    ``errors``: what the producer or a consumer raised (a failover longer than its bound).
    """

    kills: int
    acked: int
    stored_once: bool
    sink_events: int
    replicas_agree: bool
    order_violations: int
    publish_pause_s: float
    consume_pause_s: float
    redelivered: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def ok(self) -> bool:
        return (not self.errors and self.stored_once and self.replicas_agree
                and self.order_violations == 0 and self.sink_events == self.acked)


class _Sink:
    """An idempotent sink: the first copy of each event id counts, a redelivery is skipped;
    per key, first arrivals must come in the key's order."""

    def __init__(self) -> None:
        self.events: dict[str, float] = {}
        self.redelivered = 0
        self.order_violations = 0
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def put(self, event: Event) -> None:
        with self._lock:
            if event.id in self.events:
                self.redelivered += 1
                return
            self.events[event.id] = _clock()
            i, key = event.data["i"], str(event.key)
            if i < self._last.get(key, -1):
                self.order_violations += 1
            self._last[key] = max(i, self._last.get(key, -1))


def _gap(times: list[float], at: float) -> float:
    """The gap in sorted `times` spanning the instant `at` (0 when nothing follows it)."""
    before = [t for t in times if t <= at]
    after = [t for t in times if t > at]
    if not after:
        return 0.0
    return after[0] - (before[-1] if before else at)


def chaos_run(cluster: NatsCluster, n: int = 400, *, kills: int = 1, seed: int = 0,
              partitions: int = 4, keys: int = 8, interval: float = 0.004, down: float = 0.5,
              settle: float = 1.0, lease_ttl: float = 2.0, ack_wait: float = 2.0,
              failover_timeout: float = 20.0, timeout: float = 60.0) -> ChaosReport:
    """Publish `n` events and consume them in a group of two on `cluster` (replicas=3 when
    it has three servers or more) while `kills` servers are SIGKILLed and restarted.

    A killed server is restarted after `down` seconds; the next kill comes no sooner than
    `settle` seconds after every server is current again (two failures in a row need both
    elections: a stream's raft group elects within 4 to 9 s). `failover_timeout` bounds each
    client's wait for a new leader."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    topic = f"chaos-{run}"
    replicas = min(3, cluster.size)
    options = {"replicas": replicas, "lease_ttl": lease_ttl, "ack_wait": ack_wait,
               "failover_timeout": failover_timeout}
    producer = NatsBroker(cluster.urls, **options)  # type: ignore[arg-type]
    producer.create_topic(topic, partitions)
    sink, errors = _Sink(), []
    stop = threading.Event()
    brokers = [NatsBroker(cluster.urls, **options) for _ in range(2)]  # type: ignore[arg-type]
    members = [b.subscribe(topic, group="sink") for b in brokers]

    def consume(member) -> None:
        try:
            while not stop.is_set():
                batch = member.poll(max_events=100, timeout=0.2)
                for record in batch.records():
                    sink.put(record.event)
                member.ack(batch)
        except Exception as exc:  # reported, and the run fails
            errors.append(f"consumer: {type(exc).__name__}: {exc}")

    acks: list[float] = []
    acked: list[str] = []

    def produce() -> None:
        counts: Counter[str] = Counter()
        try:
            for i in range(n):
                key = f"k{i % keys}"
                event = Event("chaos.tick", "/chaos", {"i": counts[key]}, key=key,
                              id=f"{run}-{i}")
                counts[key] += 1
                producer.publish(topic, event)
                acked.append(event.id)
                acks.append(_clock())
                time.sleep(interval)
        except Exception as exc:
            errors.append(f"producer: {exc}")

    threads = [threading.Thread(target=consume, args=(m,), daemon=True) for m in members]
    threads.append(threading.Thread(target=produce, daemon=True))
    for t in threads:
        t.start()
    marks = sorted(rng.sample(range(n // 10, n * 9 // 10), kills)) if kills else []
    killed_at: list[float] = []
    try:
        for k, mark in enumerate(marks):
            while len(acked) < mark and threads[-1].is_alive():
                time.sleep(0.005)
            leader = cluster.leader(topic)
            victim = leader if k == 0 and leader is not None else rng.randrange(cluster.size)
            killed_at.append(_clock())
            cluster.kill(victim)
            time.sleep(down)
            cluster.restart(victim)
            cluster.wait_current(topic, timeout=timeout)
            time.sleep(settle)
        threads[-1].join(timeout)
        deadline = _clock() + timeout
        while len(sink.events) < len(acked) and _clock() < deadline and not errors:
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads[:-1]:
            t.join(timeout)
        for b in brokers:
            b.close()
    agree = True
    try:
        cluster.wait_agree(topic, timeout=timeout)
    except Exception as exc:
        agree = False
        errors.append(f"replicas: {exc}")
    stored = Counter(r.event.id for r in producer.read(topic))
    producer.close()
    arrivals = sorted(sink.events.values())
    return ChaosReport(
        kills=len(killed_at), acked=len(acked),
        stored_once=set(stored) == set(acked) and all(c == 1 for c in stored.values()),
        sink_events=len(sink.events), replicas_agree=agree,
        order_violations=sink.order_violations,
        publish_pause_s=round(max((_gap(acks, t) for t in killed_at), default=0.0), 3),
        consume_pause_s=round(max((_gap(arrivals, t) for t in killed_at), default=0.0), 3),
        redelivered=sink.redelivered, errors=errors)
