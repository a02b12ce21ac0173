"""`edalab bench resilience`: the Report format of issue 15 at a tiny size, numbers that add
up, and the effects each strategy is there for (computed from real runs on both brokers)."""

from __future__ import annotations

import json

import pytest

from edalab.bench import resilience as bench
from edalab.bench._resilience_nats import run_crash
from edalab.bench.resilience import FAULTS, STRATEGIES, Setup, run_scenario

KEYS = {"fault", "strategy", "broker", "events", "lost", "dead_lettered", "duplicates_applied",
        "dependency_calls", "p50_ms", "p99_ms", "throughput_per_s", "recovery_s"}
TINY = Setup(events=300)


def _consistent(run) -> None:
    row = run.row()
    applied = set(run.first_applied)
    assert not applied & run.dead  # an event is applied or dead-lettered, not both
    assert row["events"] == len(applied) + row["dead_lettered"] + row["lost"]
    assert row["duplicates_applied"] == sum(run.applied.values()) - len(applied)
    assert row["dependency_calls"] == sum(len(t) for t in run.calls.values())
    assert 0 <= row["p50_ms"] <= row["p99_ms"]
    assert row["throughput_per_s"] > 0


def test_json_report_has_every_fault_and_strategy_with_numbers_that_add_up(capsys):
    code = bench.main(["--events", "300", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code in (0, 1)  # 1: a target missed, a measurement rather than a bug
    rows = report["scenarios"]
    assert all(set(r) == KEYS for r in rows)
    assert [(r["fault"], r["strategy"], r["broker"]) for r in rows] == \
        [(f, s, "memory") for f in FAULTS for s in STRATEGIES]
    for r in rows:
        assert r["events"] == 300 and r["lost"] >= 0
        assert r["events"] >= r["dead_lettered"] + r["lost"]
    assert {t["target"].split(":")[0] for t in report["targets"]} >= {
        "transient (memory)", "poison", "crash (memory)"}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_scenario_accounts_for_every_event(fault, strategy):
    _consistent(run_scenario(fault, strategy, TINY))


def test_one_attempt_dead_letters_each_transient_failure_and_retries_dead_letter_none():
    once = run_scenario("transient", "dlq-only", TINY)
    failed = once.dependency_calls - len(once.first_applied)
    assert failed > 0 and len(once.dead) == failed
    for strategy in STRATEGIES[1:]:
        row = run_scenario("transient", strategy, TINY).row()
        assert (row["lost"], row["dead_lettered"]) == (0, 0), strategy


def test_crash_applies_the_unacked_batch_twice_unless_the_sink_is_idempotent():
    plain = run_scenario("crash", "retry-topics", TINY).row()
    idem = run_scenario("crash", "retry-topics+breaker+idempotent", TINY).row()
    assert plain["lost"] == 0 and 0 < plain["duplicates_applied"] <= TINY.batch
    assert idem["lost"] == 0 and idem["duplicates_applied"] == 0


def test_breaker_cuts_outage_calls_and_dead_letters_nothing():
    setup = Setup(events=1800)  # 90 s of payments: the 60 s outage inside it
    plain = run_scenario("outage", "retry-topics", setup)
    guarded = run_scenario("outage", "retry-topics+breaker", setup)
    assert plain.outage_calls > 0 and plain.dead
    assert guarded.outage_calls <= 0.1 * plain.outage_calls
    assert not guarded.dead and guarded.recovery() is not None
    assert any(state == "open" for _, state in guarded.breaker)


def test_poison_stalls_blocking_retries_but_not_retry_topics():
    baseline = run_scenario("none", "retry-topics", TINY)
    topics = run_scenario("poison", "retry-topics", TINY)
    blocking = run_scenario("poison", "retry-blocking", TINY)
    assert len(topics.dead) == len(blocking.dead) == TINY.poison
    assert bench.poison_flow(topics, baseline) >= 0.8
    assert bench.poison_flow(blocking, baseline) < 0.8


def test_timeline_adds_up_to_the_row():
    run = run_scenario("outage", "retry-topics", Setup(events=1800))
    frame = bench.timeline(run, bucket=5.0)
    row = run.row()
    assert round(frame["applied_per_s"].sum() * 5) == len(run.first_applied)
    assert round(frame["dependency_calls_per_s"].sum() * 5) == row["dependency_calls"]
    assert frame["dlq_size"].iloc[-1] == row["dead_lettered"]
    assert frame["dlq_size"].is_monotonic_increasing


def test_bad_size_is_a_one_line_error(capsys):
    assert bench.main(["--events", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "edalab bench resilience: events must be an int >= 10, got 3"


@pytest.fixture(scope="module")
def nats():
    with bench._nats() as server:
        yield server


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_transient_on_nats_loses_nothing_and_retries_dead_letter_nothing(nats, strategy):
    broker, _ = nats
    run = run_scenario("transient", strategy, Setup(events=150), broker=broker,
                       topic=f"transient{STRATEGIES.index(strategy)}")
    _consistent(run)
    row = run.row()
    assert row["broker"] == "nats" and row["lost"] == 0
    assert (row["dead_lettered"] > 0) == (strategy == "dlq-only")


def test_nats_worker_sigkilled_mid_batch_duplicates_unless_the_sink_is_idempotent():
    setup = Setup(events=1000)
    with bench._nats() as (broker, url):
        plain = run_crash("retry-topics", setup, broker, url, "crash")
    with bench._nats() as (broker, url):
        idem = run_crash("retry-topics+breaker+idempotent", setup, broker, url, "crash")
    for run in (plain, idem):
        _consistent(run)
        assert run.row()["lost"] == 0 and not run.dead
        assert 0 < run.fault_end < run.wall_s  # the kill happened mid-stream
    assert plain.row()["duplicates_applied"] > 0  # the killed worker's un-acked batch
    assert idem.row()["duplicates_applied"] == 0
    assert [t["ok"] for t in bench.targets([idem], idem)
            if t["target"].startswith("crash (nats)")] == [True]
