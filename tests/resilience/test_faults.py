"""`Faults`: seeded transient errors, outage windows on the given clock, poison inputs,
latency, and the counts an experiment reports."""

from __future__ import annotations

import pytest

from edalab.resilience import Faults, PermanentError, TransientError


def outcomes(fn, args):
    out = []
    for arg in args:
        try:
            out.append(fn(arg))
        except Exception as exc:
            out.append(type(exc).__name__)
    return out


def test_error_rate_is_seeded_and_close_to_the_rate():
    runs = [outcomes(Faults(error_rate=0.1, seed=5).wrap(abs), range(2000)) for _ in range(2)]
    assert runs[0] == runs[1]
    failed = runs[0].count("TransientError")
    assert 150 < failed < 250
    other = outcomes(Faults(error_rate=0.1, seed=6).wrap(abs), range(2000))
    assert other != runs[0]


def test_outage_windows_follow_the_clock():
    now = [0.0]
    faults = Faults(outage=[(60, 120), (300, 310)], clock=lambda: now[0])
    call = faults.wrap(lambda x: x)
    seen = []
    for t in [0, 59.9, 60, 119.9, 120, 305, 310]:
        now[0] = t
        seen.append(outcomes(call, [t])[0])
    assert seen == [0, 59.9, "TransientError", "TransientError", 120, "TransientError", 310]
    assert faults.by_kind == {"transient": 0, "outage": 3, "poison": 0}


def test_poison_inputs_raise_the_chosen_error_every_time():
    faults = Faults(poison=lambda e: e["amount"] is None)
    score = faults.wrap(lambda e: e["amount"] * 2)
    events = [{"amount": 1}, {"amount": None}, {"amount": None}]
    assert outcomes(score, events) == [2, "PermanentError", "PermanentError"]
    plain = Faults(poison=lambda e: e is None, poison_error=ValueError).wrap(str)
    with pytest.raises(ValueError) as info:
        plain(None)
    assert type(info.value) is ValueError and "poison input: None" in str(info.value)


def test_latency_sleeps_or_is_only_added_up_under_a_virtual_clock():
    slept = []
    faults = Faults(latency=0.25, sleep=slept.append)
    faults.wrap(abs)(-1)
    assert slept == [0.25]
    virtual = Faults(latency=0.25, sleep=None)
    for x in range(4):
        virtual.wrap(abs)(x)
    assert virtual.latency_total == 1.0


def test_counts_calls_failures_and_passed_calls():
    now = [0.0]
    faults = Faults(error_rate=0.2, outage=[(5, 10)], poison=lambda x: x == 3, seed=2,
                    clock=lambda: now[0])
    calls = []

    @faults
    def handler(x):
        calls.append(x)
        return x
    for x in range(20):
        now[0] = float(x)
        outcomes(handler, [x])
    assert faults.calls == 20 and faults.passed == len(calls)
    assert faults.failures == 20 - len(calls) == sum(faults.by_kind.values())
    assert faults.by_kind["outage"] == 5 and faults.by_kind["poison"] == 1
    assert handler.__name__ == "handler"


def test_transient_errors_are_transient():
    with pytest.raises(TransientError):
        Faults(error_rate=1.0).wrap(abs)(1)
    assert not issubclass(TransientError, PermanentError)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"error_rate": 1.5}, ValueError, "error_rate must be a number in [0, 1], got 1.5"),
    ({"error_rate": "10%"}, ValueError, "error_rate must be a number in [0, 1], got '10%'"),
    ({"latency": -0.1}, ValueError, "latency must be a number of seconds >= 0, got -0.1"),
    ({"outage": [(10, 5)]}, ValueError, "outage must be (start, end) pairs of seconds with "
                                        "start < end, got (10, 5)"),
    ({"outage": [10, 20]}, ValueError, "outage must be (start, end) pairs"),
    ({"poison": True}, TypeError, "poison must be a predicate"),
    ({"clock": 0.0}, TypeError, "clock must be a callable giving seconds, got 0.0"),
    ({"sleep": 1}, TypeError, "sleep must be a callable taking seconds, or None, got 1"),
    ({"poison_error": "ValueError"}, TypeError, "poison_error must be an exception class"),
])
def test_bad_arguments_name_the_problem(kwargs, error, message):
    with pytest.raises(error) as info:
        Faults(**kwargs)
    assert message in str(info.value)
