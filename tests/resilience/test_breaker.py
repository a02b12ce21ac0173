"""`CircuitBreaker`: closed -> open -> half-open -> closed on its own clock."""

from __future__ import annotations

import random

import pytest

from edalab.resilience import BreakerOpen, CircuitBreaker, PermanentError, TransientError


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fail():
    raise TransientError("model server down")


def breaker(clock, **kwargs) -> CircuitBreaker:
    options = {"failure_rate": 0.5, "window": 4, "open_for": 30.0, "half_open_calls": 2}
    return CircuitBreaker(**(options | kwargs), name="model", clock=clock)


def test_opens_when_the_full_window_reaches_the_failure_rate():
    b = breaker(Clock())
    for ok in (False, False, False):
        b.record(ok)
    assert b.state == "closed"  # three failures, but the window of four is not full
    b.record(True)
    assert b.state == "open"


def test_stays_closed_below_the_failure_rate_as_the_window_slides():
    b = breaker(Clock())
    for ok in [False, True, True, True] * 5:
        b.record(ok)
    assert b.state == "closed"
    for ok in (False, True, False):  # the window is now True, False, True, False
        b.record(ok)
    assert b.state == "open"


def test_open_breaker_fails_fast_without_calling():
    clock, calls = Clock(), []
    b = breaker(clock)
    for _ in range(4):
        with pytest.raises(TransientError):
            b.call(fail)
    clock.now = 10.0
    with pytest.raises(BreakerOpen) as info:
        b.call(calls.append, 1)
    assert calls == [] and info.value.retry_after == 20.0
    assert (b.calls, b.failures, b.rejected) == (4, 4, 1)


def test_half_open_lets_a_few_probes_through_and_closes_when_they_succeed():
    clock = Clock()
    b = breaker(clock)
    for _ in range(4):
        b.record(False)
    clock.now = 30.0
    assert b.state == "half-open" and b.retry_after() == 0.0
    assert [b.allow(), b.allow(), b.allow()] == [True, True, False]  # half_open_calls=2
    b.record(True)
    assert b.state == "half-open"
    b.record(True)
    assert b.state == "closed" and b.call(lambda x: x + 1, 1) == 2


def test_a_failed_probe_opens_again_for_a_full_open_for():
    clock = Clock()
    b = breaker(clock)
    for _ in range(4):
        b.record(False)
    clock.now = 31.0
    with pytest.raises(TransientError):
        b.call(fail)
    assert b.state == "open"
    clock.now = 60.0
    assert b.state == "open" and b.retry_after() == 1.0
    clock.now = 61.0
    assert b.state == "half-open"


def test_every_state_change_is_a_breaker_state_event_drained_once():
    clock = Clock()
    b = breaker(clock, half_open_calls=1)
    for ok in (True, False, False, True):
        b.record(ok)
    clock.now = 45.0
    assert b.allow()
    b.record(True)
    events = b.events()
    assert [e.type for e in events] == ["breaker.state"] * 3
    assert [e.data for e in events] == [
        {"name": "model", "from": "closed", "to": "open", "failure_rate": 0.5, "at": 0.0},
        {"name": "model", "from": "open", "to": "half-open", "failure_rate": 0.5, "at": 45.0},
        {"name": "model", "from": "half-open", "to": "closed", "failure_rate": 0.0, "at": 45.0}]
    assert {e.key for e in events} == {"model"}
    assert events[1].time.timestamp() == 45.0
    assert b.events() == []


def test_permanent_errors_pass_through_without_opening_the_breaker():
    b = breaker(Clock())

    def poison():
        raise PermanentError("bad input")
    for _ in range(10):
        with pytest.raises(PermanentError):
            b.call(poison)
    assert b.state == "closed" and b.failures == 0


def test_outcomes_of_calls_made_before_it_opened_change_nothing():
    clock = Clock()
    b = breaker(clock)
    for _ in range(4):
        b.record(False)
    b.record(True)  # a slow call that started while closed
    clock.now = 29.0
    assert b.state == "open"


@pytest.mark.parametrize("kwargs, message", [
    ({"failure_rate": 0}, "failure_rate must be a number > 0 and <= 1, got 0"),
    ({"failure_rate": 1.5}, "failure_rate must be a number > 0 and <= 1"),
    ({"window": 0}, "window must be an int >= 1, got 0"),
    ({"open_for": -1}, "open_for must be a number >= 0, got -1"),
    ({"open_for": "30s"}, "open_for must be a number >= 0, got '30s'"),
    ({"half_open_calls": 1.0}, "half_open_calls must be an int >= 1"),
    ({"name": ""}, "name must be a non-empty str"),
])
def test_bad_arguments_name_the_problem(kwargs, message):
    with pytest.raises(ValueError) as info:
        CircuitBreaker(**kwargs)
    assert message in str(info.value)


def test_opens_exactly_when_the_last_window_calls_reach_the_rate():
    rng = random.Random(11)
    for _ in range(300):
        window, rate = rng.randint(1, 12), rng.choice([0.2, 0.5, 0.75, 1.0])
        outcomes = [rng.random() < 0.7 for _ in range(60)]
        b = breaker(Clock(), window=window, failure_rate=rate)
        opened_at = None
        for i, ok in enumerate(outcomes):
            b.record(ok)
            if b.state == "open":
                opened_at = i
                break
        expected = next((i for i in range(window - 1, len(outcomes))
                         if outcomes[i - window + 1:i + 1].count(False) / window >= rate), None)
        assert opened_at == expected, (window, rate, outcomes)
