"""`Backoff`: how long to wait before the next attempt of a failed event.

Delays are seconds of whatever clock runs the retries (virtual time in a notebook, wall time
in a worker). Jitter spreads retries of many events that failed together, so they do not all
hit the recovering dependency at the same instant; it draws from a seeded generator, so a run
gives the same delays every time.
"""

from __future__ import annotations

import math
import random
from numbers import Real
from typing import Literal

__all__ = ["Backoff"]

Jitter = Literal["full", "equal", "none"]
_JITTERS = ("full", "equal", "none")


def _seconds(name: str, value: object, *, positive: bool = False) -> float:
    """`value` as a finite number of seconds (> 0 when `positive`, else >= 0), or a clear
    error naming `name`."""
    if not isinstance(value, Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__} "
                        f"{value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise ValueError(f"{name} must be a finite number of seconds "
                         f"{'> 0' if positive else '>= 0'}, got {value!r}")
    return number


class Backoff:
    """Delays before retries: fixed, or growing exponentially up to a cap, with jitter.

    Build one with `Backoff.fixed` or `Backoff.exponential`; `delay(attempt)` is the wait
    after the `attempt`-th failed attempt (1 for the first).

    >>> Backoff.fixed(2.0).delay(5)
    2.0
    >>> b = Backoff.exponential(initial=0.1, factor=2.0, max=1.0, jitter="none")
    >>> [b.delay(n) for n in range(1, 6)]
    [0.1, 0.2, 0.4, 0.8, 1.0]
    >>> full = Backoff.exponential(initial=1.0, jitter="full", seed=7)
    >>> [round(full.delay(3), 3) for _ in range(2)]  # uniform in [0, 4): same seed, same draws
    [1.295, 0.603]
    >>> b
    Backoff.exponential(initial=0.1, factor=2.0, max=1.0, jitter='none', seed=0)
    """

    def __init__(self, initial: float, factor: float, max: float, jitter: Jitter,
                 seed: int | None) -> None:
        self.initial = initial
        self.factor = factor
        self.max = max
        self.jitter = jitter
        self.seed = seed
        self._rng = random.Random(seed)

    @classmethod
    def fixed(cls, delay: float) -> Backoff:
        """The same `delay` (seconds, >= 0) before every retry."""
        seconds = _seconds("delay", delay)
        return cls(seconds, 1.0, seconds, "none", None)

    @classmethod
    def exponential(cls, initial: float = 0.1, factor: float = 2.0, max: float = 30.0,
                    jitter: Jitter = "full", seed: int | None = 0) -> Backoff:
        """``initial * factor ** (attempt - 1)`` seconds, at most `max`, then jittered:
        ``"full"`` draws uniformly in [0, d), ``"equal"`` in [d/2, d), ``"none"`` keeps d."""
        initial = _seconds("initial", initial, positive=True)
        cap = _seconds("max", max, positive=True)
        growth = float(factor) if isinstance(factor, Real) and not isinstance(factor, bool) \
            else math.nan
        if not 1 <= growth < math.inf:
            raise ValueError(f"factor must be a finite number >= 1, got {factor!r}")
        if cap < initial:
            raise ValueError(f"max ({max!r}) must be at least initial ({initial!r})")
        if jitter not in _JITTERS:
            raise ValueError(f"jitter must be one of {', '.join(map(repr, _JITTERS))}, "
                             f"got {jitter!r}")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise TypeError(f"seed must be an int or None, got {type(seed).__name__} {seed!r}")
        return cls(initial, growth, cap, jitter, seed)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failed attempt (1 for the first)."""
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
            raise ValueError(f"attempt must be an int >= 1, got {attempt!r}")
        try:
            base = min(self.max, self.initial * self.factor ** (attempt - 1))
        except OverflowError:  # factor ** attempt beyond a float: long past the cap
            base = self.max
        if self.jitter == "full":
            return self._rng.uniform(0.0, base)
        if self.jitter == "equal":
            return base / 2 + self._rng.uniform(0.0, base / 2)
        return base

    def __repr__(self) -> str:
        if self.factor == 1.0 and self.jitter == "none" and self.seed is None:
            return f"Backoff.fixed({self.initial!r})"
        return (f"Backoff.exponential(initial={self.initial!r}, factor={self.factor!r}, "
                f"max={self.max!r}, jitter={self.jitter!r}, seed={self.seed!r})")
