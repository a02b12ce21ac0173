"""`Faults`: inject the failures a real pipeline meets into a handler or a dependency, at
seeded rates and at set times, so an experiment gives the same faults on every run."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from functools import wraps
from numbers import Real
from typing import Any, TypeVar

from edalab.resilience.errors import PermanentError, TransientError

__all__ = ["Faults"]

F = TypeVar("F", bound=Callable[..., Any])


def _number(value: object) -> float:
    """`value` as a float; NaN for what is not a number (so every range check fails)."""
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _windows(outage: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The outage windows as (start, end) float pairs with start < end, or a clear error."""
    out = []
    for window in outage:
        if not (isinstance(window, (tuple, list)) and len(window) == 2
                and all(isinstance(t, Real) and not isinstance(t, bool) and math.isfinite(t)
                        for t in window) and window[0] < window[1]):
            raise ValueError(f"outage must be (start, end) pairs of seconds with start < end, "
                             f"got {window!r}")
        out.append((float(window[0]), float(window[1])))
    return out


class Faults:
    """Wraps a callable (``faults.wrap(fn)``, or ``@faults`` as a decorator) and makes its
    calls fail the way a flaky dependency does.

    On each call, in this order: `latency` seconds are added; a call whose first argument
    `poison(arg)` finds poisoned raises `poison_error` (default `PermanentError`; pass
    ``ValueError`` to mimic code you do not own); a call while ``clock()`` is inside one of
    the `outage` windows ``(start, end)`` raises `TransientError`; a call drawn at
    `error_rate` (from a generator seeded with `seed`) raises `TransientError`; any other
    call goes through.

    Latency: with `sleep` (default ``time.sleep``) each call sleeps; under a virtual clock
    pass ``sleep=None`` (the latency is only added up in `latency_total`) or a function that
    advances that clock.

    Counts: `calls`, `failures` (injected), `passed`, and `by_kind` (``"transient"``,
    ``"outage"``, ``"poison"``).

    >>> now = [0.0]
    >>> faults = Faults(error_rate=0.25, outage=[(10, 20)], poison=lambda x: x < 0,
    ...                 seed=1, clock=lambda: now[0])
    >>> double = faults.wrap(lambda x: 2 * x)
    >>> def attempt(x):
    ...     try:
    ...         return double(x)
    ...     except Exception as exc:
    ...         return type(exc).__name__
    >>> [attempt(x) for x in [1, 2, 3, -4, 5, 6]]
    ['TransientError', 4, 6, 'PermanentError', 10, 12]
    >>> now[0] = 15.0
    >>> attempt(7), faults.calls, faults.failures, faults.by_kind
    ('TransientError', 7, 3, {'transient': 1, 'outage': 1, 'poison': 1})
    """

    def __init__(self, error_rate: float = 0.0, outage: Iterable[tuple[float, float]] = (),
                 latency: float = 0.0, poison: Callable[[Any], bool] | None = None,
                 seed: int = 0, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Any] | None = time.sleep,
                 poison_error: type[Exception] = PermanentError) -> None:
        if not 0.0 <= _number(error_rate) <= 1.0:
            raise ValueError(f"error_rate must be a number in [0, 1], got {error_rate!r}")
        if not 0.0 <= _number(latency) < math.inf:
            raise ValueError(f"latency must be a number of seconds >= 0, got {latency!r}")
        if poison is not None and not callable(poison):
            raise TypeError(f"poison must be a predicate on the call's first argument, "
                            f"got {poison!r}")
        if not callable(clock):
            raise TypeError(f"clock must be a callable giving seconds, got {clock!r}")
        if sleep is not None and not callable(sleep):
            raise TypeError(f"sleep must be a callable taking seconds, or None, got {sleep!r}")
        if not (isinstance(poison_error, type) and issubclass(poison_error, Exception)):
            raise TypeError(f"poison_error must be an exception class, got {poison_error!r}")
        self.error_rate = float(error_rate)
        self.outage = _windows(outage)
        self.latency = float(latency)
        self.poison = poison
        self.seed = seed
        self.clock = clock
        self.sleep = sleep
        self.poison_error = poison_error
        self._rng = random.Random(seed)
        self.calls = self.failures = self.passed = 0
        self.latency_total = 0.0
        self.by_kind = {"transient": 0, "outage": 0, "poison": 0}

    def wrap(self, fn: F) -> F:
        """`fn` with these faults injected into every call."""
        @wraps(fn)
        def faulty(*args: Any, **kwargs: Any) -> Any:
            self._inject(args[0] if args else None)
            self.passed += 1
            return fn(*args, **kwargs)
        return faulty  # type: ignore[return-value]  # same signature as fn

    def __call__(self, fn: F) -> F:
        """``@faults`` on a function: the same as `wrap`."""
        return self.wrap(fn)

    def in_outage(self, at: float | None = None) -> bool:
        """Whether `at` (default ``clock()``) falls inside an outage window."""
        now = self.clock() if at is None else at
        return any(start <= now < end for start, end in self.outage)

    def _inject(self, arg: Any) -> None:
        self.calls += 1
        if self.latency:
            self.latency_total += self.latency
            if self.sleep is not None:
                self.sleep(self.latency)
        # Drawn on every call, so a call's draw depends on its number only, not on the
        # outages or poison before it.
        unlucky = self.error_rate and self._rng.random() < self.error_rate
        if self.poison is not None and self.poison(arg):
            self._fail("poison", self.poison_error(f"poison input: {arg!r:.80}"))
        if self.outage and self.in_outage():
            self._fail("outage", TransientError("dependency unavailable (injected outage)"))
        if unlucky:
            self._fail("transient", TransientError("injected transient fault"))

    def _fail(self, kind: str, error: Exception) -> None:
        self.failures += 1
        self.by_kind[kind] += 1
        raise error

    def __repr__(self) -> str:
        return (f"Faults(error_rate={self.error_rate!r}, outage={self.outage!r}, "
                f"latency={self.latency!r}, poison={self.poison!r}, seed={self.seed!r})")
