"""`azure_workload`: the published Azure Functions statistics it follows."""

from __future__ import annotations

import numpy as np
import pytest

from edalab.serverless.workload import azure_workload, trace_workload


@pytest.fixture(scope="module")
def big():
    return azure_workload(2000, hours=24, seed=4)


def test_invocation_rates_follow_the_published_shares(big):
    daily = big.frame().rate * 86400
    assert (daily <= 24).mean() == pytest.approx(0.45, abs=0.04)
    assert (daily <= 1440).mean() == pytest.approx(0.81, abs=0.04)
    assert daily.max() / daily.min() > 1e6  # many orders of magnitude


def test_execution_times_and_memory_follow_the_published_fits(big):
    logs = np.log(big.frame().exec_mean_s)
    assert logs.median() == pytest.approx(-0.38, abs=0.15)
    assert np.percentile(logs, 84) - logs.median() == pytest.approx(2.36, abs=0.2)
    # Burr XII (c 11.652, k 0.221, scale 107.083): median 107.083 * (2**(1/k) - 1)**(1/c)
    median = 107.083 * (2 ** (1 / 0.221) - 1) ** (1 / 11.652)
    assert big.frame().memory_mb.median() == pytest.approx(median, rel=0.05)


def test_about_forty_percent_of_functions_are_bursty(big):
    cvs = []
    for i in range(0, 2000, 4):
        gaps = np.diff(big.arrivals(i, big.rng(i)))
        if len(gaps) >= 10:
            cvs.append(gaps.std() / gaps.mean())
    assert np.mean(np.array(cvs) > 1) == pytest.approx(0.40, abs=0.07)


def test_timers_fire_on_their_period_and_the_day_has_a_peak():
    w = azure_workload(300, hours=24, seed=2)
    f = w.frame().reset_index()
    timer = int(f.index[(f.trigger == "timer") & (f.period == 60)][0])
    assert np.allclose(np.diff(w.arrivals(timer, w.rng(timer))), 60.0)
    busy = int(f.rate.where(f.trigger != "timer").idxmax())
    hours = np.bincount((w.arrivals(busy, w.rng(busy)) // 3600).astype(int), minlength=24)
    assert hours[12:18].mean() > 1.5 * hours[0:6].mean()  # the afternoon against the night


def test_the_same_seed_gives_the_same_events():
    a, b = azure_workload(5, seed=9), azure_workload(5, seed=9)
    assert all(np.array_equal(a.arrivals(i, a.rng(i)), b.arrivals(i, b.rng(i)))
               for i in range(5))


def test_a_bad_workload_size_is_refused():
    with pytest.raises(ValueError, match="functions >= 1"):
        azure_workload(0)
    assert trace_workload({"f": []}, hours=1, exec_mean_s=1).functions[0].rate == 0


def test_triggers_follow_the_published_shares_of_functions(big):
    # Shahrad et al., figure 2: event triggers are 2 % of functions (a quarter of the
    # invocations), orchestration 7 %, the others 5 %.
    shares = big.frame().trigger.value_counts(normalize=True)
    published = {"http": 0.55, "timer": 0.16, "queue": 0.15, "event": 0.02,
                 "orchestration": 0.07, "other": 0.05}
    assert set(shares.index) == set(published)
    for trigger, share in published.items():
        assert shares[trigger] == pytest.approx(share, abs=0.025), trigger


def test_event_and_queue_functions_are_busier_than_http_ones_and_timers_the_least(big):
    # Figure 2: event functions are 2 % of the functions and 25 % of the invocations, queue
    # 15 % and 34 %, HTTP 55 % and 36 %, timers 16 % and 2 %.
    daily = (big.frame().rate * 86400).groupby(big.frame().trigger).median()
    assert daily["event"] > 4 * daily["http"]
    assert daily["queue"] > 1.5 * daily["http"]
    assert daily["http"] > 2 * daily["timer"]
