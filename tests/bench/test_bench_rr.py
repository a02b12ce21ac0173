"""`edalab bench rr`: every style answers the same transactions, the report's format, and
the Mann-Whitney claim only where the latencies differ."""

from __future__ import annotations

import json

import numpy as np

from edalab.bench import rr
from edalab.bench._rr_work import Scorer, scoring_events

KEYS = {"style", "load", "fault", "throughput_per_s", "p50_ms", "p99_ms", "cpu_s",
        "peak_rss_mib", "errors", "max_lag"}


def test_json_report_has_a_row_per_style_load_and_fault(capsys):
    code = rr.main(["--style", "eda-memory", "--loads", "100", "--duration", "2", "--json"])
    assert code == 0
    rep = json.loads(capsys.readouterr().out)
    assert [(r["style"], r["fault"]) for r in rep["runs"]] == [
        ("eda-memory", f) for f in ("none", "burst", "slow")]
    for r in rep["runs"]:
        assert set(r) >= KEYS
        assert r["answered"] == r["sent"] and r["errors"] == 0
        assert r["cpu_s"] > 0 and r["peak_rss_mib"] > 50  # a Python process with pandas
    burst = next(r for r in rep["runs"] if r["fault"] == "burst")
    assert burst["sent"] == round(100 * 2 * (2 + 5) / 3)  # 5x the load for a third of the run


def test_plan_runs_every_load_then_both_faults_at_the_middle_load():
    assert rr._plan([100, 300, 200], quick=True) == [
        (100, "none"), (300, "none"), (200, "none"), (200, "burst"), (200, "slow")]


def test_http_service_answers_every_transaction_it_is_sent():
    row = rr.measure_style("http", 100, 2, "none")
    assert row["answered"] + row["errors"] == row["sent"] > 150
    # The service's process is sampled every 0.1 s: a starved sampler (a loaded machine)
    # can miss it in a 2 s window, so only the driver is certain.
    assert "driver" in row["processes"] and set(row["processes"]) <= {"driver", "http-service"}


def test_slow_fault_makes_each_scoring_call_at_least_ten_times_longer():
    import statistics
    import time

    plain, slowed = Scorer(0), Scorer(0)  # the same state on both sides, event by event

    def cost(scorer: Scorer, data: dict) -> float:
        t = time.perf_counter()
        scorer.score(data)
        return time.perf_counter() - t
    # Paired call by call, the order alternating, so a busy machine slows both sides of a
    # ratio alike; the median ignores a call the scheduler cut short.
    ratios = []
    for i, e in enumerate(scoring_events(0, 300)):
        if i % 2:
            fast = cost(plain, e.data)
            slow = cost(slowed, {**e.data, "slowed": True})
        else:
            slow = cost(slowed, {**e.data, "slowed": True})
            fast = cost(plain, e.data)
        ratios.append(slow / fast)
    assert statistics.median(ratios) > 9.5


def test_monolith_faster_claimed_only_where_latencies_differ():
    rng = np.random.default_rng(0)
    fast = rng.exponential(1.0, 500).tolist()
    runs = [{"style": "monolith", "load": 1, "fault": "none", "latency_ms": fast},
            {"style": "http", "load": 1, "fault": "none",
             "latency_ms": (rng.exponential(1.0, 500) + 2).tolist()},
            {"style": "eda-memory", "load": 1, "fault": "none",
             "latency_ms": rng.exponential(1.0, 500).tolist()}]
    claims = {c["versus"]: c["monolith_faster"] for c in rr.compare_latencies(runs)}
    assert claims == {"http": True, "eda-memory": False}
