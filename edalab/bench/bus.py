"""`edalab bench bus`: the event bus against the bare-Python floor and peers, in one run.

(a) a `collections.deque` producer/consumer loop (the floor); (b) `MemoryBroker` streaming:
publish a batch of keyed events to 4 partitions, one consumer group polls a batch and acks,
and so on (b2: the same with a backlog, everything published before the first poll); (c) the
same pipeline through `App` (a source and one handler); (d) where installed, bytewax (batched
test source), streamz and reactivex identity pipelines. Every pipeline moves the same
pre-built `Event` objects into a sink list.

Then memory: `--rss-events` events (one million by default) through an App of two handlers
(source -> handler -> topic -> handler) on `MemoryBroker(retain=1000)` and on a broker that
keeps everything, each in a fresh subprocess that builds its events lazily, reporting how much
the process's peak RSS grew (MiB).
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import resource
import subprocess
import sys
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from edalab.bench._harness import Contender, Target, report, run_contenders
from edalab.brokers.memory import MemoryBroker
from edalab.events import Event
from edalab.runtime.app import App


def tick_events(n: int, keys: int = 1000) -> list[Event]:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    return [Event("bench.tick", "/bench", i, key=f"k{i % keys}", time=t0 + timedelta(
        microseconds=i), id=str(i)) for i in range(n)]


def floor_deque(events: list[Event]) -> int:
    queue: deque[Event] = deque()
    sink: list[Event] = []
    put, get = queue.append, queue.popleft
    for e in events:
        put(e)
    while queue:
        sink.append(get())
    return len(sink)


def _drain(consumer, sink: list[Event], batch: int) -> None:
    while records := consumer.poll(batch):
        for e in records.events:
            sink.append(e)
        consumer.ack(records)


def memory_broker(events: list[Event], partitions: int, batch: int) -> int:
    """The identity pipeline on the broker itself, streaming as App does: publish a batch,
    poll a batch, hand each event to the sink, ack."""
    broker = MemoryBroker()
    broker.create_topic("ticks", partitions)
    consumer = broker.subscribe("ticks", group="sink")
    sink: list[Event] = []
    for start in range(0, len(events), batch):
        broker.publish_many("ticks", events[start:start + batch])
        records = consumer.poll(batch)
        for e in records.events:
            sink.append(e)
        consumer.ack(records)
    _drain(consumer, sink, batch)
    return len(sink)


def memory_broker_backlog(events: list[Event], partitions: int, batch: int) -> int:
    """The same with a backlog: publish everything first, then drain."""
    broker = MemoryBroker()
    broker.create_topic("ticks", partitions)
    broker.publish_many("ticks", events)
    sink: list[Event] = []
    _drain(broker.subscribe("ticks", group="sink"), sink, batch)
    return len(sink)


def app_pipeline(events: list[Event], partitions: int, batch: int) -> int:
    app = App(partitions=partitions)
    sink: list[Event] = []
    app.handler("ticks", group="sink")(sink.append)
    app.source("ticks", events)
    app.run(clock="wall", batch_size=batch)
    return len(sink)


def rss_growth(n: int, retain: int | None) -> float:
    """MiB the peak RSS of this process grows by while `n` lazily built events go through
    source -> double -> topic -> sink on a `MemoryBroker(retain=retain)`. Run it in a fresh
    process (`rss_in_subprocess`): memory an earlier run freed would hide the growth."""
    broker = MemoryBroker(retain=retain)
    app = App(broker, partitions=4)
    count = [0]

    @app.handler("ticks", output="doubled")
    def double(event: Event) -> Event:
        return event.replace(data=2 * event.data)

    @app.handler("doubled")
    def sink(event: Event) -> None:
        count[0] += 1

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    app.source("ticks", (Event("bench.tick", "/bench", i, key=f"k{i % 1000}",
                               time=t0 + timedelta(microseconds=i)) for i in range(n)))
    before = _peak_rss_kib()
    app.run(batch_size=1000)
    after = _peak_rss_kib()
    if count[0] != n:
        raise AssertionError(f"the sink saw {count[0]} events, expected {n}")
    return (after - before) / 1024


def _peak_rss_kib() -> int:
    """This process's peak RSS in KiB: Linux's VmHWM (ru_maxrss would carry the parent's
    peak over fork and exec, hiding the growth)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_in_subprocess(n: int, retain: int | None) -> float:
    """`rss_growth` in a fresh Python process (its result, in MiB)."""
    code = f"from edalab.bench.bus import rss_growth; print(rss_growth({n}, {retain}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return float(out.strip().splitlines()[-1])


def bytewax_pipeline(events: list[Event], batch: int) -> int:
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSink, TestingSource, run_main

    sink: list[Event] = []
    flow = Dataflow("identity")
    stream = op.input("in", flow, TestingSource(events, batch_size=batch))
    op.output("out", stream, TestingSink(sink))
    run_main(flow)
    return len(sink)


def streamz_pipeline(events: list[Event]) -> int:
    from streamz import Stream

    sink: list[Event] = []
    source = Stream()
    source.sink(sink.append)
    emit = source.emit
    for e in events:
        emit(e)
    return len(sink)


def reactivex_pipeline(events: list[Event]) -> int:
    import reactivex

    sink: list[Event] = []
    reactivex.from_iterable(events).subscribe(sink.append)
    return len(sink)


def main(argv: list[str]) -> int:
    from edalab.bench._help import DefaultsFormatter

    parser = argparse.ArgumentParser(prog="edalab bench bus", description=__doc__.split("\n")[0],
                                     formatter_class=DefaultsFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="keyed events per run")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the topic")
    parser.add_argument("--batch", type=int, default=1000, help="poll / source batch size")
    parser.add_argument("--repeats", type=int, default=9,
                        help="timed runs of each contender (the table shows the median)")
    parser.add_argument("--rss-events", type=int, default=1_000_000,
                        help="events of the memory measurement (0: skip it)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    events = tick_events(args.events)
    n, p, b = args.events, args.partitions, args.batch
    contenders = [
        Contender("a", "deque producer/consumer (floor)", lambda: floor_deque(events), n),
        Contender("b", f"MemoryBroker, {p} partitions, publish/poll/ack {b}",
                  lambda: memory_broker(events, p, b), n),
        Contender("b2", "MemoryBroker, backlog: publish all, then drain",
                  lambda: memory_broker_backlog(events, p, b), n),
        Contender("c", "App: source -> handler", lambda: app_pipeline(events, p, b), n),
    ]
    if importlib.util.find_spec("bytewax"):
        contenders.append(Contender("d1", f"bytewax identity, batch {b}",
                                    lambda: bytewax_pipeline(events, b), n))
    if importlib.util.find_spec("streamz"):
        contenders.append(Contender("d2", "streamz identity", lambda: streamz_pipeline(events),
                                    n))
    if importlib.util.find_spec("reactivex"):
        contenders.append(Contender("d3", "reactivex identity",
                                    lambda: reactivex_pipeline(events), n))
    run_contenders(contenders, args.repeats)
    memory = rss_report(args.rss_events) if args.rss_events else None
    extra: dict[str, Any] = {"python": platform.python_version()}
    if memory and args.json:
        extra["memory"] = memory
    targets = [Target("b", "d1", 0.5), Target("b", "d2", 5.0), Target("c", "b", 0.8)]
    status = report(f"edalab bench bus: {n:,} keyed events, median of {args.repeats} runs",
                    contenders, targets, reference="b", as_json=args.json, extra=extra)
    if memory is None:
        return status
    if not args.json:
        print(f"memory: {memory['events']:,} events, App source -> handler -> topic -> "
              "handler, peak RSS growth")
        print(f"  MemoryBroker(retain=1000)  {memory['rss_growth_mib_retain_1000']:8.1f} MiB")
        print(f"  MemoryBroker()             {memory['rss_growth_mib_retain_none']:8.1f} MiB")
        print(f"  target {memory['target']}: {memory['rss_growth_mib_retain_1000']:.1f}  "
              f"{'ok' if memory['ok'] else 'MISSED'}")
    return status | (not memory["ok"])


def rss_report(n: int, limit: float = 10.0) -> dict:
    """Peak RSS growth of the two-handler App with and without retention, and whether
    retention keeps it under `limit` MiB."""
    kept = rss_in_subprocess(n, 1000)
    everything = rss_in_subprocess(n, None)
    return {"events": n, "rss_growth_mib_retain_1000": round(kept, 1),
            "rss_growth_mib_retain_none": round(everything, 1),
            "target": f"retain=1000 < {limit:g} MiB", "ok": kept < limit}
