"""Keep-alive policies: how long an idle function instance stays warm.

A policy is a factory: ``policy.start()`` gives the state of one function, whose
``window(t)`` says, for the function's instance that falls idle at ``t`` when no other is
running, from when it is warm and until when it is kept (``(ready, expires)``, seconds);
``extra_window(t)`` says the same for an *extra* instance, one that falls idle while another
still runs; ``observe(idle_time)`` lets a learning policy see each idle time of the function,
from the end of its last execution to the next event (0 if an instance is still running).

This is how Shahrad et al. (USENIX ATC 2020, section 4) simulate their policies: per
application, one image loaded or not, concurrency not modelled. Their policy decides when the
image is loaded; it has nothing to say about extra instances, so every policy here keeps an
extra instance as the 10-minute keep-alive (the state of practice they compare with) does:
`Fixed` keeps every instance its `keep_alive`, `Hybrid` keeps extras `extra_keep_alive`
(600 s). Against ``Fixed(600)`` the two differ only on the image, the paper's comparison.
``pinned`` instances are warm from the start and never expire; ``concurrency`` (if not None)
caps the function's running instances.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

import numpy as np

__all__ = ["AlwaysOn", "Fixed", "Hybrid", "Provisioned"]

INF = math.inf


class _FixedState:
    learns = False

    def __init__(self, keep_alive: float) -> None:
        self.keep_alive = keep_alive

    def window(self, t: float) -> tuple[float, float]:
        return t, t + self.keep_alive

    extra_window = window

    def observe(self, idle_time: float) -> None:  # pragma: no cover - never called
        pass


@dataclass(frozen=True)
class Fixed:
    """Keep an idle instance warm for `keep_alive` seconds (AWS-like 600 s, Azure-like 1200 s),
    the function's last running instance and its extra ones alike.

    >>> Fixed(600).start().window(100.0)
    (100.0, 700.0)
    """

    keep_alive: float = 600.0
    pinned: int = 0
    concurrency: int | None = None

    def __post_init__(self) -> None:
        if not self.keep_alive >= 0:
            raise ValueError(f"keep_alive must be >= 0 seconds, got {self.keep_alive!r}")

    @property
    def name(self) -> str:
        return f"fixed-{self.keep_alive:g}s"

    def start(self) -> _FixedState:
        return _FixedState(self.keep_alive)


@dataclass(frozen=True)
class Provisioned:
    """`instances` always warm (AWS provisioned concurrency); beyond them, on-demand instances
    kept `keep_alive` seconds.

    >>> Provisioned(2).pinned, Provisioned(2).name
    (2, 'provisioned-2')
    """

    instances: int = 1
    keep_alive: float = 600.0
    concurrency: int | None = None

    def __post_init__(self) -> None:
        _check_instances(self.instances)

    pinned = property(lambda self: self.instances)
    name = property(lambda self: f"provisioned-{self.instances}")

    def start(self) -> _FixedState:
        return _FixedState(self.keep_alive)


@dataclass(frozen=True)
class AlwaysOn:
    """A fixed pool of `instances` workers, always running: no cold start, no scaling;
    events beyond the pool wait (the baseline serverless is compared with).

    >>> p = AlwaysOn(3); (p.pinned, p.concurrency, p.name)
    (3, 3, 'always-on-3')
    """

    instances: int = 1

    def __post_init__(self) -> None:
        _check_instances(self.instances)

    pinned = property(lambda self: self.instances)
    concurrency = property(lambda self: self.instances)
    name = property(lambda self: f"always-on-{self.instances}")

    def start(self) -> _FixedState:
        return _FixedState(INF)


def _check_instances(instances: int) -> None:
    if not (isinstance(instances, int) and instances >= 1):
        raise ValueError(f"instances must be an integer >= 1, got {instances!r}")


class _HybridState:
    learns = True

    def __init__(self, policy: Hybrid) -> None:
        self.p = policy
        self.bins = int(policy.range_s // policy.bin_s)
        # Plain lists and running sums: `observe` runs once per event, on the hot path.
        self.counts = [0] * self.bins
        self.total = self.sumsq = self.oob = 0
        self.recent: deque[float] = deque(maxlen=policy.history)
        self.dirty = False
        self.computed_at = -INF
        self.prewarm, self.keep = 0.0, policy.range_s

    def observe(self, idle_time: float) -> None:
        b = int(idle_time // self.p.bin_s)
        if b < self.bins:
            c = self.counts[b]
            self.counts[b] = c + 1
            self.total += 1
            self.sumsq += 2 * c + 1
        else:
            self.oob += 1
        self.recent.append(idle_time)
        self.dirty = True

    def window(self, t: float) -> tuple[float, float]:
        # Recomputed at most once per bin width of simulated time: the histogram of a busy
        # function changes by one count per event, its percentiles far more slowly.
        if self.dirty and t - self.computed_at >= self.p.bin_s:
            self.prewarm, self.keep = self.p._decide(self.counts, self.total, self.sumsq,
                                                     self.oob, self.recent)
            self.dirty, self.computed_at = False, t
        return t + self.prewarm, t + self.keep

    def extra_window(self, t: float) -> tuple[float, float]:
        return t, t + self.p.extra_keep_alive


@dataclass(frozen=True)
class Hybrid:
    """The hybrid histogram policy of Shahrad et al. (USENIX ATC 2020): a per-function
    histogram of idle times (`bin_s` bins over `range_s`); an idle instance is unloaded and
    pre-warmed at the `head` percentile minus `margin`, and kept until the `tail` percentile
    plus `margin`.

    A function whose idle times are mostly beyond the range (more than `oob_share` of them)
    is, with ``oob="forecast"`` (the paper's way), unloaded after each execution, pre-warmed
    at its forecast next idle time minus `forecast_margin` and kept until the forecast plus
    `forecast_margin`. The forecast is the median of its last `history` idle times: a
    stand-in for the paper's ARIMA model, exact for a periodic function. With ``oob="keep"``
    such a function keeps its instances for the whole range instead, as it does whenever
    the histogram is not representative (bin counts' coefficient of variation under
    `cv_threshold`).

    The windows are the paper's, for the function's image: the instance that ends its
    execution (no other running), learnt from the function's idle times (the end of its last
    execution to the next event). An extra instance, one that finishes while another still
    runs, exists only because the simulator models concurrency, which the paper does not: it
    is kept `extra_keep_alive` seconds, as the 10-minute keep-alive keeps it, so that against
    ``Fixed(600)`` only the policy itself differs.

    >>> h = Hybrid()
    >>> counts = np.zeros(240, dtype=int); counts[30] = 20  # always idle 30-31 minutes
    >>> h.windows(counts, oob=0)
    (1620.0, 2046.0)
    >>> h.windows(np.ones(240, dtype=int), oob=0)  # flat: not representative
    (0.0, 14400.0)
    >>> h.windows(np.zeros(240, dtype=int), oob=3, recent=[21600.0] * 3)  # every 6 hours
    (18360.0, 24840.0)
    >>> Hybrid(oob="keep").windows(np.zeros(240, dtype=int), oob=3, recent=[21600.0] * 3)
    (0.0, 14400.0)
    """

    bin_s: float = 60.0
    range_s: float = 4 * 3600.0
    head: float = 5.0
    tail: float = 99.0
    margin: float = 0.10
    cv_threshold: float = 2.0
    oob_share: float = 0.5
    oob: str = "forecast"
    history: int = 5
    forecast_margin: float = 0.15
    extra_keep_alive: float = 600.0
    pinned: int = 0
    concurrency: int | None = None
    name: str = "hybrid"

    def __post_init__(self) -> None:
        if self.oob not in ("forecast", "keep"):
            raise ValueError(f"oob must be 'forecast' or 'keep', got {self.oob!r}")
        if not (isinstance(self.history, int) and self.history >= 1):
            raise ValueError(f"history must be an integer >= 1, got {self.history!r}")
        if not 0 <= self.forecast_margin < 1:
            raise ValueError(f"forecast_margin must be in [0, 1), got {self.forecast_margin!r}")
        if not self.extra_keep_alive >= 0:
            raise ValueError(f"extra_keep_alive must be >= 0 seconds, got "
                             f"{self.extra_keep_alive!r}")

    def start(self) -> _HybridState:
        return _HybridState(self)

    def windows(self, counts: np.ndarray, oob: int,
                recent: Sequence[float] = ()) -> tuple[float, float]:
        """(pre-warm delay, keep-until) after an instance falls idle, in seconds, from the
        histogram's bin `counts`, the `oob` count of idle times beyond it and the `recent`
        idle times (latest last)."""
        values = [int(c) for c in counts]
        return self._decide(values, sum(values), sum(c * c for c in values), oob, recent)

    def _decide(self, counts: list[int], total: int, sumsq: int, oob: int,
                recent: Sequence[float]) -> tuple[float, float]:
        mostly_oob = oob > self.oob_share * (total + oob)
        if mostly_oob and self.oob == "forecast" and len(recent):
            forecast = float(np.median(recent))
            return (round(forecast * (1 - self.forecast_margin), 3),
                    round(forecast * (1 + self.forecast_margin), 3))
        if not total or mostly_oob:
            return 0.0, self.range_s
        mean = total / len(counts)
        if sumsq / len(counts) - mean * mean < (self.cv_threshold * mean) ** 2:
            return 0.0, self.range_s  # bin counts' CV under the threshold: not representative
        cumulative = list(accumulate(counts))
        head_bin = bisect_left(cumulative, self.head / 100 * total)
        tail_bin = bisect_left(cumulative, self.tail / 100 * total)
        prewarm = head_bin * self.bin_s * (1 - self.margin)
        return round(prewarm, 3), round((tail_bin + 1) * self.bin_s * (1 + self.margin), 3)
