"""Function workloads: an Azure-like generator following the published statistics of Shahrad
et al. (USENIX ATC 2020, *Serverless in the Wild*), and workloads from measured event times.

The generator draws, per function: a trigger (HTTP 55 %, timer 16 %, queue 15 %, event 2 %,
orchestration 7 %, others 5 %: the shares of functions in the paper's figure 2); a mean
execution time (log-normal, log-mean -0.38, sigma 2.36, seconds); memory (Burr XII, c 11.652,
k 0.221, scale 107.083 MB); a daily invocation count, log-normal across functions so that
45 % are invoked at most once an hour and 81 % at most once a minute, shifted per trigger so
that the triggers' mean rates stand as their shares of invocations in figure 2 do (capped at
`max_rate`); timers fire on a fixed period; the others follow a diurnal rate (peak in the
afternoon) with gamma-distributed gaps, bursty (coefficient of variation 1.5 to 4) for 40 % of
all functions and regular (0.2 to 0.7) for the rest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["FunctionSpec", "Workload", "azure_workload", "trace_workload"]

DAY = 86_400.0
# Shares of functions and of invocations by trigger (Shahrad et al., figure 2; "others"
# includes storage): event functions are 2 % of the functions and a quarter of the
# invocations, timers 16 % and 2 %.
TRIGGERS = {"http": 0.55, "timer": 0.16, "queue": 0.15, "event": 0.02, "orchestration": 0.07,
            "other": 0.05}
INVOCATIONS = {"http": 0.36, "timer": 0.02, "queue": 0.34, "event": 0.25,
               "orchestration": 0.02, "other": 0.01}
#: Each trigger's log10 daily invocations are shifted by log10(invocation share / function
#: share), so its functions' mean rates stand in the published proportion (before the
#: `max_rate` cap and timer periods, which are this generator's, bend it).
LOG10_SHIFT = {t: math.log10(INVOCATIONS[t] / TRIGGERS[t]) for t in TRIGGERS}
TIMER_PERIODS = np.array([60, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400], float)
#: log10 of daily invocations (before the shifts) across functions, fitted so that the
#: shifted mixture has P(<= 24/day) = 0.45 and P(<= 1440/day) = 0.81 (Shahrad et al.,
#: figure 5: 45 % of apps invoked at most once an hour, 81 % at most once a minute).
LOG10_DAILY_MEAN, LOG10_DAILY_SIGMA = 1.848, 1.720
BURSTY_SHARE = 0.40
EXEC_SIGMA_WITHIN = 0.5  # spread of one function's execution times around its mean


@dataclass(frozen=True)
class FunctionSpec:
    """One function of a workload: its trigger, mean rate (events per second over the day),
    mean execution time (s), memory (MB), gap coefficient of variation, diurnal amplitude,
    timer period (s, timers only) and, for a measured stream, its event times."""

    name: str
    trigger: str
    rate: float
    exec_mean_s: float
    memory_mb: float
    cv: float = 1.0
    diurnal: float = 0.0
    period: float = 0.0
    times: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Workload:
    """Functions and a horizon (`hours`); each function's events are drawn from its own seeded
    generator, so one function's events do not depend on the others."""

    functions: tuple[FunctionSpec, ...]
    hours: float
    seed: int = 0

    @property
    def horizon(self) -> float:
        """The simulated time, seconds."""
        return self.hours * 3600.0

    def rng(self, i: int) -> np.random.Generator:
        """The generator of function `i`'s events and execution times."""
        return np.random.default_rng([self.seed, i])

    def arrivals(self, i: int, rng: np.random.Generator) -> np.ndarray:
        """Function `i`'s event times in [0, horizon), sorted."""
        spec = self.functions[i]
        if spec.times is not None:
            times = np.sort(np.asarray(spec.times, dtype=float))
            return times[(times >= 0) & (times < self.horizon)]
        if spec.trigger == "timer":
            return np.arange(rng.uniform(0, spec.period), self.horizon, spec.period)
        return _diurnal_gamma(spec, self.horizon, rng)

    def exec_times(self, i: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` execution times of function `i` (log-normal around its mean), seconds."""
        mean = self.functions[i].exec_mean_s
        mu = math.log(mean) - EXEC_SIGMA_WITHIN**2 / 2
        return rng.lognormal(mu, EXEC_SIGMA_WITHIN, n)

    def frame(self) -> pd.DataFrame:
        """The functions as a table, one row each."""
        return pd.DataFrame([{k: v for k, v in vars(f).items() if k != "times"}
                             for f in self.functions]).set_index("name")


def azure_workload(functions: int = 200, hours: float = 24.0, seed: int = 0,
                   max_rate: float = 2.0) -> Workload:
    """An Azure-like workload of `functions` functions over `hours` (see the module's text);
    no function averages more than `max_rate` events per second.

    >>> w = azure_workload(1000, seed=1)
    >>> daily = w.frame().rate * 86400
    >>> round(float((daily <= 24).mean()), 2), round(float((daily <= 1440).mean()), 2)
    (0.44, 0.83)
    >>> w.frame().trigger.value_counts(normalize=True).round(2).to_dict()
    ... # doctest: +NORMALIZE_WHITESPACE
    {'http': 0.56, 'queue': 0.16, 'timer': 0.14, 'orchestration': 0.06, 'other': 0.06,
     'event': 0.02}
    """
    if functions < 1 or not hours > 0 or not max_rate > 0:
        raise ValueError(f"need functions >= 1, hours > 0 and max_rate > 0, got "
                         f"{functions!r}, {hours!r}, {max_rate!r}")
    rng = np.random.default_rng(seed)
    names, shares = list(TRIGGERS), np.array(list(TRIGGERS.values()))
    triggers = rng.choice(names, functions, p=shares / shares.sum())
    shift = np.array([LOG10_SHIFT[t] for t in triggers])
    daily = 10 ** (rng.normal(LOG10_DAILY_MEAN, LOG10_DAILY_SIGMA, functions) + shift)
    rate = np.minimum(daily / DAY, max_rate)
    exec_mean = np.clip(rng.lognormal(-0.38, 2.36, functions), 0.001, 600.0)
    memory = _burr12(rng.random(functions), c=11.652, k=0.221, scale=107.083)
    timers = triggers == "timer"
    bursty = rng.random(functions) < BURSTY_SHARE / (1 - TRIGGERS["timer"])
    cv = np.where(bursty, rng.uniform(1.5, 4.0, functions), rng.uniform(0.2, 0.7, functions))
    specs = []
    for i in range(functions):
        if timers[i]:
            period = float(_nearest_period(1 / rate[i]))
            specs.append(FunctionSpec(f"f{i:03d}", "timer", 1 / period, float(exec_mean[i]),
                                      float(memory[i]), 0.0, 0.0, period))
        else:
            specs.append(FunctionSpec(f"f{i:03d}", str(triggers[i]), float(rate[i]),
                                      float(exec_mean[i]), float(memory[i]), float(cv[i]),
                                      0.5))
    return Workload(tuple(specs), hours, seed)


def trace_workload(times: Mapping[str, Sequence[float]], hours: float, exec_mean_s: float,
                   memory_mb: float = 512.0, trigger: str = "event", seed: int = 0) -> Workload:
    """A workload of measured streams: function name -> its event times (seconds from 0),
    e.g. the fraud transactions of a day, each event a function invocation.

    >>> w = trace_workload({"score": [5.0, 1.0, 90_000.0]}, hours=24, exec_mean_s=0.05)
    >>> w.arrivals(0, w.rng(0)).tolist()
    [1.0, 5.0]
    """
    specs = tuple(FunctionSpec(name, trigger, len(t) / (hours * 3600), exec_mean_s,
                               memory_mb, times=np.asarray(t, dtype=float))
                  for name, t in times.items())
    return Workload(specs, hours, seed)


def _burr12(u: np.ndarray, c: float, k: float, scale: float) -> np.ndarray:
    """Burr XII quantiles of uniforms `u` (inverse CDF)."""
    return scale * ((1 - u) ** (-1 / k) - 1) ** (1 / c)


def _nearest_period(gap: float) -> float:
    return TIMER_PERIODS[np.argmin(np.abs(np.log(TIMER_PERIODS / gap)))]


def _diurnal_gamma(spec: FunctionSpec, horizon: float, rng: np.random.Generator) -> np.ndarray:
    """Gamma renewal gaps in operational time, mapped to clock time through the cumulative
    diurnal intensity ``rate * (1 + a sin(2 pi (t / day - 3/8)))`` (peak at 3 pm)."""
    grid = np.linspace(0.0, horizon, max(2, int(horizon / 60) + 1))
    phase = 2 * np.pi * (grid / DAY - 0.375)
    a = spec.diurnal
    cumulative = spec.rate * (grid + a * DAY / (2 * np.pi) * (np.cos(-2 * np.pi * 0.375)
                                                             - np.cos(phase)))
    total = cumulative[-1]
    shape = 1 / spec.cv**2
    n = int(total * 1.2 + 10 * math.sqrt(total + 1) + 10)
    ops = np.cumsum(rng.gamma(shape, 1 / shape, n))
    while ops[-1] < total:
        ops = np.concatenate([ops, ops[-1] + np.cumsum(rng.gamma(shape, 1 / shape, n))])
    ops = ops[ops < total]
    return np.interp(ops, cumulative, grid)
