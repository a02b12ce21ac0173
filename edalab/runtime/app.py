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

import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any

from edalab.brokers.base import Broker, dead_letter_topic, unpublishable
from edalab.brokers.memory import MemoryBroker
from edalab.errors import EdalabError
from edalab.events import Event
from edalab.resilience import CircuitBreaker, Retry
from edalab.runtime.clock import Clock, VirtualClock, make_clock
from edalab.runtime.guard import BROKER_ATTEMPTS, Guard, guard_options
from edalab.runtime.handler import Handler, Output
from edalab.runtime.outputs import OutputError, OutputsMixin
from edalab.runtime.sources import SourcesMixin
from edalab.runtime.stateful import Stateful, state_options
from edalab.runtime.stats import HandlerStats, RunStats, Timeline, run_waits
from edalab.runtime.step import StepMixin
from edalab.state import State

__all__ = ["App", "NothingToRunError"]


class NothingToRunError(EdalabError, ValueError):
    """`App.run` or `App.serve` on an app with nothing to run: no handler (and, for `run`,
    no source either)."""


class App(SourcesMixin, StepMixin, OutputsMixin):
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
                max_attempts: int | None = None, batch: bool = False,
                retry: Retry | None = None, breaker: CircuitBreaker | None = None,
                idempotent: Any = False,
                idempotency_key: Callable[[Event], str] | None = None,
                state: bool | State = False) -> Callable[[Callable[..., Any]], Handler]:
        """Decorator: run the function on each event of `topic`, in consumer group `group`
        (default: the function's name). Returned events go to `output`.

        With ``batch=True`` the function takes the list of events of each polled batch and
        returns the events to emit (or None), so it can work on whole columns at once. If it
        raises, or emits an event that cannot be routed or written (which no one input can
        be blamed for), the batch is run again one event at a time (``fn([event])``) so only
        the failing events are retried and dead-lettered: a batch function should not keep
        the state changes of a call that raised, or should raise `BatchFailure` saying how
        many events it handled (only the rest is run again).

        Resilience options (see `edalab.runtime.guard`; with none set the handler runs as
        above, at no extra cost per event):

        - ``retry=Retry(...)``: how often and how long apart a failed event is tried again,
          and where it waits (``mode="blocking"``: in place, its partition paused, key order
          kept; ``mode="topics"``: in ``<topic>.retry.<n>`` topics, healthy events flow on,
          key order not kept for retried events). ``max_attempts=n`` alone is
          ``Retry(max_attempts=n, backoff=Backoff.fixed(0))``: immediate redelivery.
        - ``breaker=CircuitBreaker(...)``: calls go through it; while it is open the
          handler's partitions pause (no attempt is spent), and its state changes are
          published on the ``breaker`` topic. A breaker on the default clock follows the
          app's clock.
        - ``idempotent=True`` (a `MemoryIdempotencyStore`) or a store: an event whose key
          (its id, or ``idempotency_key(event)``) was handled is acked and skipped.

        A handler with any of them runs one event at a time (a batch function gets batches
        of one).

        ``state=True`` (or an `edalab.state.State`): the function takes ``(event, state)``,
        `state` the state of the event's key, checkpointed with its partition's offset and
        restored where the partition goes (see `edalab.state`); one event at a time.
        """
        options = guard_options(retry=retry, breaker=breaker, idempotent=idempotent,
                                idempotency_key=idempotency_key, max_attempts=max_attempts)
        spec = state_options(state)
        if spec is not None and (options is not None or batch):
            raise ValueError("state= does not combine with batch=True, retry=, breaker= or "
                             "idempotent= yet (a stateful handler runs one event at a time "
                             "and replays from its checkpoint)")

        def register(fn: Callable[..., Any]) -> Handler:
            h = Handler(fn, topic, group or getattr(fn, "__name__", "handler"), output,  # type: ignore[arg-type]
                        max_attempts or 3, batch)
            if spec is not None:
                h.guard = Stateful(h, spec)
            elif options is not None:
                h.guard = Guard(h, *options)
                h.max_attempts = h.guard.retry.max_attempts
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
        if not self.handlers and not self._sources:
            raise NothingToRunError(
                "this App has no handlers and no sources, so a run has nothing to do: "
                "register a handler with @app.handler(topic) and feed it with "
                "app.source(topic, events)")
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
        hold = False  # virtual time waits for the handlers to catch up before publishing more
        try:
            while True:
                if not exhausted and not hold:
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
                counts = [self._step(h, batch_size, virtual) for h in self.handlers]
                handled = sum(counts)
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
                    # The virtual clock follows what is published, so it must not run ahead
                    # of a handler that got less than a batch while events waited for it (a
                    # networked broker still delivering them): publish more once it has
                    # them, or when nothing can progress without. A handler that took a
                    # full batch is at capacity: its backlog grows, as it would for real.
                    hold = virtual and handled > 0 and any(
                        n < batch_size and lags[f"{h.topic}/{h.group}"]
                        for h, n in zip(self.handlers, counts, strict=True))
                    if idle and not any(lags.values()) and (
                            stopped_by != "drained" or not self._flush(flushed)):
                        break  # the end of the stream (flushed), or max_events reached
                    if idle:  # only events held by a retry or a breaker can be left
                        self._wait_for_due(virtual)
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
        if not self.handlers:
            raise NothingToRunError("this App has no handlers to serve: register one with "
                                    "@app.handler(topic) before serve()")
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
            if h.guard is not None:  # first: a stateful handler's last checkpoint
                h.guard.close()
            if h.consumer is not None and not getattr(h.consumer, "closed", False):
                h.consumer.close()

    def _wait_for_due(self, virtual: bool) -> None:
        """Nothing else can happen until a held event falls due: move virtual time there,
        or let a little wall time pass."""
        dues = [d for h in self.handlers if h.guard is not None
                for d in (h.guard.next_due(),) if d is not None]
        if not dues:
            return
        if virtual:
            self.clock.advance(min(dues))
        else:
            time.sleep(min(0.05, max(0.0, (min(dues) - self.clock.now()).total_seconds())))

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
                except OutputError as exc:  # no input to blame: dead-letter that output
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
        return {f"{h.topic}/{h.group}": sum(h.consumer.lag().values())  # type: ignore[union-attr]
                + (h.guard.lag() if h.guard is not None else 0) for h in self.handlers}

    def _start(self) -> None:
        self._began = time.time()
        self._output_topics = set()
        self._create_topics()
        for h in self.handlers:
            if h.consumer is None or getattr(h.consumer, "closed", False):
                h.consumer = self.broker.subscribe(
                    h.topic, h.group,
                    max_attempts=BROKER_ATTEMPTS if isinstance(h.guard, Guard) else h.max_attempts)
            h.stats = HandlerStats(h.name, h.topic, h.group)
            if h.guard is not None:
                h.guard.start(self)

    def _create_topics(self) -> None:
        for topic, _ in self._sources:
            self.topic(topic)
        for h in self.handlers:
            self.topic(h.topic)
            if isinstance(h.output, str):
                self.topic(h.output)

    def _stats(self, wall: float, published: int, timeline: list[tuple],
               stopped_by: str) -> RunStats:
        lag = {f"{h.topic}/{h.group}": h.consumer.lag() for h in self.handlers}  # type: ignore[union-attr]
        dead = sum(len(self.broker.read(dead_letter_topic(t)))
                   for t in {h.topic for h in self.handlers}
                   if dead_letter_topic(t) in self.broker.topics())
        state = {h.name: asdict(h.guard.stats) for h in self.handlers
                 if isinstance(h.guard, Stateful)}
        return RunStats(self.clock.name, wall, published, [h.stats for h in self.handlers],
                        lag, dead, timeline, stopped_by, state,
                        run_waits(self.broker, self._began))


def _known_length(sources: list[tuple[str, Iterable[Event]]]) -> int | None:
    try:
        return sum(len(events) for _, events in sources)  # type: ignore[arg-type, misc]
    except TypeError:
        return None
