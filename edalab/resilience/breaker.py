"""`CircuitBreaker`: stop calling a dependency that keeps failing, and probe it back.

Written here rather than taken from pybreaker or purgatory because a breaker's timing must
follow the app's clock: under a virtual clock (a notebook) the breaker opens and half-opens
at the same instants on every run, which those libraries, reading wall time, cannot do.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from numbers import Real
from typing import Any, Literal, TypeVar

from edalab.events import Event
from edalab.resilience.errors import BreakerOpen, PermanentError

__all__ = ["CircuitBreaker"]

State = Literal["closed", "open", "half-open"]
T = TypeVar("T")


def _number(name: str, value: object, low: float, high: float = math.inf, *,
            low_open: bool = False) -> float:
    """`value` as a float in [low, high] ((low, high] when `low_open`), or a clear error."""
    number = float(value) if isinstance(value, Real) and not isinstance(value, bool) \
        else math.nan
    if math.isnan(number) or not (low < number if low_open else low <= number) \
            or number > high:
        bound = f"{'>' if low_open else '>='} {low:g}" + (f" and <= {high:g}"
                                                          if high != math.inf else "")
        raise ValueError(f"{name} must be a number {bound}, got {value!r}")
    return number


def _count(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


class CircuitBreaker:
    """Closed -> open -> half-open -> closed, over the last `window` calls.

    Closed: calls go through; once the last `window` calls hold at least `failure_rate`
    failures, it opens. Open: calls fail fast with `BreakerOpen` for `open_for` seconds of
    `clock`. Half-open: up to `half_open_calls` probes go through; all succeeding closes it
    (its window starts again from them), one failing opens it again.

    Use it as ``breaker.call(fn, *args)``, or, when the call is made elsewhere, as
    ``if breaker.allow(): ... breaker.record(success)``. `call` counts every exception as a
    failure except the `exclude` types (by default `PermanentError`: the input was bad, not
    the dependency). Each state change is kept as a ``breaker.state`` event until `events()`
    drains them (for an App to publish on a ``breaker`` topic).

    `clock` gives seconds (default ``time.time``); pass a virtual one for reproducible runs,
    such as an App's: ``clock=lambda: app.clock.now().timestamp()``.

    >>> now = [0.0]
    >>> breaker = CircuitBreaker(failure_rate=0.5, window=4, open_for=10.0,
    ...                          half_open_calls=1, name="model", clock=lambda: now[0])
    >>> for ok in (True, False, True, False):
    ...     breaker.record(ok)
    >>> breaker.state, breaker.allow()
    ('open', False)
    >>> now[0] = 10.0
    >>> breaker.allow(), breaker.state  # open_for has passed: one probe goes through
    (True, 'half-open')
    >>> breaker.record(True)
    >>> [(e.data["from"], e.data["to"], e.data["at"]) for e in breaker.events()]
    [('closed', 'open', 0.0), ('open', 'half-open', 10.0), ('half-open', 'closed', 10.0)]
    """

    def __init__(self, failure_rate: float = 0.5, window: int = 20, open_for: float = 30.0,
                 half_open_calls: int = 3, *, name: str = "breaker",
                 clock: Callable[[], float] = time.time,
                 exclude: tuple[type[BaseException], ...] = (PermanentError,)) -> None:
        self.failure_rate = _number("failure_rate", failure_rate, 0.0, 1.0, low_open=True)
        self.window = _count("window", window)
        self.open_for = _number("open_for", open_for, 0.0)
        self.half_open_calls = _count("half_open_calls", half_open_calls)
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty str, got {name!r}")
        if not callable(clock):
            raise TypeError(f"clock must be a callable giving seconds, got {clock!r}")
        self.name = name
        self.clock = clock
        self.exclude = exclude
        self._results: deque[bool] = deque(maxlen=self.window)
        self._failed = 0      # failures in _results, kept as they come and go
        self._state: State = "closed"
        self._opened_at = 0.0
        self._probes = 0      # half-open: probes let through
        self._successes = 0   # half-open: probes that succeeded
        self._events: list[Event] = []
        self.calls = 0        # calls let through
        self.failures = 0     # failures recorded
        self.rejected = 0     # calls refused while open

    @property
    def state(self) -> State:
        """``"closed"``, ``"open"`` or ``"half-open"`` now (an open breaker whose `open_for`
        has passed is half-open)."""
        if self._state == "open" and self.clock() >= self._opened_at + self.open_for:
            self._move("half-open")
        return self._state

    def allow(self) -> bool:
        """Whether a call may go through now; a refusal is counted in `rejected`."""
        state = self.state
        if state == "closed" or (state == "half-open" and self._probes < self.half_open_calls):
            self._probes += state == "half-open"
            self.calls += 1
            return True
        self.rejected += 1
        return False

    def record(self, success: bool) -> None:
        """The outcome of a call that `allow` let through."""
        self.failures += not success
        state = self.state
        if state == "closed":
            self._remember(success)
            if len(self._results) == self.window and self._rate() >= self.failure_rate:
                self._move("open")
        elif state == "half-open":
            self._remember(success)
            if not success:
                self._move("open")
            else:
                self._successes += 1
                if self._successes >= self.half_open_calls:
                    self._move("closed")
        # open: a call let through before the breaker opened; its outcome changes nothing

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` through the breaker: `BreakerOpen` without calling it when
        open, the outcome recorded otherwise."""
        if not self.allow():
            raise BreakerOpen(self.name, self.retry_after())
        try:
            result = fn(*args, **kwargs)
        except self.exclude:
            self.record(True)  # the dependency answered; the input was at fault
            raise
        except Exception:
            self.record(False)
            raise
        self.record(True)
        return result

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self.state != "open":
            return 0.0
        return max(0.0, self._opened_at + self.open_for - self.clock())

    def events(self) -> list[Event]:
        """The ``breaker.state`` events of the state changes since the last call, oldest
        first (then forgotten)."""
        out, self._events = self._events, []
        return out

    def _remember(self, success: bool) -> None:
        results = self._results
        if len(results) == self.window:
            self._failed -= not results[0]  # the oldest outcome slides out
        results.append(success)
        self._failed += not success

    def _rate(self) -> float:
        return self._failed / len(self._results) if self._results else 0.0

    def _move(self, to: State) -> None:
        now = self.clock()
        data = {"name": self.name, "from": self._state, "to": to,
                "failure_rate": round(self._rate(), 6), "at": now}
        self._events.append(Event("breaker.state", f"/edalab/breakers/{self.name}", data,
                                  key=self.name, time=datetime.fromtimestamp(now, UTC)))
        self._state = to
        if to == "open":
            self._opened_at = now
        elif to == "half-open":  # the window starts again from the probes
            self._probes = self._successes = 0
            self._results.clear()
            self._failed = 0

    def __repr__(self) -> str:
        return (f"CircuitBreaker(failure_rate={self.failure_rate!r}, window={self.window}, "
                f"open_for={self.open_for!r}, half_open_calls={self.half_open_calls}, "
                f"name={self.name!r}, state={self._state!r})")
