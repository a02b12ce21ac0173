"""`simulate`: one function as an M/G/∞ queue whose idle servers expire, the model of the
SimFaaS simulator (Mahmoudi and Khazaei), in virtual time."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edalab.serverless.engine import FunctionRun, run_function
from edalab.serverless.policies import Fixed
from edalab.serverless.sampling import Dist, draws

__all__ = ["SimResult", "renewal_arrivals", "simulate"]


@dataclass(frozen=True)
class SimResult:
    """The steady-state estimates of one `simulate` run (averages over simulated time)."""

    cold_start_prob: float
    avg_instances: float
    avg_running: float
    avg_idle: float
    events: int
    cold_starts: int
    max_instances: int
    simulated_s: float
    run: FunctionRun

    def __repr__(self) -> str:
        return (f"SimResult(cold_start_prob={self.cold_start_prob:.5f}, "
                f"avg_instances={self.avg_instances:.3f}, avg_running={self.avg_running:.3f}, "
                f"avg_idle={self.avg_idle:.3f}, events={self.events}, "
                f"cold_starts={self.cold_starts})")


def renewal_arrivals(rate: float, max_time: float, rng: np.random.Generator,
                     dist: Dist = None) -> np.ndarray:
    """Arrival times in [0, max_time) of a renewal process with mean gap ``1/rate`` seconds
    (Poisson when `dist` is None, else gaps drawn from `dist`).

    >>> times = renewal_arrivals(2.0, 1000.0, np.random.default_rng(1))
    >>> len(times), bool(times.max() < 1000.0)
    (2021, True)
    """
    _positive("rate", rate)
    mean = 1.0 / rate
    chunk = int(rate * max_time * 1.05) + 64
    times: list[np.ndarray] = []
    last = 0.0
    while last < max_time:
        t = last + np.cumsum(draws(dist, mean, chunk, rng))
        times.append(t)
        last = float(t[-1])
    out = np.concatenate(times)
    return out[out < max_time]


def simulate(arrival_rate: float, warm_service_time: float, cold_service_time: float,
             keep_alive: float, max_time: float, seed: int = 0, *, arrival: Dist = None,
             warm_service: Dist = None, cold_service: Dist = None,
             skip_time: float = 0.0) -> SimResult:
    """Simulate one function for `max_time` seconds: events arrive at `arrival_rate` per
    second; an event served by a warm instance takes `warm_service_time` seconds on average,
    one that needs a new instance `cold_service_time` (platform start, `init` and the
    execution); an instance idle for `keep_alive` seconds stops. Exponential gaps and service
    times unless `arrival`, `warm_service`, `cold_service` give another distribution (see
    `edalab.serverless.sampling.Dist`). Averages skip the first `skip_time` seconds.

    >>> r = simulate(0.9, 1.991, 2.244, 600, max_time=20_000, seed=1)
    >>> r.events, r.cold_starts, round(r.avg_running, 2)
    (18031, 29, 1.79)
    """
    _positive("max_time", max_time)
    if not 0 <= skip_time < max_time:
        raise ValueError(f"skip_time must be in [0, max_time), got {skip_time!r}")
    for name, value in (("arrival_rate", arrival_rate), ("warm_service_time", warm_service_time),
                        ("cold_service_time", cold_service_time)):
        _positive(name, value)
    rng = np.random.default_rng(seed)
    times = renewal_arrivals(arrival_rate, max_time, rng, arrival)
    n = len(times)
    warm = draws(warm_service, warm_service_time, n, rng)
    cold = draws(cold_service, cold_service_time, n, rng)
    run = run_function(times, warm, cold, Fixed(keep_alive), end=max_time)
    span = max_time - skip_time
    counted = times >= skip_time
    running = run.busy_time(skip_time, max_time) / span
    idle = run.idle_time(skip_time, max_time) / span
    cold_starts = int(run.cold[counted].sum())
    events = int(counted.sum())
    return SimResult(cold_starts / events if events else math.nan, running + idle, running,
                     idle, events, cold_starts, _peak(run), max_time, run)


def _peak(run: FunctionRun) -> int:
    """The most instances alive at once (running or idle)."""
    lo = np.concatenate([run.start, run.idle_from])
    hi = np.concatenate([run.finish, run.idle_to])
    steps = np.concatenate([np.ones(len(lo)), -np.ones(len(hi))])
    order = np.lexsort((steps, np.concatenate([lo, hi])))
    return int(np.cumsum(steps[order]).max(initial=0))


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
