"""The lag-trend SLO of Theodolite: after a warm-up, the consumer group's total lag must not
grow faster than a threshold.

An app keeps up with its load when its lag (records published but not yet processed) stays
flat; when it does not, the lag grows by the difference between the offered and the
processed rate. The SLO fits a least-squares line to the lag over time after the warm-up and
compares its slope, in records per second, with the threshold: 2000 records/s in Theodolite,
for runs of several minutes at loads of tens of thousands of records per second.

>>> slo = LagTrendSLO(threshold=100.0, warmup=2.0)
>>> seconds = [0, 1, 2, 3, 4, 5]
>>> slo.slope(seconds, [0, 900, 10, 20, 30, 40]), slo.met(seconds, [0, 900, 10, 20, 30, 40])
(10.0, True)
>>> slo.met(seconds, [0, 0, 0, 500, 1000, 1500])
False
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PUBLISHED_THRESHOLD", "LagTrendSLO"]

#: Theodolite's threshold, records per second.
PUBLISHED_THRESHOLD = 2000.0


@dataclass(frozen=True)
class LagTrendSLO:
    """Least-squares slope of the total lag over time, after `warmup` seconds, below
    `threshold` records per second.

    Parameters
    ----------
    threshold
        Largest lag growth, records per second, that still meets the SLO.
    warmup
        Seconds from the start of the load that are not fitted (instances joining, caches
        and windows filling): 60 s in Theodolite.
    """

    threshold: float = PUBLISHED_THRESHOLD
    warmup: float = 60.0

    def __post_init__(self) -> None:
        if not self.threshold > 0:
            raise ValueError(f"threshold must be > 0 records/s, got {self.threshold!r}")
        if not self.warmup >= 0:
            raise ValueError(f"warmup must be >= 0 seconds, got {self.warmup!r}")

    @classmethod
    def scaled(cls, load: float, duration: float, fraction: float = 0.05) -> LagTrendSLO:
        """The SLO for a short run at `load` records/s lasting `duration` seconds: the
        threshold `fraction` of the load (the app may fall behind by at most 5 % of what
        is offered; Theodolite's 2000 records/s is 2 % of a 100,000 records/s load) and the
        first quarter of the run as warm-up.

        >>> LagTrendSLO.scaled(load=4000, duration=20)
        LagTrendSLO(threshold=200.0, warmup=5.0)
        """
        if not load > 0 or not duration > 0:
            raise ValueError(f"load and duration must be > 0, got {load!r} and {duration!r}")
        return cls(threshold=fraction * load, warmup=duration / 4)

    def slope(self, seconds: Sequence[float], lag: Sequence[float]) -> float:
        """The least-squares slope, records per second, of `lag` over `seconds` (from the
        start of the load) after the warm-up; `ValueError` if fewer than two samples or
        one instant remain."""
        t = np.asarray(seconds, dtype=float)
        y = np.asarray(lag, dtype=float)
        if t.shape != y.shape or t.ndim != 1:
            raise ValueError(f"seconds and lag must be two series of one length, got "
                             f"{t.shape} and {y.shape}")
        keep = t >= self.warmup
        t, y = t[keep], y[keep]
        if len(t) < 2 or np.ptp(t) == 0:
            raise ValueError(f"{len(t)} lag sample(s) after the {self.warmup:g} s warm-up: "
                             "a trend needs at least two at different times (run longer, "
                             "or sample more often)")
        dt = t - t.mean()
        return float(dt @ (y - y.mean()) / (dt @ dt))

    def met(self, seconds: Sequence[float], lag: Sequence[float]) -> bool:
        """Whether the lag trend stays below the threshold."""
        return self.slope(seconds, lag) < self.threshold
