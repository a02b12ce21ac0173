"""`simulate`: the single-function model against the SimFaaS published example, and its
semantics on cases small enough to work out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from edalab.serverless import simulate
from edalab.serverless.engine import run_function
from edalab.serverless.policies import Fixed


def test_simulate_matches_the_simfaas_published_example():
    # SimFaaS's example: 0.9 events/s, warm 1.991 s, cold 2.244 s, 600 s expiry ->
    # p_cold 0.0014, 7.66 instances on average (1.79 running, 5.87 idle).
    r = simulate(0.9, 1.991, 2.244, 600, max_time=1e6, seed=0)
    assert r.cold_start_prob == pytest.approx(0.0014, rel=0.15)
    assert r.avg_instances == pytest.approx(7.66, rel=0.05)
    assert r.avg_running == pytest.approx(1.79, rel=0.05)
    assert r.avg_idle == pytest.approx(5.87, rel=0.05)
    assert r.avg_instances == pytest.approx(r.avg_running + r.avg_idle)


def test_simulate_takes_other_distributions():
    # One event every 10 s, 1 s of work: idle 9 s between events.
    short = simulate(0.1, 1.0, 1.0, keep_alive=5, max_time=1000, arrival=10.0,
                     warm_service=1.0, cold_service=1.0)
    long = simulate(0.1, 1.0, 1.0, keep_alive=20, max_time=1000, arrival=10.0,
                    warm_service=1.0, cold_service=1.0)
    assert (short.cold_start_prob, long.cold_starts) == (1.0, 1)
    assert long.avg_instances == pytest.approx(1.0, abs=0.02)
    assert short.avg_idle == pytest.approx(0.5, abs=0.01)


def test_an_event_goes_to_the_most_recently_used_idle_instance():
    # Two instances fall idle at 2 s and 3 s; the event at 4 s takes the one idle since 3 s,
    # so the other one's idle span ends at its expiry (12 s), not at 4 s.
    run = run_function(np.array([0.0, 1.0, 4.0]), np.ones(3), np.full(3, 2.0), Fixed(10))
    assert run.cold.tolist() == [True, True, False]
    assert sorted(zip(run.idle_from.tolist(), run.idle_to.tolist(), strict=True)) == [
        (2.0, 12.0), (3.0, 4.0), (5.0, 15.0)]


@pytest.mark.parametrize("kwargs, message", [
    ({"arrival_rate": 0}, "arrival_rate must be a positive number"),
    ({"max_time": -1}, "max_time must be a positive number"),
    ({"cold_service_time": float("nan")}, "cold_service_time must be a positive number"),
    ({"skip_time": 100}, r"skip_time must be in \[0, max_time\)"),
])
def test_simulate_rejects_bad_parameters(kwargs, message):
    args = dict(arrival_rate=1.0, warm_service_time=1.0, cold_service_time=2.0,
                keep_alive=10.0, max_time=100.0) | kwargs
    with pytest.raises(ValueError, match=message):
        simulate(**args)
