"""`Functions`: serverless functions on the event bus, run for real.

``@fns.function(topic, memory_mb=512, timeout=30, concurrency=100, init=load_model)`` makes a
function that a topic's events trigger (the model of AWS Lambda and Azure Functions event
triggers). `run` consumes each function's topic in a consumer group and hands each event to
an instance, a worker process (`edalab.serverless.instance`): the most recently used idle
one, else a new one, whose cold start is a real process start plus the function's `init`.
An instance idle for `keep_alive` seconds stops (scale to zero); beyond `concurrency`
running instances, events wait in the topic (throttled, counted). A failing event is nacked
with its error (redelivered, then dead-lettered by the broker); a returned `Event` (or list
of them) is published to the function's `emit` topic.

The function and `init` are pickled into a fresh interpreter, so they must be importable
(defined at module level), as with any process pool.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any

import numpy as np

from edalab.brokers.base import Consumer
from edalab.events import Event
from edalab.serverless.instance import Instance

__all__ = ["INIT_TIMEOUT", "Function", "FunctionStats", "Functions"]

#: Seconds a new instance may take to start (process and `init`) before it is stopped; the
#: function's own `timeout` counts from the end of its cold start, as on AWS Lambda.
INIT_TIMEOUT = 60.0


@dataclass
class FunctionStats:
    """What one function did in a `Functions.run`: events served, errors, events that
    waited for the concurrency limit, each cold start (s), each event's latency (s, from
    its append to the topic to the end of its execution), and instances over time
    (``(seconds since the run began, instances)`` at each change)."""

    events: int = 0
    errors: int = 0
    throttled: int = 0
    cold_start_s: list[float] = field(default_factory=list)
    latency_s: list[float] = field(default_factory=list)
    instances: list[tuple[float, int]] = field(default_factory=list)

    @property
    def cold_starts(self) -> int:
        return len(self.cold_start_s)

    def cold_start_ms(self) -> dict[str, float | int]:
        """Median and p99 of the cold starts, in ms, and their number."""
        ms = np.asarray(self.cold_start_s) * 1000
        if not len(ms):
            return {"median": math.nan, "p99": math.nan, "n": 0}
        return {"median": float(np.median(ms)), "p99": float(np.percentile(ms, 99)),
                "n": len(ms)}


@dataclass
class Function:
    """A registered function: what triggers it and how its instances are run.

    `memory_mb` is the size it is priced and simulated at (`edalab.serverless.cost`); it is
    not enforced on the worker process."""

    fn: Callable[..., Any]
    topic: str
    memory_mb: int = 512
    timeout: float = 30.0
    concurrency: int = 100
    init: Callable[[], Any] | None = None
    keep_alive: float = 600.0
    group: str = ""
    emit: str | None = None
    stats: FunctionStats = field(default_factory=FunctionStats)
    consumer: Consumer | None = field(default=None, repr=False)
    idle: list[Instance] = field(default_factory=list, repr=False)
    busy: list[Instance] = field(default_factory=list, repr=False)
    held: dict[int, int] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return getattr(self.fn, "__name__", "function")

    def member(self) -> Consumer:
        """Its consumer in its group (there is one while `Functions.run` serves it)."""
        if self.consumer is None:
            raise RuntimeError(f"function {self.name!r} is not subscribed: call run()")
        return self.consumer


class Functions:
    """Serverless functions on a broker (or an App's broker).

    >>> from edalab import MemoryBroker
    >>> fns = Functions(MemoryBroker())
    >>> @fns.function("payments", keep_alive=5)
    ... def score(event):
    ...     return None
    >>> fns.functions["score"].topic, fns.functions["score"].group
    ('payments', 'fn-score')
    """

    def __init__(self, app_or_broker: Any, poll_wait: float = 0.005) -> None:
        self.broker = getattr(app_or_broker, "broker", app_or_broker)
        self.poll_wait = poll_wait
        self.functions: dict[str, Function] = {}
        self._began = time.monotonic()

    def function(self, topic: str, *, memory_mb: int = 512, timeout: float = 30.0,
                 concurrency: int = 100, init: Callable[[], Any] | None = None,
                 keep_alive: float = 600.0, group: str | None = None,
                 emit: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register the decorated function on `topic`'s events: ``fn(event)``, or
        ``fn(event, state)`` with ``state = init()`` run once per instance."""
        _check(timeout > 0, f"timeout must be > 0 seconds, got {timeout!r}")
        _check(keep_alive >= 0, f"keep_alive must be >= 0 seconds, got {keep_alive!r}")
        _check(isinstance(concurrency, int) and concurrency >= 1,
               f"concurrency must be an integer >= 1, got {concurrency!r}")
        _check(memory_mb > 0, f"memory_mb must be > 0, got {memory_mb!r}")

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            f = Function(fn, topic, memory_mb, timeout, concurrency, init, keep_alive,
                         group or f"fn-{getattr(fn, '__name__', 'function')}", emit)
            _check(f.name not in self.functions, f"a function named {f.name!r} is "
                   "registered already")
            self.functions[f.name] = f
            return fn

        return register

    def instances(self) -> int:
        """Instances alive now, over all functions."""
        return sum(len(f.idle) + len(f.busy) for f in self.functions.values())

    def run(self, max_seconds: float = 60.0, scale_to_zero: bool = False,
            ) -> dict[str, FunctionStats]:
        """Serve events until the topics are drained and nothing runs (and, with
        `scale_to_zero`, until every instance has stopped), or `max_seconds` have passed;
        the statistics per function."""
        for f in self.functions.values():
            if f.consumer is None:
                f.consumer = self.broker.subscribe(f.topic, group=f.group)
        deadline = time.monotonic() + max_seconds
        quiet = 0
        while time.monotonic() < deadline:
            self._settle()
            polled = sum(self._dispatch(f) for f in self.functions.values())
            running = any(f.busy for f in self.functions.values())
            quiet = 0 if polled or running else quiet + 1
            if quiet >= 3 and not (scale_to_zero and self.instances()):
                break
        return {name: f.stats for name, f in self.functions.items()}

    def close(self) -> None:
        """Stop every instance and leave the consumer groups."""
        for f in self.functions.values():
            for inst in f.idle + f.busy:
                inst.stop(kill=inst in f.busy)
            f.idle.clear()
            f.busy.clear()
            if f.consumer is not None:
                f.consumer.close()
                f.consumer = None

    def __enter__(self) -> Functions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the dispatcher ---------------------------------------------------------------

    def _dispatch(self, f: Function) -> int:
        capacity = f.concurrency - len(f.busy)
        batch = f.member().poll(max_events=capacity, timeout=0.0) if capacity > 0 else ()
        for record in batch:
            if record.offset < f.held.get(record.partition, -1):
                f.stats.throttled += 1
            inst = f.idle.pop() if f.idle else self._start(f)
            inst.send(record)
            f.busy.append(inst)
        if len(f.busy) >= f.concurrency:
            # At the limit: every event in the topic now waits for a running instance.
            f.held = dict(enumerate(self.broker.end_offsets(f.topic)))
        return len(batch)

    def _start(self, f: Function) -> Instance:
        inst = Instance(f.fn, f.init)
        self._count(f, +1)
        return inst

    def _settle(self) -> None:
        """Read what instances say (waiting up to `poll_wait`), end timed-out executions
        and stop instances idle past their keep-alive."""
        owners: dict[Any, tuple[Function, Instance]] = {
            inst.conn: (f, inst) for f in self.functions.values() for inst in f.busy}
        for conn in wait(list(owners), timeout=self.poll_wait) if owners else ():
            f, inst = owners[conn]
            kind, value = inst.receive()
            if kind != "ready":
                self._finish(f, inst, kind, value)
            else:  # its execution (and timeout) starts now, after the cold start
                inst.sent_at = max(inst.sent_at, value)
                f.stats.cold_start_s.append(value - inst.started)
        if not owners:
            time.sleep(self.poll_wait)
        now = time.monotonic()
        for f in self.functions.values():
            for inst in f.busy[:]:
                limit = f.timeout if inst.ready_at is not None else INIT_TIMEOUT
                if now - inst.sent_at > limit:
                    self._finish(f, inst, "died", f"TimeoutError: over {limit:g} s")
            for inst in [i for i in f.idle if now - i.idle_since >= f.keep_alive]:
                f.idle.remove(inst)
                inst.stop()
                self._count(f, -1)

    def _finish(self, f: Function, inst: Instance, kind: str, value: Any) -> None:
        record, member = inst.record, f.member()
        assert record is not None, "a busy instance serves a record"
        f.busy.remove(inst)
        inst.record = None
        if kind == "done":
            member.ack([record])
            f.stats.events += 1
            f.stats.latency_s.append(time.perf_counter() - record.timestamp)
            self._emit(f, value)
        else:
            member.nack(record, error=value)
            f.stats.errors += 1
        if kind in ("done", "error"):
            inst.idle_since = time.monotonic()
            f.idle.append(inst)
        else:  # the process is gone or will not start: no instance left
            inst.stop(kill=True)
            self._count(f, -1)

    def _emit(self, f: Function, out: Any) -> None:
        events = [out] if isinstance(out, Event) else out
        if f.emit and isinstance(events, list):
            self.broker.publish_many(f.emit, [e for e in events if isinstance(e, Event)])

    def _count(self, f: Function, step: int) -> None:
        alive = len(f.idle) + len(f.busy) + (step if step > 0 else 0)
        f.stats.instances.append((time.monotonic() - self._began, alive))


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)
