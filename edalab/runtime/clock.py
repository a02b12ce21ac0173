"""Clocks for `App`: virtual time (event time drives the clock) and wall time.

Virtual time makes runs reproducible: "now" is the latest event time the sources have
produced, so windows, timeouts and latencies come out the same on every run. Wall time is
for benchmarks: latencies are real seconds.

>>> from datetime import datetime, timezone
>>> clock = VirtualClock()
>>> clock.advance(datetime(2024, 1, 1, 12, tzinfo=timezone.utc))
>>> clock.now().hour
12
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["Clock", "VirtualClock", "WallClock", "make_clock"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Clock:
    """What `App` asks of a clock."""

    name = "clock"

    def now(self) -> datetime:
        raise NotImplementedError

    def advance(self, event_time: datetime) -> None:
        """The sources reached `event_time` (only virtual clocks move with it)."""


class VirtualClock(Clock):
    """Now is the latest event time published by the sources (the stream frontier)."""

    name = "virtual"

    def __init__(self) -> None:
        self._now = _EPOCH

    def now(self) -> datetime:
        return self._now

    def advance(self, event_time: datetime) -> None:
        if event_time > self._now:
            self._now = event_time


class WallClock(Clock):
    """Now is the machine's UTC time."""

    name = "wall"

    def now(self) -> datetime:
        return datetime.now(UTC)


def make_clock(clock: str | Clock) -> Clock:
    """A clock from its name (``"virtual"`` or ``"wall"``) or a `Clock` instance."""
    if isinstance(clock, Clock):
        return clock
    if clock == "virtual":
        return VirtualClock()
    if clock == "wall":
        return WallClock()
    raise ValueError(f"clock must be 'virtual', 'wall' or a Clock, got {clock!r}")


