"""The scalability method: the open-workload generator, the lag-trend SLO on recorded lag
series, and the demand and capacity searches."""

from __future__ import annotations

import numpy as np
import pytest

from edalab import MemoryBroker
from edalab.scalability.experiment import run_experiment
from edalab.scalability.load import LoadGenerator
from edalab.scalability.search import capacity, demand
from edalab.scalability.slo import LagTrendSLO


def _polyfit_slope(run) -> float:
    t, y = np.asarray(run.seconds), np.asarray(run.lag)
    keep = t >= run.slo.warmup
    return float(np.polyfit(t[keep], y[keep], 1)[0])


@pytest.fixture(scope="module")
def overloaded():
    """UC3 (30 hopping windows per reading) on one in-process instance at 8000 records/s,
    well above what it handles on any machine this runs on."""
    return run_experiment("uc3", "memory", 1, 8000, duration=4.0)


@pytest.fixture(scope="module")
def under_capacity():
    return run_experiment("uc3", "memory", 1, 200, duration=4.0)


def test_overloaded_run_fails_the_slo(overloaded):
    assert not overloaded.slo_met
    assert overloaded.slope > overloaded.slo.threshold
    assert overloaded.lag[-1] > 1000


def test_run_under_capacity_meets_the_slo(under_capacity):
    assert under_capacity.slo_met
    assert under_capacity.sent > 0.9 * 200 * 4.0


def test_slo_slope_equals_numpy_polyfit_on_recorded_lag(overloaded, under_capacity):
    for run in (overloaded, under_capacity):
        assert run.slope == pytest.approx(_polyfit_slope(run), rel=1e-9, abs=1e-9)


def test_nats_workers_under_capacity_meet_and_overloaded_fail_the_slo():
    ok = run_experiment("uc1", "nats", 2, 200, duration=4.0, partitions=4)
    bad = run_experiment("uc3", "nats", 1, 6000, duration=4.0, partitions=4)
    assert ok.slo_met and not bad.slo_met
    assert bad.slope == pytest.approx(_polyfit_slope(bad), rel=1e-9)


def test_slope_needs_two_samples_after_warmup():
    with pytest.raises(ValueError, match="1 lag sample.s. after the 5 s warm-up"):
        LagTrendSLO(warmup=5).slope([0, 2, 5], [0, 1, 2])


def test_slo_threshold_must_be_positive():
    with pytest.raises(ValueError, match="threshold must be > 0 records/s, got 0"):
        LagTrendSLO(threshold=0)


def test_generator_sends_at_the_rate_when_no_one_consumes():
    broker = MemoryBroker()
    broker.create_topic("input", 4)
    broker.subscribe("input", "idle").close()  # a group that never reads: its lag grows
    gen = LoadGenerator(broker, load=400, duration=2.0)
    gen.prepare()
    gen.start()
    gen.join()
    assert gen.sent == 800
    assert sum(broker.lag("input", "idle").values()) == 800


def test_generator_rejects_a_load_that_is_not_a_count():
    with pytest.raises(ValueError, match="load must be a positive number of records per second"):
        LoadGenerator(MemoryBroker(), load=0.5, duration=1)


class Experiments:
    """A `meets` with a known answer (each instance handles 100 records/s), counting calls."""

    def __init__(self):
        self.calls: list[tuple[float, int]] = []

    def __call__(self, load: float, instances: int) -> bool:
        self.calls.append((load, instances))
        return load <= 100 * instances


LOADS = [50, 150, 250, 350, 450]
INSTANCES = [1, 2, 3, 4, 5, 6]


def test_demand_strategies_agree_and_lower_bound_saves_experiments():
    runs = {}
    for name, kw in {"linear": {"lower_bound": False}, "lower-bound": {},
                     "binary": {"strategy": "binary", "lower_bound": False}}.items():
        meets = Experiments()
        assert demand(LOADS, INSTANCES, meets, **kw) == {50: 1, 150: 2, 250: 3, 350: 4,
                                                          450: 5}
        runs[name] = len(meets.calls)
    assert runs["lower-bound"] < runs["linear"]
    assert runs == {"linear": 15, "lower-bound": 9, "binary": 15}


def test_demand_is_none_where_no_instance_count_meets():
    assert demand([50, 700, 800], [1, 2], Experiments()) == {50: 1, 700: None, 800: None}


def test_capacity_is_the_highest_load_met():
    for strategy in ("linear", "binary"):
        assert capacity([1, 2, 4], LOADS, Experiments(), strategy=strategy) == {
            1: 50, 2: 150, 4: 350}
    assert capacity([1], [150, 250], Experiments()) == {1: None}


def test_search_rejects_unknown_strategy():
    with pytest.raises(ValueError, match="unknown strategy 'random'; choose from linear, binary"):
        demand([1], [1], Experiments(), strategy="random")
