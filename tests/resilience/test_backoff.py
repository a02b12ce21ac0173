"""`Backoff`: fixed and exponential delays, capped, jittered from a seed."""

from __future__ import annotations

import pytest

from edalab.resilience import Backoff


def test_fixed_gives_the_same_delay_every_attempt():
    backoff = Backoff.fixed(0.25)
    assert [backoff.delay(n) for n in (1, 2, 10)] == [0.25, 0.25, 0.25]


def test_exponential_grows_by_factor_up_to_max():
    backoff = Backoff.exponential(initial=0.5, factor=3.0, max=10.0, jitter="none")
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.5, 4.5, 10.0, 10.0]


def test_exponential_far_past_the_cap_gives_max_not_overflow():
    assert Backoff.exponential(max=30.0, jitter="none").delay(5000) == 30.0


def test_full_jitter_draws_below_the_delay_and_repeats_with_the_seed():
    draws = [Backoff.exponential(initial=1.0, max=8.0, seed=3) for _ in range(2)]
    first, second = ([b.delay(4) for _ in range(200)] for b in draws)
    assert first == second
    assert all(0.0 <= d < 8.0 for d in first) and max(first) > 6.0 and min(first) < 2.0
    other = Backoff.exponential(initial=1.0, max=8.0, seed=4)
    assert [other.delay(4) for _ in range(200)] != first


def test_equal_jitter_stays_in_the_upper_half():
    backoff = Backoff.exponential(initial=2.0, max=2.0, jitter="equal", seed=1)
    delays = [backoff.delay(1) for _ in range(200)]
    assert all(1.0 <= d < 2.0 for d in delays) and len(set(delays)) == 200


@pytest.mark.parametrize("make, error, message", [
    (lambda: Backoff.fixed(-1), ValueError, "delay must be a finite number of seconds >= 0"),
    (lambda: Backoff.fixed("1s"), TypeError, "delay must be a number of seconds, got str"),
    (lambda: Backoff.exponential(initial=0), ValueError, "initial must be"),
    (lambda: Backoff.exponential(factor=0.5), ValueError, "factor must be a finite number >= 1"),
    (lambda: Backoff.exponential(factor=True), ValueError, "factor must be"),
    (lambda: Backoff.exponential(initial=5, max=1), ValueError, "max (1) must be at least"),
    (lambda: Backoff.exponential(max=float("inf")), ValueError, "max must be a finite"),
    (lambda: Backoff.exponential(jitter="half"), ValueError, "jitter must be one of"),
    (lambda: Backoff.exponential(seed=1.5), TypeError, "seed must be an int or None"),
    (lambda: Backoff.fixed(1).delay(0), ValueError, "attempt must be an int >= 1, got 0"),
])
def test_bad_arguments_name_the_problem(make, error, message):
    with pytest.raises(error) as info:
        make()
    assert message in str(info.value)
