"""`App`: handlers subscribed to topics in consumer groups, driven by one run loop.

A handler takes one event and returns nothing, an `Event`, or several; what it returns is
published to its `output` topic (a name, or a function of the event that picks one). A handler
never calls another handler: pipelines are chains of topics.

>>> from datetime import datetime, timedelta, timezone
>>> from edalab import App, Event
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> readings = [Event("reading", "/sensor", {"watts": w}, key=f"s{w % 2}",
...                   time=t0 + timedelta(seconds=w)) for w in range(100)]
>>> app = App()
>>> @app.handler("readings", output="alerts")
... def threshold(event):
...     if event.data["watts"] >= 95:
...         return event.replace(type="alert")
>>> app.source("readings", readings)
>>> stats = app.run()
>>> stats.to_frame().loc["threshold", ["events_in", "events_out", "lag"]].tolist()
[100, 5, 0]
"""

from __future__ import annotations

import heapq
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice, repeat
from operator import attrgetter
from typing import Any

from edalab.brokers.base import (
    Batch,
    Broker,
    Consumer,
    Record,
    dead_letter_topic,
    unpublishable,
)
from edalab.brokers.memory import MemoryBroker
from edalab.errors import BatchFailure, EdalabError
from edalab.events import Event, EventError, check_serialisable
from edalab.runtime.clock import Clock, VirtualClock, make_clock
from edalab.runtime.stats import HandlerStats, RunStats, Timeline

__all__ = ["App", "Handler", "HandlerError", "as_events"]

Output = str | Callable[[Event], str] | None
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_event_time = attrgetter("time")


class HandlerError(EdalabError, TypeError):
    """A handler returned something that is not an event, or events with nowhere to go."""


class Handler:
    """A registered handler: the function, where it reads, where its events go."""

    def __init__(self, fn: Callable[[Any], Any], topic: str, group: str, output: Output,
                 max_attempts: int, batch: bool = False):
        self.fn = fn
        self.batch = batch
        self.name = getattr(fn, "__name__", repr(fn))
        self.topic = topic
        self.group = group
        self.output = output
        self.max_attempts = max_attempts
        self.consumer: Consumer | None = None
        self.stats = HandlerStats(self.name, topic, group)

    def __repr__(self) -> str:
        return (f"Handler({self.name!r}, topic={self.topic!r}, group={self.group!r}, "
                f"output={self.output!r})")

    def __call__(self, event: Event) -> Any:
        if not self.batch:
            return self.fn(event)
        try:
            return self.fn([event])
        except BatchFailure as exc:  # a batch of one failed at its event: that event's error
            raise (exc.__cause__ or exc) from None

    def test(self, event: Event) -> list[Event]:
        """Run one event through the handler with no broker: the events it would emit."""
        return as_events(self(event), self.name)

    def flush(self, now: datetime) -> list[Event]:
        """What the handler still holds when the stream ends: its function's ``flush(now)``
        (an operator's), normalised; [] for a function that has none."""
        flush = getattr(self.fn, "flush", None)
        return [] if flush is None else as_events(flush(now), self.name)


def as_events(result: Any, name: str) -> list[Event]:
    """What a handler returned (None, an Event or an iterable of them) as a list of events;
    `HandlerError` naming the handler for anything else.

    >>> from edalab import Event
    >>> as_events(None, "h"), len(as_events(Event("t", "/s", 1), "h"))
    ([], 1)
    >>> as_events("text", "h")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    edalab.runtime.app.HandlerError: handler 'h' returned str; return None, an Event or ...
    """
    if result is None:
        return []
    if result.__class__ is Event:
        return [result]
    if isinstance(result, Event):
        return [result]
    if isinstance(result, (str, bytes, dict)) or not isinstance(result, Iterable):
        raise HandlerError(f"handler {name!r} returned {type(result).__name__}; return None, "
                           "an Event or an iterable of Events")
    events = list(result)
    for item in events:
        if not isinstance(item, Event):
            raise HandlerError(f"handler {name!r} returned a {type(item).__name__} among its "
                               "events; every item must be an Event")
    return events


class App:
    """Handlers on topics in consumer groups, sources that feed topics, and a run loop.

    Parameters
    ----------
    broker
        Any `Broker`; defaults to a new embedded `MemoryBroker`.
    partitions
        Partitions of the topics the app creates (sources, handler inputs and outputs) when
        the broker does not have them yet.
    latency_samples
        Latency percentiles come from a systematic sample of at most this many events per
        polled batch (evenly spaced), so measuring costs little per event.
    """

    def __init__(self, broker: Broker | None = None, *, partitions: int = 1,
                 latency_samples: int = 64):
        if latency_samples < 1:
            raise ValueError(f"latency_samples must be >= 1, got {latency_samples}")
        self.broker: Broker = broker if broker is not None else MemoryBroker()
        self.partitions = partitions
        self.latency_samples = latency_samples
        self.handlers: list[Handler] = []
        self._output_topics: set[str] = set()  # topics an output function sent to, known good
        self._sources: list[tuple[str, Iterable[Event]]] = []
        self.clock: Clock = VirtualClock()

    def __repr__(self) -> str:
        return f"App(broker={self.broker!r}, handlers={[h.name for h in self.handlers]})"

    def topic(self, name: str, partitions: int | None = None) -> str:
        """Create `name` on the broker if it does not exist yet; returns the name."""
        if name not in self.broker.topics():
            self.broker.create_topic(name, partitions or self.partitions)
        return name

    def handler(self, topic: str, *, group: str | None = None, output: Output = None,
                max_attempts: int = 3, batch: bool = False
                ) -> Callable[[Callable[[Any], Any]], Handler]:
        """Decorator: run the function on each event of `topic`, in consumer group `group`
        (default: the function's name). Returned events go to `output`.

        With ``batch=True`` the function takes the list of events of each polled batch and
        returns the events to emit (or None), so it can work on whole columns at once. If it
        raises, or emits an event that cannot be routed or written (which no one input can
        be blamed for), the batch is run again one event at a time (``fn([event])``) so only
        the failing events are retried and dead-lettered: a batch function should not keep
        the state changes of a call that raised, or should raise `BatchFailure` saying how
        many events it handled (only the rest is run again).
        """
        def register(fn: Callable[[Any], Any]) -> Handler:
            h = Handler(fn, topic, group or getattr(fn, "__name__", "handler"), output,  # type: ignore[arg-type]
                        max_attempts, batch)
            self.handlers.append(h)
            return h
        return register

    def source(self, topic: str, events: Iterable[Event]) -> None:
        """Feed `events` (in event-time order) into `topic` when the app runs."""
        self._sources.append((topic, events))

    def now(self) -> datetime:
        """The app's clock: the stream's event time (virtual) or the machine's (wall)."""
        return self.clock.now()

    # -- running ---------------------------------------------------------------------------

    def run(self, *, clock: str | Clock = "virtual", batch_size: int = 1000,
            max_events: int | None = None, timeout: float | None = None,
            progress: bool = False) -> RunStats:
        """Feed the sources and run the handlers until the sources are exhausted and every
        handler's lag is zero (or `max_events` source events, or `timeout` wall seconds).

        When the sources are drained, the stream has ended: every handler with a
        ``flush(now)`` (an operator: windows still open, a metric's last days) is flushed at
        the app's clock, what it returns is published to its output, and the handlers
        downstream handle it (and are flushed in turn) before the run ends.

        A handler that raises does not stop the run: its event is nacked, delivered again,
        and after the handler's `max_attempts` moved to the topic's dead-letter topic. So
        does an event whose handler emits what cannot be routed or written (data JSON cannot
        hold, a topic its output function cannot name): none of its outputs is published,
        and the others of the batch are, once. At the end the handlers leave their consumer
        groups; the next run joins them again and goes on from the offsets they committed.
        """
        # With every=None the generator yields once: the final statistics.
        return next(self.stream(every=None, clock=clock, batch_size=batch_size,
                                max_events=max_events, timeout=timeout, progress=progress))

    def stream(self, *, every: int | None = 10_000, clock: str | Clock = "virtual",
               batch_size: int = 1000, max_events: int | None = None,
               timeout: float | None = None, progress: bool = False) -> Iterator[RunStats]:
        """Run as `run` does, yielding the run statistics so far each time about `every`
        more source events have been published (and the handlers have had a step at them),
        and once more at the end.

        This is how a live chart follows a run without blocking the kernel: advance the
        generator a step at a time (``next(it)``), draw, and come back later.

        >>> from edalab import App, Event
        >>> app = App()
        >>> @app.handler("numbers")
        ... def sink(event):
        ...     pass
        >>> app.source("numbers", (Event("n", "/doc", i) for i in range(2500)))
        >>> [int(s.to_frame().loc["sink", "events_in"]) for s in app.stream(every=1000)]
        [1000, 2000, 2500]
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if every is not None and every < 1:
            raise ValueError(f"every must be >= 1 or None, got {every}")
        self.clock = make_clock(clock)
        virtual = self.clock.name == "virtual"
        self._start()
        self._warn_unassigned()
        take = self._feeder()
        total = _known_length(self._sources) if max_events is None else max_events
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=total, unit="ev", desc="events")
        started = time.perf_counter()
        deadline = None if timeout is None else started + timeout
        published = 0
        timeline = Timeline()  # bounded: a long run keeps a coarser step, not more rows
        stopped_by = "drained"
        exhausted = take is None
        last_sample, sample_every = 0.0, 0.01
        step = 0
        next_yield = every
        flushed: dict[int, int] = {}  # handler index -> its events_in when last flushed
        try:
            while True:
                if not exhausted:
                    room = batch_size if max_events is None else min(batch_size,
                                                                     max_events - published)
                    chunk = take(room) if room > 0 else []  # type: ignore[misc]  # None: exhausted
                    if len(chunk) < batch_size or room <= 0:
                        exhausted = True
                        if max_events is not None and published + len(chunk) >= max_events:
                            stopped_by = "max_events"
                    if chunk:
                        self._publish(chunk, virtual)
                        published += len(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                handled = 0
                for h in self.handlers:
                    handled += self._step(h, batch_size, virtual)
                step += 1
                now = time.perf_counter()
                idle = exhausted and not handled
                # Virtual time samples lag after every step (a reproducible timeline); wall
                # time at most every `sample_every` seconds, as sampling costs a round trip
                # per partition on a networked broker.
                if virtual or idle or now - last_sample >= sample_every:
                    last_sample = now
                    lags = self._lag_totals()
                    timeline.append((step, now - started, self.clock.now(), published, lags))
                    if idle and not any(lags.values()) and (
                            stopped_by != "drained" or not self._flush(flushed)):
                        break  # the end of the stream (flushed), or max_events reached
                if deadline is not None and now > deadline:
                    stopped_by = "timeout"
                    break
                if idle and stopped_by == "max_events":
                    break
                if next_yield is not None and published >= next_yield:
                    while next_yield <= published:
                        next_yield += every  # type: ignore[operator]  # set as next_yield is
                    yield self._stats(now - started, published, timeline.rows(), "running")
            final = self._stats(time.perf_counter() - started, published, timeline.rows(),
                                stopped_by)
        finally:
            if bar is not None:
                bar.close()
            self.close()  # a run stopped early (or another App) must not hold partitions
        yield final

    def serve(self, *, batch_size: int = 1000, idle: float | None = None,
              timeout: float | None = None, stop: threading.Event | None = None,
              poll_timeout: float = 0.1) -> RunStats:
        """Run the handlers (not the sources) on wall time until `stop` is set, `idle`
        seconds pass without an event, or `timeout` seconds in all; then leave the consumer
        groups, so this member's partitions move to the others at once.

        This is what a worker process does (`edalab worker`): several processes serving the
        same app on a shared broker split each group's partitions.
        """
        self.clock = make_clock("wall")
        self._start()
        stop = stop or threading.Event()
        started = last_event = last_sample = time.perf_counter()
        steps = Timeline()
        stopped_by = "stopped"
        wait = poll_timeout / max(1, len(self.handlers))
        try:
            while not stop.is_set():
                handled = sum(self._step(h, batch_size, False, wait) for h in self.handlers)
                now = time.perf_counter()
                if handled:
                    last_event = now
                elif idle is not None and now - last_event >= idle:
                    stopped_by = "idle"
                    break
                if timeout is not None and now - started >= timeout:
                    stopped_by = "timeout"
                    break
                if now - last_sample >= 1.0:  # lag costs a round trip on a networked broker
                    last_sample = now
                    steps.append((steps.offered + 1, now - started, self.clock.now(), 0,
                                  self._lag_totals()))
            stats = self._stats(time.perf_counter() - started, 0, steps.rows(), stopped_by)
        finally:
            self.close()
        return stats

    def close(self) -> None:
        """Leave every consumer group (un-acked events go to the groups' other members)."""
        for h in self.handlers:
            if h.consumer is not None and not getattr(h.consumer, "closed", False):
                h.consumer.close()

    def _warn_unassigned(self) -> None:
        """An embedded group whose partitions are all held by other members gives this
        handler nothing, and the run never drains: say so rather than hang quietly."""
        if not isinstance(self.broker, MemoryBroker):
            return  # a networked group hands partitions over during the run
        for h in self.handlers:
            if not h.consumer.assignment():  # type: ignore[union-attr]  # started above
                warnings.warn(
                    f"handler {h.name!r} got no partition of {h.topic!r}: consumer group "
                    f"{h.group!r} has {len(self.broker.members(h.topic, h.group)) - 1} other "
                    "member(s) holding them (another App on this broker still running, or a "
                    "consumer never closed); this run ends only when they leave or at its "
                    "timeout", RuntimeWarning, stacklevel=4)

    def _flush(self, flushed: dict[int, int]) -> int:
        """End of stream: flush each handler that has handled events since its last flush
        (or was never flushed) and publish what it returns; the events published. A flush
        that fails is counted in the handler's errors (there is no event to dead-letter), an
        output that cannot be published goes to the input topic's dead-letter topic."""
        now = self.clock.now()
        sent = 0
        for i, h in enumerate(self.handlers):
            seen = h.stats.events_in
            if flushed.get(i) == seen:
                continue
            flushed[i] = seen
            try:
                out = h.flush(now)
            except Exception as exc:  # a failing flush must not stop the app
                h.stats.errors += 1
                warnings.warn(f"handler {h.name!r}: flush failed: {type(exc).__name__}: {exc}",
                              RuntimeWarning, stacklevel=4)
                continue
            while out:
                try:
                    self._publish_out(h, out)
                except _OutputError as exc:  # no input to blame: dead-letter that output
                    bad = out[exc.index]
                    self.broker.publish(self.topic(dead_letter_topic(h.topic)),
                                        unpublishable(bad, h.topic, exc.error))
                    h.stats.errors += 1
                    h.stats.dead_letters += 1
                    out = out[:exc.index] + out[exc.index + 1:]
                    continue
                h.stats.events_out += len(out)
                sent += len(out)
                break
        return sent

    def _lag_totals(self) -> dict[str, int]:
        """Per handler stream (``topic/group``): its lag summed over partitions."""
        return {f"{h.topic}/{h.group}": sum(h.consumer.lag().values()) for h in self.handlers}  # type: ignore[union-attr]

    def _start(self) -> None:
        self._output_topics = set()
        self._create_topics()
        for h in self.handlers:
            if h.consumer is None or getattr(h.consumer, "closed", False):
                h.consumer = self.broker.subscribe(h.topic, h.group,
                                                   max_attempts=h.max_attempts)
            h.stats = HandlerStats(h.name, h.topic, h.group)

    def _create_topics(self) -> None:
        for topic, _ in self._sources:
            self.topic(topic)
        for h in self.handlers:
            self.topic(h.topic)
            if isinstance(h.output, str):
                self.topic(h.output)

    def _feeder(self) -> Callable[[int], list] | None:
        """``take(n)``: the next n source items. One source gives its events (a list is
        sliced, not iterated); several give (topic, event) pairs merged by event time."""
        if not self._sources:
            return None
        if len(self._sources) == 1:
            events = self._sources[0][1]
            if isinstance(events, list):
                position = 0

                def take_slice(n: int) -> list:
                    nonlocal position
                    position += n
                    return events[position - n:position]
                return take_slice
            iterator: Iterator[Any] = iter(events)
        else:
            tagged = [zip(repeat(topic), events) for topic, events in self._sources]
            iterator = heapq.merge(*tagged, key=lambda item: item[1].time)
        return lambda n: list(islice(iterator, n))

    def _publish(self, chunk: list, virtual: bool) -> None:
        if len(self._sources) == 1:
            self._publish_source(self._sources[0][0], chunk)
            events = chunk
        else:
            events = [e for _, e in chunk]
            start = 0
            for i in range(1, len(chunk) + 1):  # consecutive runs of one topic, in order
                if i == len(chunk) or chunk[i][0] != chunk[start][0]:
                    self._publish_source(chunk[start][0], events[start:i])
                    start = i
        if virtual:
            self.clock.advance(max(map(_event_time, events)))

    def _publish_source(self, topic: str, events: list[Event]) -> None:
        """Publish source events; one no broker can carry (its data is not JSON) goes to the
        topic's dead-letter topic as `unpublishable`, and the rest are published."""
        while events:
            try:
                self.broker.publish_many(topic, events)
                return
            except EventError as exc:
                if exc.index is None:
                    raise
                i = exc.index  # nothing of the batch was appended: the ones before it are fine
                if i:
                    self.broker.publish_many(topic, events[:i])
                self.broker.publish(dead_letter_topic(topic), unpublishable(
                    events[i], topic, _write_error(events[i], exc)))
                events = events[i + 1:]

    def _step(self, h: Handler, batch_size: int, virtual: bool, wait: float = 0.0) -> int:
        """Poll one batch for `h`, run it, publish what it emitted, ack; returns the count."""
        consumer: Consumer = h.consumer  # type: ignore[assignment]  # the app has started
        batch: Batch = consumer.poll(batch_size, wait)
        events = batch.events
        if not events:
            return 0
        failed: list[tuple[int, BaseException]] = []
        t0 = time.perf_counter()
        out, results, unowned = self._handle(h, events, failed)
        done = time.perf_counter()
        stats = h.stats
        stats.busy_seconds += done - t0
        if out:
            sent = self._emit(h, out, results, failed, unowned)
            if sent is None:  # a batch call emitted what cannot be published: one at a time
                failed.clear()
                out, results = self._run_each(h, h.__call__, events, failed)
                sent = self._emit(h, out, results, failed) if out else 0
            stats.events_out += sent  # type: ignore[operator]  # None only with unowned
            failed.sort(key=_first)
        if failed:
            records = batch.records()
            bad = {i for i, _ in failed}
            consumer.ack([r for i, r in enumerate(records) if i not in bad])
            for i, exc in failed:
                record: Record = records[i]
                consumer.nack(record, error=exc)
                stats.errors += 1
                if record.attempt >= h.max_attempts:
                    stats.dead_letters += 1
        else:
            consumer.ack(batch)
        stats.events_in += len(events)
        sample = slice(None, None, max(1, len(events) // self.latency_samples))
        if virtual:  # how far the stream's clock had moved past each event's own time
            stats.sample(self.clock.now(), [e.time for e in events[sample]])
        else:  # broker append to handler done, in seconds
            stats.sample(done, batch.timestamps[sample])
        return len(events)

    def _handle(self, h: Handler, events: list[Event], failed: list[tuple[int, BaseException]]
                ) -> tuple[list[Event], list[Any], int]:
        """Run `h` on the batch: its output events, per input event what it emitted (None
        where it failed or emitted nothing), and how many leading outputs came from a batch
        call (so belong to no one input)."""
        fn = h.fn
        if h.batch:
            try:
                out = as_events(fn(events), h.name)
            except BatchFailure as exc:  # handled up to exc.done: the rest one at a time
                done = exc.done
                head = as_events(exc.results, h.name)
                rest: list[tuple[int, BaseException]] = []
                tail, results = self._run_each(h, h.__call__, events[done:], rest)
                failed += [(i + done, error) for i, error in rest]
                return head + tail, [None] * done + results, len(head)
            except Exception:  # find the failing events: one at a time
                fn = h.__call__
            else:
                return out, [], len(out)
        return (*self._run_each(h, fn, events, failed), 0)

    @staticmethod
    def _run_each(h: Handler, fn: Callable[[Event], Any], events: list[Event],
                  failed: list[tuple[int, BaseException]]) -> tuple[list[Event], list[Any]]:
        """`fn` on each event; failures are appended to `failed` as (index, error). Returns
        the output events and each input's result (an Event, a list of them, or None)."""
        results: list[Any] = []
        # map() runs the handler in a C loop; extend() keeps the results made before a
        # failure, so len(results) is the failing event's index.
        rest = events
        while rest:
            try:
                results.extend(map(fn, rest))
                break
            except Exception as exc:  # a failing handler must not stop the app
                i = len(results)
                failed.append((i, exc))
                results.append(None)
                rest = events[i + 1:]
        # Not results.count(None): that calls Event.__eq__ (Python) on every event.
        out = [r for r in results if r is not None]
        if out and not _all_events(out):
            out = []
            for i, r in enumerate(results):
                try:  # a generator runs here: if it raises, what it yielded goes with it
                    results[i] = events_i = as_events(r, h.name)
                except Exception as exc:  # a bad return value fails that event only
                    results[i] = None
                    failed.append((i, exc))
                else:
                    out += events_i
            failed.sort(key=_first)
        return out, results

    def _emit(self, h: Handler, out: list[Event], results: list[Any], failed: list[tuple[int,
              BaseException]], unowned: int = 0) -> int | None:
        """Publish `out`, all of it or none: an output that cannot be routed or written
        fails the input event that emitted it (`results[i]` holds its outputs), with all its
        outputs, and the rest is published. Returns how many were published; None, having
        published nothing, when the failing output is one of the first `unowned` (a batch
        call's: no one input emitted it)."""
        while True:
            try:
                self._publish_out(h, out)
                return len(out)
            except _OutputError as exc:
                if exc.index < unowned:
                    return None
                i = _owners(results)[exc.index - unowned]
                failed.append((i, exc.error))
                results[i] = None
                out = out[:unowned] + [e for r in results if r is not None
                                       for e in ((r,) if r.__class__ is Event else r)]
                if not out:
                    return 0

    def _publish_out(self, h: Handler, out: list[Event]) -> None:
        """Route and publish `out`; raises `_OutputError` for the first output that cannot be
        routed or written, before anything is published."""
        if h.output is None:
            raise HandlerError(f"handler {h.name!r} returned events but has no output topic; "
                               f"register it with @app.handler(..., output='topic')")
        routed = {h.output: out} if isinstance(h.output, str) else self._route(h, out)
        try:
            if len(routed) > 1:  # several publishes: check them all before the first
                check_serialisable(out)
            for topic, events in routed.items():
                self.broker.publish_many(topic, events)
        except EventError as exc:
            if exc.index is None:
                raise
            # The one check these events get: the broker's (or, for several topics, ours),
            # on all of `out` in order either way, so the index is the output's.
            raise _OutputError(exc.index, HandlerError(
                f"handler {h.name!r} emitted an event that cannot be published: "
                f"{_write_error(out[exc.index], exc)}")) from None

    def _route(self, h: Handler, out: list[Event]) -> dict[str, list[Event]]:
        """Each output's topic by `h.output`, one batch per topic (in order within each);
        `_OutputError` for the first the function fails on or sends to an unusable topic."""
        route: Callable[[Event], str] = h.output  # type: ignore[assignment]  # not a str here
        try:
            topics = list(map(route, out))
        except Exception:
            topics = []
            for k, event in enumerate(out):
                try:
                    topics.append(route(event))
                except Exception as exc:
                    raise _OutputError(k, HandlerError(
                        f"handler {h.name!r}: its output function failed on an emitted "
                        f"{event.type!r} event: {type(exc).__name__}: {exc}")) from None
        routed: dict[str, list[Event]] = {}
        for k, (topic, event) in enumerate(zip(topics, out, strict=True)):
            events = routed.get(topic)
            if events is None:
                self._check_output_topic(h, topic, k, event)
                events = routed[topic] = []
            events.append(event)
        return routed

    def _check_output_topic(self, h: Handler, topic: Any, k: int, event: Event) -> None:
        if topic in self._output_topics:
            return
        problem = None
        if not isinstance(topic, str) or not topic:
            problem = "it must return a topic name (a non-empty str)"
        else:
            try:
                self.topic(topic)
            except Exception as exc:
                problem = f"that topic cannot be used: {type(exc).__name__}: {exc}"
        if problem is not None:
            raise _OutputError(k, HandlerError(
                f"handler {h.name!r}: its output function returned {topic!r} for an emitted "
                f"{event.type!r} event; {problem}"))
        self._output_topics.add(topic)

    def _stats(self, wall: float, published: int, timeline: list[tuple],
               stopped_by: str) -> RunStats:
        lag = {f"{h.topic}/{h.group}": h.consumer.lag() for h in self.handlers}  # type: ignore[union-attr]
        dead = sum(len(self.broker.read(dead_letter_topic(t)))
                   for t in {h.topic for h in self.handlers}
                   if dead_letter_topic(t) in self.broker.topics())
        return RunStats(self.clock.name, wall, published, [h.stats for h in self.handlers],
                        lag, dead, timeline, stopped_by)


class _OutputError(EdalabError):
    """Output `index` of a batch cannot be routed or written; `error` says why."""

    def __init__(self, index: int, error: BaseException):
        super().__init__(index, error)
        self.index = index
        self.error = error


def _owners(results: list[Any]) -> list[int]:
    """For each output event, the index of the input whose result holds it."""
    owners: list[int] = []
    for i, r in enumerate(results):
        if r is not None:
            owners += [i] * (1 if r.__class__ is Event else len(r))
    return owners


def _write_error(event: Event, error: EventError) -> EventError:
    """Why `event` cannot be written, as `to_json` says it of that event alone (a batch check
    names its position in the batch)."""
    try:
        event.to_json()
    except EventError as exc:
        return exc
    return error


def _first(item: tuple) -> Any:
    return item[0]


def _all_events(items: list) -> bool:
    return set(map(type, items)) == {Event}


def _known_length(sources: list[tuple[str, Iterable[Event]]]) -> int | None:
    try:
        return sum(len(events) for _, events in sources)  # type: ignore[arg-type, misc]
    except TypeError:
        return None
