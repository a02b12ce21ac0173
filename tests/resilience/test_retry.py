"""`Retry`: which failures are retried, how long apart, and the retry topics' names."""

from __future__ import annotations

import pytest

import edalab.resilience.retry
from edalab.resilience import Backoff, BreakerOpen, PermanentError, Retry, TransientError


def test_retryable_errors_get_the_backoff_delay_until_attempts_run_out():
    retry = Retry(max_attempts=3, backoff=Backoff.exponential(initial=1.0, jitter="none"))
    assert [retry.decide(TimeoutError(), n) for n in (1, 2, 3, 4)] == [1.0, 2.0, None, None]


def test_permanent_error_dead_letters_at_once():
    assert Retry().decide(PermanentError("poison"), 1) is None


def test_give_up_on_wins_over_retry_on():
    retry = Retry(retry_on=(LookupError,), give_up_on=KeyError)
    assert retry.decide(KeyError("x"), 1) is None
    assert retry.decide(IndexError("x"), 1) is not None


def test_errors_outside_retry_on_are_not_retried_but_transient_ones_are():
    retry = Retry(retry_on=ConnectionError, backoff=Backoff.fixed(0.5))
    assert retry.decide(ValueError("bad"), 1) is None
    assert retry.decide(ConnectionResetError(), 1) == 0.5
    assert retry.decide(TransientError("busy"), 1) == 0.5
    assert retry.decide(BreakerOpen("model", 3.0), 1) == 0.5


def test_one_attempt_means_no_retry():
    assert Retry(max_attempts=1).decide(TransientError(), 1) is None


def test_retry_topics_are_numbered_tiers_of_the_topic():
    retry = Retry(max_attempts=4, mode="topics")
    assert retry.retry_topics("payments") == [
        "payments.retry.1", "payments.retry.2", "payments.retry.3"]
    with pytest.raises(ValueError, match=r"retry tier must be an int in 1 to 3, got 4"):
        retry.retry_topic("payments", 4)
    with pytest.raises(ValueError, match="already a retry topic"):
        retry.retry_topic("payments.retry.1", 1)
    with pytest.raises(ValueError, match="none: max_attempts is 1"):
        Retry(max_attempts=1).retry_topic("payments", 1)


def test_the_ordering_trade_off_is_stated_where_users_read():
    text = edalab.resilience.retry.__doc__ + Retry.__doc__
    assert "Order per key is not\n  kept for retried events" in text
    assert "key order holds" in Retry.__doc__


@pytest.mark.parametrize("kwargs, error, message", [
    ({"max_attempts": 0}, ValueError, "max_attempts must be an int >= 1, got 0"),
    ({"max_attempts": 2.5}, ValueError, "max_attempts must be an int >= 1"),
    ({"backoff": 1.0}, TypeError, "backoff must be a Backoff"),
    ({"mode": "async"}, ValueError, "mode must be 'blocking' or 'topics', got 'async'"),
    ({"retry_on": "ValueError"}, TypeError, "retry_on must be an exception class"),
    ({"give_up_on": (KeyError, 3)}, TypeError, "give_up_on must be an exception class"),
    ({"timeout": 0}, ValueError, "timeout must be a number of seconds > 0 or None, got 0"),
    ({"timeout": float("nan")}, ValueError, "timeout must be"),
])
def test_bad_arguments_name_the_problem(kwargs, error, message):
    with pytest.raises(error) as info:
        Retry(**kwargs)
    assert message in str(info.value)


def test_decide_refuses_an_attempt_below_one():
    with pytest.raises(ValueError, match="attempt must be an int >= 1, got 0"):
        Retry().decide(TransientError(), 0)


def test_repr_shows_the_policy():
    text = repr(Retry(max_attempts=2, backoff=Backoff.fixed(1.0), give_up_on=KeyError,
                      timeout=5))
    assert text == ("Retry(max_attempts=2, backoff=Backoff.fixed(1.0), mode='blocking', "
                    "retry_on=(Exception), give_up_on=(KeyError), timeout=5.0)")
