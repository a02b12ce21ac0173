"""`edalab bench nats`: `NatsBroker` against bare nats-py on the same JetStream server, in one run.

(a) publish: `NatsBroker.publish_many` of N pre-built keyed events to a 4-partition topic,
against raw nats-py `js.publish_async` (awaiting every ack) of the same payloads
(``event.to_json().encode()``, encoded in advance) to the same subjects of the same kind of
stream; (b) consume: an edalab consumer group polling and acking those N events, against a raw
batched pull consumer per partition (``fetch(500)`` and ``msg.ack()`` each) reading the same
stream; (c) end-to-end latency: one event at a time at a steady rate, publish (send time in
the event) to poll at a consumer on its own connection; (d) workers: the relay App (`relay`
below) served by 1 and by 2 ``edalab worker`` processes, events per second from the first to the
last output's append time, and the CPU that took: seconds of each worker, of nats-server (when
the benchmark started it) and of this process (it publishes the events), per relayed event,
and the cores busy meanwhile, ours and the whole machine's.

Read (d) with its CPU line. When the CPU per event is about the same for 1 and 2 workers and
the machine's cores are all busy, the run was bound by CPU: a second worker can only take CPU
from the first, from nats-server and from the publisher (the brokers page of the docs: "Why two
workers are not faster here").

Without ``--url`` the benchmark starts its own `NatsServer` (loopback, temporary store).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edalab.bench._harness import Contender, Target, timed_rate
from edalab.bench._raw_nats import BATCH, PARTITIONS, RawClient
from edalab.bench._worker_cpu import cpu_line, cpu_report, cpu_seconds, machine_busy
from edalab.brokers.nats.broker import NatsBroker
from edalab.brokers.nats.codec import stream_name
from edalab.brokers.nats.membership import LEASES
from edalab.brokers.partitioning import key_hash
from edalab.events import Event
from edalab.runtime.app import App

__all__ = ["main", "relay", "run"]

RELAY_IN, RELAY_OUT, RELAY_GROUP = "EDALAB_RELAY_IN", "EDALAB_RELAY_OUT", "relay"


def relay(broker: Any) -> App:
    """The App the worker processes serve: forward every event from topic ``$EDALAB_RELAY_IN``
    (default ``ticks``) to ``$EDALAB_RELAY_OUT`` (default ``done``), keeping its id."""
    app = App(broker)

    @app.handler(os.environ.get(RELAY_IN, "ticks"), group=RELAY_GROUP,
                 output=os.environ.get(RELAY_OUT, "done"))
    def forward(event: Event) -> Event:
        return event.replace(type="tick.done", id=event.id)

    return app


def make_events(n: int, keys: int = 1000, prefix: str = "") -> list[Event]:
    """N keyed events with small dict payloads (about 200 bytes of JSON each)."""
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    return [Event("bench.tick", "/bench", {"n": i, "v": i * 0.5}, key=f"k{i % keys}",
                  time=t0 + timedelta(microseconds=i), id=f"{prefix}{i}") for i in range(n)]


def edalab_consume(consumer: Any, n: int) -> Callable[[], int]:
    """A function that polls and acks `n` events with `consumer` (joined beforehand, and
    closed afterwards, both untimed: closing waits for pending pull requests)."""
    def go() -> int:
        got = 0
        while got < n:
            batch = consumer.poll(BATCH, timeout=1.0)
            got += len(batch)
            consumer.ack(batch)
        return got
    return go


def throughput(broker: NatsBroker, raw: RawClient, events: list[Event], repeats: int,
               run_id: str) -> list[Contender]:
    """Publish and consume contenders, interleaved, `repeats` times (fresh topics each time)."""
    n = len(events)
    partitions = [key_hash(e.key) % PARTITIONS for e in events]  # type: ignore[arg-type]  # keyed
    payloads = [e.to_json().encode() for e in events]
    expected = [partitions.count(p) for p in range(PARTITIONS)]
    pub_raw = Contender("a1", "raw nats-py publish_async, await all acks", lambda: 0, n)
    pub = Contender("a2", "NatsBroker.publish_many", lambda: 0, n)
    con_raw = Contender("b1", f"raw pull fetch({BATCH}) + ack each, per partition",
                        lambda: 0, n)
    con = Contender("b2", f"NatsConsumer poll({BATCH}) + ack", lambda: 0, n)
    for r in range(repeats):
        mine, theirs = f"bench-{run_id}-e{r}", f"bench-{run_id}-r{r}"
        broker.create_topic(mine, PARTITIONS)
        broker.create_topic(theirs, PARTITIONS)
        subjects = [f"{theirs}.{p}" for p in partitions]
        order = [0, 1] if r % 2 == 0 else [1, 0]
        for which in order:  # alternate who goes first
            if which == 0:
                pub.rates.append(timed_rate(lambda t=mine: broker.publish_many(t, events), n))  # type: ignore[misc]
            else:
                pub_raw.rates.append(timed_rate(lambda s=subjects: raw.publish(s, payloads), n))  # type: ignore[misc]
        for which in order:  # both read the stream edalab wrote, in their own groups
            if which == 0:
                consumer = broker.subscribe(mine, "bench")
                con.rates.append(timed_rate(edalab_consume(consumer, n), n))
                consumer.close()
            else:
                subs = raw.pull_subscriptions(mine, "raw")
                con_raw.rates.append(timed_rate(lambda s=subs: raw.consume(s, expected), n))  # type: ignore[misc]
        broker.delete_topic(mine)
        broker.delete_topic(theirs)
    return [pub_raw, pub, con_raw, con]


def latency(url: str, broker: NatsBroker, n: int, rate: float, run_id: str,
            warmup: int = 100) -> list[float]:
    """Publish one event at a time at `rate` per second (each waits for its publish ack);
    a consumer on its own connection polls them. Milliseconds from just before publish to
    the return of the poll that delivered the event, after `warmup` events."""
    topic = f"bench-{run_id}-lat"
    broker.create_topic(topic, PARTITIONS)
    reader = NatsBroker(url)
    consumer = reader.subscribe(topic, "latency")
    total = n + warmup
    samples: list[float] = []
    done = threading.Event()

    def consume() -> None:
        deadline = time.perf_counter() + 60 + total / rate
        while len(samples) < total and time.perf_counter() < deadline:
            batch = consumer.poll(BATCH, timeout=0.5)
            now = time.perf_counter()
            samples.extend(now - e.data["t"] for e in batch.events)
            consumer.ack(batch)
        done.set()

    thread = threading.Thread(target=consume, name="bench-latency", daemon=True)
    thread.start()
    try:
        interval = 1.0 / rate
        next_at = time.perf_counter()
        for i in range(total):
            broker.publish(topic, Event("bench.ping", "/bench", {"t": time.perf_counter()},
                                        key=f"k{i % 64}"))
            next_at += interval
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        done.wait(60)
    finally:
        thread.join(5)
        reader.close()
        broker.delete_topic(topic)
    if len(samples) < total:
        raise AssertionError(f"latency: {len(samples)} of {total} events arrived")
    return [s * 1000 for s in samples[warmup:]]


def _owners(raw: RawClient, topic: str) -> list[str]:
    """Current lease holders of the relay group's partitions ("" where none)."""
    async def go() -> list[str]:
        try:
            kv = await raw.js.key_value(LEASES)
        except Exception:
            return [""] * PARTITIONS
        out = []
        for p in range(PARTITIONS):
            try:
                entry = await kv.get(f"{stream_name(topic)}.{RELAY_GROUP}.p.{p}")
                out.append((entry.value or b"").decode())
            except Exception:
                out.append("")
        return out
    return raw.run(go(), timeout=30)


def _wait(condition: Callable[[], bool], timeout: float, what: str,
          procs: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a worker exited with {proc.returncode} while waiting for "
                                   f"{what}: {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def workers(url: str, broker: NatsBroker, raw: RawClient, count: int, events: list[Event],
            run_id: str, server_pid: int | None = None) -> tuple[float, dict[str, Any]]:
    """Events per second through the relay App served by `count` worker processes, from the
    first to the last output's append time, and what that cost (`cpu_report`, nats-server's
    CPU included when `server_pid` is given). The events are published once every worker
    owns its share of the partitions."""
    source, sink = f"bench-{run_id}-w{count}-in", f"bench-{run_id}-w{count}-out"
    broker.create_topic(source, PARTITIONS)
    broker.create_topic(sink, PARTITIONS)
    env = {**os.environ, RELAY_IN: source, RELAY_OUT: sink}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, "-m", "edalab.cli", "worker", f"{__name__}:relay", "--broker", url,
           "--idle", "120", "--batch", str(BATCH)]  # default lease TTL, as every member
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for _ in range(count)]
    pids = [p.pid for p in procs] + [server_pid, os.getpid()]
    n = len(events)
    try:
        _wait(lambda: "" not in (o := _owners(raw, source)) and len(set(o)) == count, 90,
              f"{count} worker(s) to split the partitions", procs)
        before, busy, start = cpu_seconds(pids), machine_busy(), time.perf_counter()
        broker.publish_many(source, events)
        missing = "bench-nobody"  # lag of a group that never read it: the topic's size
        _wait(lambda: sum(broker.lag(sink, missing).values()) >= n, 120,
              "the workers to relay every event", procs)
        cpu = cpu_report(before, cpu_seconds(pids), count, machine_busy() - busy,
                         time.perf_counter() - start, n)
        stamps = sorted(r.timestamp for r in broker.read(sink))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        broker.delete_topic(source)
        broker.delete_topic(sink)
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]), cpu


def run(url: str, n: int, repeats: int = 3, latency_events: int = 2000,
        latency_rate: float = 1000.0, worker_events: int | None = None,
        worker_counts: tuple[int, ...] = (1, 2), server_pid: int | None = None
        ) -> dict[str, Any]:
    """All measurements against the server at `url` (process `server_pid`, when it runs on
    this machine: the worker runs count its CPU); the results as a JSON-ready dict."""
    run_id = uuid.uuid4().hex[:6]
    events = make_events(n)
    broker = NatsBroker(url)
    raw = RawClient(url)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 1)
        clock = now
    try:
        contenders = throughput(broker, raw, events, repeats, run_id)
        lap("throughput")
        lat = sorted(latency(url, broker, latency_events, latency_rate, run_id))
        lap("latency")
        w_events = make_events(worker_events or n, prefix="w")
        rates, costs = {}, {}
        for count in worker_counts:
            rates[str(count)], costs[str(count)] = workers(url, broker, raw, count, w_events,
                                                           run_id, server_pid)
            lap(f"workers_{count}")
    finally:
        raw.close()
        broker.close()
    by = {c.name: c for c in contenders}
    targets = [Target("a2", "a1", 0.8), Target("b2", "b1", 0.8)]
    checks = []
    for t in targets:
        ratio = by[t.numerator].median / by[t.denominator].median
        checks.append({"target": f"{t.numerator} >= {t.ratio}x {t.denominator}",
                       "ratio": round(ratio, 3), "ok": ratio >= t.ratio})
    return {
        "benchmark": "nats", "events": n, "partitions": PARTITIONS, "repeats": repeats,
        "python": platform.python_version(),
        "publish_per_s": round(by["a2"].median), "raw_publish_per_s": round(by["a1"].median),
        "consume_per_s": round(by["b2"].median), "raw_consume_per_s": round(by["b1"].median),
        "latency_ms": {"p50": round(_percentile(lat, 50), 3),
                       "p99": round(_percentile(lat, 99), 3),
                       "max": round(lat[-1], 3), "events": len(lat),
                       "rate_per_s": latency_rate},
        "workers": {k: round(v) for k, v in rates.items()},
        "worker_cpu": costs, "cpu_count": os.cpu_count(),
        "worker_events": len(w_events),
        "results": [{"name": c.name, "label": c.label, "events": c.n,
                     "best_events_per_s": round(c.best),
                     "median_events_per_s": round(c.median)} for c in contenders],
        "targets": checks,
        "seconds": seconds,
    }


def _percentile(ordered: list[float], q: float) -> float:
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1] \
        if len(ordered) > 1 else ordered[0]


def print_table(result: dict[str, Any]) -> None:
    rows = {r["name"]: r for r in result["results"]}
    print(f"edalab bench nats: {result['events']:,} keyed events, {result['partitions']} "
          f"partitions, median of {result['repeats']} runs (python {result['python']})")
    print(f"  {'':4}{'pipeline':<52}{'best ev/s':>12}{'median ev/s':>13}{'x raw':>8}")
    for name, ref in (("a1", "a1"), ("a2", "a1"), ("b1", "b1"), ("b2", "b1")):
        r = rows[name]
        ratio = r["median_events_per_s"] / rows[ref]["median_events_per_s"]
        print(f"  {name:<4}{r['label']:<52}{r['best_events_per_s']:>12,}"
              f"{r['median_events_per_s']:>13,}{ratio:>8.2f}")
    lat = result["latency_ms"]
    print(f"  c   end-to-end latency, publish -> poll, {lat['events']:,} events at "
          f"{lat['rate_per_s']:,.0f}/s: p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms, "
          f"max {lat['max']:.2f} ms")
    w = result["workers"]
    print(f"  d   relay App in `edalab worker` processes, {result['worker_events']:,} events: "
          + ", ".join(f"{k} worker{'s' if k != '1' else ''} {v:,} ev/s" for k, v in w.items())
          + (f" (x{w['2'] / w['1']:.2f})" if "1" in w and "2" in w else ""))
    print("      " + cpu_line(result["worker_cpu"], result["cpu_count"]))
    print("  phases (s): " + ", ".join(f"{k} {v}" for k, v in result["seconds"].items()))
    for chk in result["targets"]:
        print(f"  target {chk['target']}: {chk['ratio']:.2f}  {'ok' if chk['ok'] else 'MISSED'}")


def main(argv: list[str]) -> int:
    from edalab.bench._help import DefaultsFormatter
    parser = argparse.ArgumentParser(prog="edalab bench nats", description=__doc__.split("\n")[0],
                                     formatter_class=DefaultsFormatter)
    parser.add_argument("--url", help="NATS server (default: start a local one)")
    parser.add_argument("--events", type=int, default=20_000,
                        help="events of the publish and consume runs")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs of each contender (the table shows the median)")
    parser.add_argument("--latency-events", type=int, default=2000,
                        help="events of the latency run")
    parser.add_argument("--latency-rate", type=float, default=1000.0,
                        help="events per second in the latency run")
    parser.add_argument("--worker-events", type=int, help="events for the worker runs "
                        "(default: --events)")
    parser.add_argument("--cluster", type=int, metavar="N", help="instead: R1 against R3 "
                        "topics, the failover pause and a chaos run on N local servers")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if args.cluster:
        return _cluster(args)
    options = {"repeats": args.repeats, "latency_events": args.latency_events,
               "latency_rate": args.latency_rate, "worker_events": args.worker_events}
    if args.url:
        result = run(args.url, args.events, **options)
    else:
        from edalab.brokers.nats.server import NatsServer

        with NatsServer() as server:
            pid = server.process.pid  # type: ignore[union-attr]  # it has started
            result = run(server.url, args.events, server_pid=pid, **options)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0 if all(c["ok"] for c in result["targets"]) else 1


def _cluster(args: argparse.Namespace) -> int:
    from edalab.bench._nats_cluster import print_cluster, run_cluster

    if args.cluster < 3 or args.url:
        print("edalab bench nats: --cluster needs 3 or more servers and starts them itself "
              "(no --url)", file=sys.stderr)
        return 2
    result = run_cluster(args.cluster, args.events, args.repeats)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_cluster(result)
    return 0 if result["chaos_ok"] else 1
