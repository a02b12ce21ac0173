"""`sized`: an event stream with a known length, so an `App`'s progress bar shows a total
(a percentage and an ETA) for a generator it cannot measure itself."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from edalab.events import Event

__all__ = ["SizedStream", "sized"]


class SizedStream:
    """`events`, iterated once, announcing `n` as its length."""

    def __init__(self, events: Iterable[Event], n: int):
        if n < 0:
            raise ValueError(f"a stream's length must be >= 0, got {n}")
        self.events, self.n = events, n

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return self.n


def sized(events: Iterable[Event], n: int) -> SizedStream:
    """`events` with the length `n` (what the generator will yield).

    >>> from edalab.streams import vitals, vitals_events
    >>> ward = vitals(patients=2, hours=1, seed=5)
    >>> stream = sized(vitals_events(ward), len(ward))
    >>> len(stream) == len(list(stream))
    True
    """
    return SizedStream(events, n)
