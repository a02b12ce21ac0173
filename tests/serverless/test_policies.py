"""`Hybrid`'s handling of functions idle beyond its histogram's range (out of bounds)."""

from __future__ import annotations

import numpy as np
import pytest

from edalab.serverless import Hybrid
from edalab.serverless.platform import simulate_platform
from edalab.serverless.workload import trace_workload


def _six_hourly(policy):
    w = trace_workload({"report": np.arange(0, 72 * 3600, 6 * 3600.0)}, hours=72,
                       exec_mean_s=1.0, memory_mb=1024)
    return simulate_platform(w, policy, cold_start=1.0).functions.loc["report"]


def test_hybrid_policy_forecasts_and_prewarms_a_function_idle_beyond_its_range():
    # Every 6 hours, beyond the 4-hour histogram: a 4-hour keep-alive holds the instance 4
    # idle hours and still lets it go before every event; the forecast unloads it, pre-warms
    # it at 85 % of the 6 hours learnt and keeps it to 115 %, so after its first gap no event
    # starts cold, for under a third of the idle memory (its first gap still idles 4 hours).
    keep = _six_hourly(Hybrid(oob="keep"))
    forecast = _six_hourly(Hybrid())
    assert keep.cold_starts == keep.events == 12
    assert forecast.cold_starts <= 2
    assert forecast.wasted_gb_s < keep.wasted_gb_s / 3


def test_hybrid_forecast_is_the_median_of_the_recent_idle_times():
    h = Hybrid(history=3)
    state = h.start()
    for idle in (5 * 3600.0, 9 * 3600.0, 6 * 3600.0, 7 * 3600.0):  # the first falls out
        state.observe(idle)
    assert state.window(0.0) == pytest.approx((7 * 3600 * 0.85, 7 * 3600 * 1.15))


def test_hybrid_policy_uses_its_histogram_for_a_function_mostly_within_range():
    # A function mostly within range keeps its histogram windows whatever `oob` says.
    counts = np.zeros(240, dtype=int)
    counts[30] = 20
    assert Hybrid().windows(counts, 1, [1800.0]) == Hybrid(oob="keep").windows(counts, 1)


@pytest.mark.parametrize("kwargs, field", [({"oob": "arima"}, "oob"),
                                           ({"history": 0}, "history"),
                                           ({"forecast_margin": 1.0}, "forecast_margin")])
def test_hybrid_policy_rejects_bad_out_of_bounds_options(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field} must be"):
        Hybrid(**kwargs)



def test_hybrid_policy_rejects_a_negative_extra_keep_alive():
    with pytest.raises(ValueError, match="^extra_keep_alive must be >= 0 seconds"):
        Hybrid(extra_keep_alive=-1.0)
