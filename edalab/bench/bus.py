"""`edalab bench bus`: the event bus against the bare-Python floor and peers, in one run.

(a) a `collections.deque` producer/consumer loop (the floor); (b) `MemoryBroker` streaming:
publish a batch of keyed events to 4 partitions, one consumer group polls a batch and acks,
and so on (b2: the same with a backlog, everything published before the first poll); (c) the
same pipeline through `App` (a source and one handler); (d) where installed, bytewax (batched
test source), streamz and reactivex identity pipelines. Every pipeline moves the same
pre-built `Event` objects into a sink list.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
from collections import deque
from datetime import UTC, datetime, timedelta

from edalab.bench._harness import Contender, Target, report, run_contenders
from edalab.brokers.memory import MemoryBroker
from edalab.events import Event
from edalab.runtime.app import App


def make_events(n: int, keys: int = 1000) -> list[Event]:
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
    parser = argparse.ArgumentParser(prog="edalab bench bus", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000, help="poll / source batch size")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    events = make_events(args.events)
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
    targets = [Target("b", "d1", 0.5), Target("b", "d2", 5.0), Target("c", "b", 0.8)]
    return report(f"edalab bench bus: {n:,} keyed events, median of {args.repeats} runs",
                  contenders, targets, reference="b", as_json=args.json,
                  extra={"python": platform.python_version()})
