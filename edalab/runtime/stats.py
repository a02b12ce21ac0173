"""Run statistics of an `App` run: per-handler counts, throughput, latency percentiles, lag."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

__all__ = ["HandlerStats", "RunStats"]


def _seconds(times: list) -> np.ndarray:
    """Floats as they are; datetimes as seconds since the epoch."""
    if times and isinstance(times[0], datetime):
        return pd.DatetimeIndex(times).as_unit("us").asi8 / 1e6
    return np.asarray(times, dtype=float)


@dataclass
class HandlerStats:
    """Counters and latency samples of one handler during a run.

    Latency is from the input event's arrival to the end of its handling: in wall time, broker
    append to handler done (seconds); in virtual time, how far the stream's clock had moved
    past the event's own time when it was handled (seconds of event time).
    """

    name: str
    topic: str
    group: str
    events_in: int = 0
    events_out: int = 0
    errors: int = 0
    dead_letters: int = 0
    busy_seconds: float = 0.0
    _starts: list = field(default_factory=list, repr=False)  # sampled events' start times
    _ends: list = field(default_factory=list, repr=False)  # one end time per sampled batch
    _counts: list[int] = field(default_factory=list, repr=False)

    def sample(self, end: float | datetime, starts: list) -> None:
        """Record a batch's sampled start times and its end (cheap: no per-event math)."""
        self._starts += starts
        self._ends.append(end)
        self._counts.append(len(starts))

    def latency(self) -> np.ndarray:
        """All latency samples, in seconds."""
        if not self._ends:
            return np.empty(0)
        ends = np.repeat(_seconds(self._ends), self._counts)
        return ends - _seconds(self._starts)


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

    @property
    def timeline(self) -> pd.DataFrame:
        """One row per run-loop step and handler stream (``topic/group``): wall seconds, the
        app's clock, source events published so far, and the stream's lag after the step."""
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
        """One row per handler: counts, throughput, latency percentiles, final lag."""
        unit = "ms" if self.clock == "wall" else "s"
        scale = 1e3 if self.clock == "wall" else 1.0
        rows = []
        for h in self.handlers:
            lat = h.latency() * scale
            p50, p95, p99 = (np.percentile(lat, [50, 95, 99]) if lat.size
                             else (np.nan, np.nan, np.nan))
            rows.append({
                "handler": h.name, "topic": h.topic, "group": h.group,
                "events_in": h.events_in, "events_out": h.events_out, "errors": h.errors,
                "dead_letters": h.dead_letters,
                "events_per_s": h.events_in / self.wall_seconds if self.wall_seconds else np.nan,
                "busy_s": h.busy_seconds,
                f"p50_{unit}": p50, f"p95_{unit}": p95, f"p99_{unit}": p99,
                "lag": sum(self.lag.get(f"{h.topic}/{h.group}", {}).values()),
            })
        return pd.DataFrame(rows).set_index("handler")

    def summary(self) -> str:
        return (f"{self.source_events:,} source events in {self.wall_seconds:.3f} s wall "
                f"({self.throughput:,.0f} events/s), clock={self.clock}, "
                f"dead letters={self.dead_letters}, final lag={self.final_lag}, "
                f"stopped: {self.stopped_by}")

    def __str__(self) -> str:
        with pd.option_context("display.width", 120, "display.max_columns", 20,
                               "display.float_format", "{:,.3f}".format):
            return f"{self.summary()}\n{self.to_frame().to_string()}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return f"<p>{self.summary()}</p>" + self.to_frame().to_html(float_format="{:,.3f}".format)
