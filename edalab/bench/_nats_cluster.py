"""`edalab bench nats --cluster N`: replicated topics on a `NatsCluster`, in one run.

(a) publish and consume rates on one-replica (r1) and three-replica (r3) topics of the same
cluster, interleaved (`NatsBroker.publish_many` of N keyed events to a 4-partition topic; a
consumer group polling and acking them; the median of the repeats); (b) the failover pause:
a chaos run that SIGKILLs the stream's leader mid-stream, the longest gap between publish
acks around the kill; (c) a chaos run with `kills` servers killed at seeded random times, and
what it checked (`edalab.brokers.nats.chaos.ChaosReport`).
"""

from __future__ import annotations

import statistics
import uuid
from typing import Any

from edalab.bench._harness import timed_rate
from edalab.brokers.nats.broker import NatsBroker
from edalab.brokers.nats.chaos import chaos_run
from edalab.brokers.nats.cluster import NatsCluster
from edalab.events import Event

__all__ = ["print_cluster", "run_cluster"]

LEASE_TTL = 2.0  # as the chaos runs' (every broker on a server must use the same)
PARTITIONS = 4
CHAOS_KEYS = ("kills", "acked", "stored_once", "sink_events", "replicas_agree",
              "order_violations")


def _consume(consumer: Any, n: int) -> int:
    got = 0
    while got < n:
        batch = consumer.poll(500, timeout=1.0)
        got += len(batch)
        consumer.ack(batch)
    return got


def _rates(cluster: NatsCluster, replicas: int, events: list, run_id: str) -> tuple[float, float]:
    """Publish and consume rates (events/s) of one fresh topic with `replicas` copies."""
    n = len(events)
    broker = NatsBroker(cluster.urls, replicas=replicas, lease_ttl=LEASE_TTL)
    topic = f"bench-{run_id}-r{replicas}"
    try:
        broker.create_topic(topic, PARTITIONS)
        publish = timed_rate(lambda: broker.publish_many(topic, events), n)
        consumer = broker.subscribe(topic, "bench")
        consume = timed_rate(lambda: _consume(consumer, n), n)
        consumer.close()
        broker.delete_topic(topic)
    finally:
        broker.close()
    return publish, consume


def run_cluster(size: int = 3, n: int = 20_000, repeats: int = 3, chaos_events: int = 600,
                kills: int = 5, seed: int = 0, sync_interval: str = "2m") -> dict[str, Any]:
    """Measure r1 against r3 and a failover on a fresh cluster of `size` servers."""
    events = [Event("bench.tick", "/bench", {"n": i}, key=f"k{i % 1000}", id=str(i))
              for i in range(n)]
    rates: dict[int, list[tuple[float, float]]] = {1: [], 3: []}
    with NatsCluster(size, sync_interval=sync_interval, timeout=30.0) as cluster:
        copies = min(3, size)
        for r in range(repeats):
            for replicas in ((1, copies) if r % 2 == 0 else (copies, 1)):  # alternate first
                run_id = uuid.uuid4().hex[:8]
                rates[1 if replicas == 1 else 3].append(_rates(cluster, replicas, events,
                                                               run_id))
        leader = chaos_run(cluster, n=chaos_events, kills=1, seed=seed)
        chaos = chaos_run(cluster, n=chaos_events, kills=kills, seed=seed + 1, down=0.3)
    summary = {f"r{k}": {"publish_per_s": round(statistics.median(p for p, _ in v), 1),
                         "consume_per_s": round(statistics.median(c for _, c in v), 1)}
               for k, v in rates.items()}
    chaos_dict = {k: getattr(chaos, k) for k in CHAOS_KEYS}
    return {**summary, "failover_pause_s": leader.publish_pause_s,
            "failover_consume_pause_s": leader.consume_pause_s, "chaos": chaos_dict,
            "chaos_ok": leader.ok and chaos.ok, "errors": leader.errors + chaos.errors,
            "servers": size, "events": n, "repeats": repeats, "sync_interval": sync_interval}


def print_cluster(result: dict[str, Any]) -> None:
    """The report as a short table."""
    print(f"NATS cluster of {result['servers']} (sync_interval {result['sync_interval']}), "
          f"{result['events']} events, median of {result['repeats']}")
    for name in ("r1", "r3"):
        row = result[name]
        print(f"  {name}: publish {row['publish_per_s']:>10,.0f}/s   "
              f"consume {row['consume_per_s']:>10,.0f}/s")
    print(f"  failover pause (stream leader killed): {result['failover_pause_s']:.2f} s "
          f"publish, {result['failover_consume_pause_s']:.2f} s consume")
    chaos = result["chaos"]
    print("  chaos: " + ", ".join(f"{k}={chaos[k]}" for k in CHAOS_KEYS))
    for error in result["errors"]:
        print(f"  error: {error}")
