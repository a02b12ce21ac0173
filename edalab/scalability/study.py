"""A scalability study: demand and capacity of use cases on brokers, from experiments.

Each (use case, broker) pair is searched for its demand at every load (the strategy and the
lower-bound restriction of `edalab.scalability.search`) and its capacity at every instance
count; an experiment is run once and reused by both searches. With several repetitions an
(load, instances) pair meets the SLO when the median slope of its runs is below the
threshold, as Theodolite aggregates repetitions.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edalab.scalability.experiment import ScalabilityRun, run_experiment
from edalab.scalability.search import capacity, demand
from edalab.scalability.slo import LagTrendSLO

__all__ = ["Study", "run_study"]


@dataclass
class Study:
    """What to measure, and how long each experiment runs."""

    ucs: Sequence[str] = ("uc1", "uc2")
    brokers: Sequence[str] = ("memory", "nats")
    loads: Sequence[int] = (1000, 4000, 16000)
    instances: Sequence[int] = (1, 2)
    duration: float = 30.0
    warmup: float | None = None
    threshold: float | None = None
    repetitions: int = 1
    strategy: str = "linear"
    lower_bound: bool = True
    partitions: int = 8
    params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def slo(self, load: int) -> LagTrendSLO:
        """The SLO of a run at `load`: the given threshold and warm-up, or the scaled ones."""
        scaled = LagTrendSLO.scaled(load, self.duration)
        return LagTrendSLO(self.threshold if self.threshold is not None else scaled.threshold,
                           self.warmup if self.warmup is not None else scaled.warmup)


def run_study(study: Study, *,
              on_run: Callable[[ScalabilityRun], None] | None = None) -> dict[str, Any]:
    """Run `study`: ``{"runs": [ScalabilityRun...], "capacity": [...], "demand": [...]}``,
    the report's rows; `on_run` is called with each run as it ends (progress, charts)."""
    runs: list[ScalabilityRun] = []
    out_capacity: list[dict[str, Any]] = []
    out_demand: list[dict[str, Any]] = []
    for uc in study.ucs:
        for broker in study.brokers:
            cache: dict[tuple[float, int], bool] = {}

            def meets(load: float, n: int, uc: str = uc, broker: str = broker,
                      cache: dict = cache) -> bool:
                if (load, n) not in cache:
                    reps = []
                    for rep in range(study.repetitions):
                        run = run_experiment(
                            uc, broker, n, int(load), duration=study.duration,
                            slo=study.slo(int(load)), partitions=study.partitions, seed=rep,
                            params=study.params.get(uc))
                        run.repetition = rep
                        runs.append(run)
                        reps.append(run)
                        if on_run is not None:
                            on_run(run)
                    slope = statistics.median(r.slope for r in reps)
                    cache[(load, n)] = slope < reps[0].slo.threshold
                return cache[(load, n)]

            found = demand(study.loads, study.instances, meets, strategy=study.strategy,
                           lower_bound=study.lower_bound)
            out_demand += [{"uc": uc, "broker": broker, "load": load, "instances": n}
                           for load, n in found.items()]
            caps = capacity(study.instances, study.loads, meets, strategy=study.strategy)
            out_capacity += [{"uc": uc, "broker": broker, "instances": n, "capacity": c}
                             for n, c in caps.items()]
    return {"runs": runs, "capacity": out_capacity, "demand": out_demand}
