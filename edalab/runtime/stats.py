"""Run statistics of an `App` run: per-handler counts, throughput, latency percentiles, lag."""

from __future__ import annotations

import math
import random
from array import array
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

__all__ = ["FRAME_COLUMNS", "HandlerStats", "RunStats", "Timeline", "run_waits"]

#: Columns of `RunStats.to_frame` (``handler`` is its index): latency always in milliseconds,
#: with the clock that measured it.
FRAME_COLUMNS = ["handler", "topic", "group", "events_in", "events_out", "errors",
                 "dead_letters", "retries", "duplicates", "breaker_open_s", "events_per_s",
                 "busy_s", "clock", "latency_p50_ms",
                 "latency_p95_ms", "latency_p99_ms", "lag"]


@dataclass
class HandlerStats:
    """Counters and latency samples of one handler during a run.

    Latency is from the input event's arrival to the end of its handling: in wall time, broker
    append to handler done (seconds); in virtual time, how far the stream's clock had moved
    past the event's own time when it was handled (seconds of event time).

    The App offers a few events of each polled batch (`sample`); at most `max_samples` of them
    are kept, as a uniform random sample of all those offered over the run (reservoir
    sampling, Li's algorithm L, seeded by `seed`). So while a run offers fewer than
    `max_samples`, the percentiles are those of every sample; past that they estimate the
    whole run's (not the latest part's) from a fixed amount of memory, and a batch none of
    whose samples is drawn costs one comparison.

    >>> h = HandlerStats("h", "t", "g", max_samples=3)
    >>> for i in range(1000):
    ...     h.sample(float(i) + 0.5, [float(i)])
    >>> h.samples_seen, h.latency().tolist()
    (1000, [0.5, 0.5, 0.5])
    """

    name: str
    topic: str
    group: str
    events_in: int = 0
    events_out: int = 0
    errors: int = 0
    dead_letters: int = 0
    retries: int = 0  # failed attempts given another one (a handler with retry=)
    duplicates: int = 0  # events skipped as already handled (idempotent=)
    breaker_open_s: float = 0.0  # seconds of the app's clock paused by an open breaker
    busy_seconds: float = 0.0
    max_samples: int = 100_000
    seed: int = 0
    samples_seen: int = 0  # latency samples offered, kept or not
    # The kept latencies, in seconds: 8 bytes each (no object per sample).
    _kept: array = field(default_factory=lambda: array("d"), repr=False)
    _next: int = field(default=0, repr=False)  # index (among those offered) of the next kept
    _log_w: float = field(default=0.0, repr=False)  # algorithm L's log W
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.max_samples, bool) or not isinstance(self.max_samples, int) \
                or self.max_samples < 1:
            raise ValueError(f"max_samples must be an int >= 1, got {self.max_samples!r}")
        self._rng = random.Random(self.seed)

    def sample(self, end: float | datetime, starts: list) -> None:
        """Offer a batch's sampled start times, all handled by `end` (no per-event math)."""
        seen = self.samples_seen
        self.samples_seen = stop = seen + len(starts)
        if stop > self._next:  # some of them are kept (all of them while filling)
            if stop < self.max_samples:
                self._kept.extend(_latencies(end, starts))
            else:
                self._keep(_latencies(end, starts), seen)

    def _keep(self, latencies: list[float], seen: int) -> None:
        kept, k = self._kept, self.max_samples
        stop = seen + len(latencies)
        random, log = self._rng.random, math.log
        if len(kept) < k:  # filling: keep every sample
            take = latencies[:k - len(kept)]
            kept.extend(take)
            if len(kept) < k:
                self._next = stop
                return
            self._log_w = log(_open_unit(self._rng)) / k
            self._next = seen + len(take) + math.floor(
                log(1.0 - random()) / _log1m_exp(self._log_w))
        # Algorithm L: keep the sample at `nxt` in a random slot, then skip ahead by
        # floor(log U / log(1 - W)) + 1. 1 - random() is in (0, 1], so its log exists.
        nxt, log_w = self._next, self._log_w
        while nxt < stop:
            kept[int(random() * k)] = latencies[nxt - seen]
            log_w += log(1.0 - random()) / k
            nxt += math.floor(log(1.0 - random()) / _log1m_exp(log_w)) + 1
        self._next, self._log_w = nxt, log_w

    def latency(self) -> np.ndarray:
        """The kept latency samples, in seconds (in the order offered while fewer than
        `max_samples` were; in reservoir order after)."""
        return np.array(self._kept, dtype=float)


def run_waits(broker: object, since: float) -> list[tuple]:
    """The `broker`'s failover waits (its ``pauses``, if it keeps them) that ended after
    `since` (Unix time): (operation, seconds into the run, seconds, recovered)."""
    return [(p.operation, p.start - since, p.seconds, p.recovered)
            for p in list(getattr(broker, "pauses", ())) if p.start + p.seconds >= since]


def _latencies(end: float | datetime, starts: list) -> list[float]:
    """Seconds from each start to `end` (perf_counter floats, or datetimes of event time)."""
    if isinstance(end, datetime):
        return [(end - start).total_seconds() for start in starts]
    return [end - start for start in starts]


def _log1m_exp(a: float) -> float:
    """log(1 - exp(a)) for a < 0, precise for a near 0 and for a far below it."""
    return math.log(-math.expm1(a)) if a > -0.693 else math.log1p(-math.exp(a))


def _open_unit(rng: random.Random) -> float:
    """A uniform draw in (0, 1): a logarithm can take it."""
    u = rng.random()
    while u == 0.0:
        u = rng.random()
    return u


class Timeline:
    """The run loop's timeline rows (tuples), at most `max_rows` of them.

    Every step offered is kept until the rows fill; then every other row is dropped and, from
    then on, only every other step offered is kept (every fourth after the next fill, and so
    on). The rows thus cover the whole run at a step that coarsens as it grows, evenly spaced
    in steps offered; the latest row offered is always there, so the end of the run shows.

    >>> timeline = Timeline(max_rows=4)
    >>> for step in range(1, 11):
    ...     timeline.append((step,))
    >>> [row[0] for row in timeline.rows()]
    [1, 5, 9, 10]
    """

    def __init__(self, max_rows: int = 10_000):
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 2:
            raise ValueError(f"max_rows must be an int >= 2, got {max_rows!r}")
        self.max_rows = max_rows
        self.offered = 0
        self._rows: list[tuple] = []
        self._stride = 1
        self._last: tuple | None = None  # the latest row offered, when it was not kept

    def __len__(self) -> int:
        return len(self._rows) + (self._last is not None)

    def append(self, row: tuple) -> None:
        """Offer the next step's row."""
        if self.offered % self._stride:
            self._last = row
        else:
            self._last = None
            rows = self._rows
            rows.append(row)
            if len(rows) >= self.max_rows:  # keep the rows of every 2 * stride steps
                del rows[1::2]
                self._stride *= 2
        self.offered += 1

    def rows(self) -> list[tuple]:
        """The rows kept, oldest first (a new list)."""
        return self._rows + [self._last] if self._last is not None else list(self._rows)


@dataclass(repr=False)
class RunStats:
    """What `App.run` returns. `to_frame()` gives one row per handler."""

    clock: str
    wall_seconds: float
    source_events: int
    handlers: list[HandlerStats]
    lag: dict[str, dict[int, int]]
    dead_letters: int
    steps: list[tuple] = field(repr=False, default_factory=list)
    stopped_by: str = "drained"
    #: Per stateful handler (``state=``): its checkpoints, restores and replays so far.
    state: dict[str, dict[str, float]] = field(repr=False, default_factory=dict)
    #: The broker's waits for a failover during the run (see `pauses`), as tuples.
    waits: list[tuple] = field(repr=False, default_factory=list)

    @property
    def pauses(self) -> pd.DataFrame:
        """One row per wait of the broker for a failover during the run (a replicated
        `NatsBroker` retrying while a leader is elected): ``operation``, ``at_s`` (wall
        seconds into the run), ``seconds``, ``recovered`` (False: it gave up at its bound)."""
        return pd.DataFrame(self.waits, columns=["operation", "at_s", "seconds", "recovered"])

    @property
    def timeline(self) -> pd.DataFrame:
        """One row per run-loop step and handler stream (``topic/group``): wall seconds, the
        app's clock, source events published so far, and the stream's lag after the step.
        A long run keeps at most `Timeline`'s rows: every 2nd, 4th... step, and the last."""
        streams = list(self.lag)
        steps = self.steps
        return pd.DataFrame({
            "step": [row[0] for row in steps for _ in streams],
            "wall_seconds": [row[1] for row in steps for _ in streams],
            "clock": pd.DatetimeIndex([row[2] for row in steps for _ in streams]),
            "published": [row[3] for row in steps for _ in streams],
            "stream": [k for _ in steps for k in streams],
            "lag": [row[4][k] for row in steps for k in streams],
        })

    @property
    def throughput(self) -> float:
        """Source events per wall-clock second over the whole run."""
        return self.source_events / self.wall_seconds if self.wall_seconds > 0 else float("nan")

    @property
    def final_lag(self) -> int:
        """Events not yet committed, summed over every handler's group and partition."""
        return sum(sum(parts.values()) for parts in self.lag.values())

    def to_frame(self) -> pd.DataFrame:
        """One row per handler: counts, throughput, latency percentiles, final lag.

        Latency is always in milliseconds (``latency_p50_ms``, ``latency_p95_ms``,
        ``latency_p99_ms``) and the ``clock`` column says which clock measured it. On the
        ``wall`` clock it is processing latency: broker append to handler done. On the
        ``virtual`` clock it is event time: how far the stream's clock (the latest source
        event's time) had moved past an event when it was handled. A batch of 1,000 card
        transactions spans most of a simulated day, so even a handler that does nothing shows
        hours of virtual "latency": read it as the batch's span in event time, not as cost.

        >>> from edalab import App, Event
        >>> app = App()
        >>> @app.handler("n")
        ... def sink(event):
        ...     pass
        >>> app.source("n", [Event("n", "/doc", i) for i in range(3)])
        >>> frame = app.run().to_frame()
        >>> frame.loc["sink", "clock"], [c for c in frame.columns if c.startswith("latency")]
        ('virtual', ['latency_p50_ms', 'latency_p95_ms', 'latency_p99_ms'])
        """
        rows = []
        for h in self.handlers:
            lat = h.latency() * 1e3
            p50, p95, p99 = (np.percentile(lat, [50, 95, 99]) if lat.size
                             else (np.nan, np.nan, np.nan))
            rows.append({
                "handler": h.name, "topic": h.topic, "group": h.group,
                "events_in": h.events_in, "events_out": h.events_out, "errors": h.errors,
                "dead_letters": h.dead_letters, "retries": h.retries,
                "duplicates": h.duplicates, "breaker_open_s": h.breaker_open_s,
                "events_per_s": h.events_in / self.wall_seconds if self.wall_seconds else np.nan,
                "busy_s": h.busy_seconds, "clock": self.clock,
                "latency_p50_ms": p50, "latency_p95_ms": p95, "latency_p99_ms": p99,
                "lag": sum(self.lag.get(f"{h.topic}/{h.group}", {}).values()),
            })
        return pd.DataFrame(rows, columns=FRAME_COLUMNS).set_index("handler")

    def summary(self) -> str:
        waits = (f", failover pauses: {len(self.waits)} (longest "
                 f"{max(w[2] for w in self.waits):.1f} s)" if self.waits else "")
        return (f"{self.source_events:,} source events in {self.wall_seconds:.3f} s wall "
                f"({self.throughput:,.0f} events/s), clock={self.clock}, "
                f"dead letters={self.dead_letters}, final lag={self.final_lag}{waits}, "
                f"stopped: {self.stopped_by}")

    def __str__(self) -> str:
        with pd.option_context("display.width", 120, "display.max_columns", 20):
            return f"{self.summary()}\n{self.to_frame().to_string(formatters=_FORMATS)}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return f"<p>{self.summary()}</p>" + self.to_frame().to_html(formatters=_FORMATS)


def _number(digits: int):  # noqa: ANN202 (a formatter)
    return lambda value: "" if value != value else f"{value:,.{digits}f}"


#: One precision per column when a run shows itself: whole events/s, ms to 0.01, busy to 1 ms.
_FORMATS = {"events_per_s": _number(0), "busy_s": _number(3), "breaker_open_s": _number(3),
            "latency_p50_ms": _number(2),
            "latency_p95_ms": _number(2), "latency_p99_ms": _number(2)}
