"""`simulate_platform`: many functions under one keep-alive policy, in virtual time, with the
metrics a researcher compares policies by (cold starts, latency, throttling, wasted memory,
instances over time, utilisation, cost)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from edalab.serverless.cost import Prices, billed_gb_s
from edalab.serverless.engine import FunctionRun, coverage, run_function
from edalab.serverless.policies import AlwaysOn
from edalab.serverless.sampling import Dist, draws
from edalab.serverless.workload import FunctionSpec, Workload

__all__ = ["PlatformResult", "simulate_platform"]

#: The cold start a simulated function pays on top of its execution when none is given:
#: exponential with this mean, seconds (platform start plus `init`; `edalab bench
#: serverless` passes the distribution it measures for real instead).
COLD_START_S = 1.0


@dataclass(frozen=True)
class PlatformResult:
    """One policy over a workload: a row per function (`functions`), every counted event's
    latency and cold flag, and instances over time (`timeline`, per `bin_s`)."""

    policy: str
    functions: pd.DataFrame
    latency: np.ndarray
    cold: np.ndarray
    timeline: pd.DataFrame
    hours: float

    def summary(self) -> dict[str, Any]:
        """The headline metrics: cold-start share (of events), the 75th percentile of the
        functions' cold-start shares (Shahrad et al.'s measure), latency p50/p99 in ms (all
        events, and warm ones only), throttled events, wasted memory (GB-s of idle
        instances), utilisation (busy share of instance time), cost and cost per million."""
        f = self.functions
        warm = self.latency[~self.cold]
        events = int(f.events.sum())
        share = f.cold_starts / f.events
        instance_s = f.busy_s.sum() + f.idle_s.sum()
        return {
            "policy": self.policy, "events": events,
            "cold_start_share": float(self.cold.mean()) if events else 0.0,
            "app_cold_share_p75": float(share[f.events > 0].quantile(0.75)),
            "p50_ms": _ms(self.latency, 50), "p99_ms": _ms(self.latency, 99),
            "p50_warm_ms": _ms(warm, 50), "p99_warm_ms": _ms(warm, 99),
            "throttled": int(f.throttled.sum()),
            "wasted_gb_s": float(f.wasted_gb_s.sum()),
            "utilisation": float(f.busy_s.sum() / instance_s) if instance_s else 0.0,
            "cost": float(f.cost.sum()),
            "cost_per_million": float(f.cost.sum() / events * 1e6) if events else 0.0,
        }


def _ms(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q) * 1000) if len(values) else float("nan")


Policy = Any  # Fixed, Hybrid, Provisioned, AlwaysOn: see edalab.serverless.policies


def simulate_platform(workload: Workload, policy: Policy | Callable[[FunctionSpec], Policy], *,
                      cold_start: Dist = None, concurrency: int | None = None,
                      warmup_hours: float = 0.0, bin_s: float = 60.0,
                      prices: Prices | None = None, name: str | None = None,
                      ) -> PlatformResult:
    """Run every function of `workload` under `policy` (or ``policy(spec)`` per function).

    A cold start adds a draw of `cold_start` (exponential, mean `COLD_START_S`, by default)
    to the execution; `concurrency` caps each function's running instances (events beyond
    it wait); metrics count the events and time after `warmup_hours` (the time a learning
    policy trains in), instance time included. `name` names the policy in the result.

    >>> from edalab.serverless import Fixed
    >>> from edalab.serverless.workload import azure_workload
    >>> r = simulate_platform(azure_workload(20, hours=2, seed=3), Fixed(600))
    >>> s = r.summary(); s["events"], round(s["cold_start_share"], 4)
    (6093, 0.0118)
    """
    prices = prices or Prices()
    begin, end = warmup_hours * 3600.0, workload.horizon
    if not 0 <= begin < end:
        raise ValueError(f"warmup_hours must be in [0, hours), got {warmup_hours!r}")
    edges = np.arange(begin, end + bin_s, bin_s)
    rows, latencies, colds = [], [], []
    instances, running, memory = (np.zeros(len(edges) - 1) for _ in range(3))
    for i, spec in enumerate(workload.functions):
        p = policy(spec) if callable(policy) else policy
        if concurrency is not None:
            p = dataclasses.replace(p, concurrency=concurrency)
        rng = workload.rng(i)
        times = workload.arrivals(i, rng)
        warm = workload.exec_times(i, len(times), rng)
        cold = warm + draws(cold_start, COLD_START_S, len(times), rng)
        run = run_function(times, warm, cold, p, end=end)
        counted = times >= begin
        latencies.append(run.latency[counted])
        colds.append(run.cold[counted])
        busy = coverage(run.start, run.finish, edges)
        alive = busy + coverage(run.idle_from, run.idle_to, edges)
        running += busy
        instances += alive
        memory += alive * spec.memory_mb / 1024
        rows.append(_row(spec, p, run, counted, begin, end, prices))
    timeline = pd.DataFrame({"time_h": edges[:-1] / 3600, "instances": instances,
                             "running": running, "memory_gb": memory})
    name = name or str(getattr(policy, "name", getattr(policy, "__name__", "policy")))
    return PlatformResult(name, pd.DataFrame(rows).set_index("name"),
                          np.concatenate(latencies), np.concatenate(colds), timeline,
                          (end - begin) / 3600)


def _row(spec: FunctionSpec, policy: Policy, run: FunctionRun, counted: np.ndarray,
         begin: float, end: float, prices: Prices) -> dict[str, Any]:
    gb = spec.memory_mb / 1024
    idle_s = run.idle_time(begin, end)
    events = int(counted.sum())
    if isinstance(policy, AlwaysOn):
        cost = policy.instances * prices.worker_hour(spec.memory_mb) * (end - begin) / 3600
    else:
        durations = run.finish[counted] - run.start[counted]
        cost = prices.lambda_cost(events, billed_gb_s(durations, spec.memory_mb))
        cost += policy.pinned * gb * (end - begin) * prices.provisioned_per_gb_s
    return {"name": spec.name, "trigger": spec.trigger, "memory_mb": spec.memory_mb,
            "events": events, "cold_starts": int(run.cold[counted].sum()),
            "throttled": int((run.start[counted] > run.arrival[counted]).sum()),
            "busy_s": run.busy_time(begin, end), "idle_s": idle_s,
            "wasted_gb_s": idle_s * gb, "cost": cost}
